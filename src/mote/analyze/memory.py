"""``mote analyze memory``: what experts cost, from real up-cycled models.

For each up-cycling pattern (``all`` blocks, ``every-other``, ``top-K``) and each number of tasks (1..T), the
base is up-cycled and saved, and the report gives total parameters, active parameters per input (one route),
the size of the saved weights, and peak memory while encoding a fixed batch (resident set size of a fresh
process: load + encode), each also relative to the dense base (1.0). The MoTE paper's point, measured on the
user's model: active parameters (and so speed) stay the dense model's; stored parameters grow linearly in
tasks, by (tasks - 1) x (one FFN) x (up-cycled blocks).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mote.analyze._output import pyplot, write_result

DEFAULT_PATTERNS = ("all", "every-other", "top-2")
TASK_NAMES = ("query", "document", "similarity", "classification", "clustering")
_PEAK_SCRIPT = """
import sys
from mote.model.sentence import load
m = load(sys.argv[1])
texts = ["Embedding models map sentences to vectors so that similar meanings lie close together."] * 64
kw = {"task": sys.argv[2]} if sys.argv[2] != "-" else {}
m.encode(texts, batch_size=64, **kw)
# VmHWM: this process's own peak (ru_maxrss would carry the forking parent's size across exec on Linux)
print(next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")))
"""


def _weights_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*.safetensors"))


def _peak_rss_mib(folder: Path, task: str | None) -> float:
    """Peak resident memory (MiB) of a fresh process that loads ``folder`` and encodes 64 texts."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run([sys.executable, "-c", _PEAK_SCRIPT, str(folder), task or "-"], env=env, check=True,
                         capture_output=True, text=True).stdout
    return int(out.strip().splitlines()[-1]) / 1024  # VmHWM: KiB


def memory(
    base: str,
    out: str | os.PathLike[str],
    max_tasks: int = 5,
    patterns: Sequence[str] = DEFAULT_PATTERNS,
    measure_peak: bool = True,
) -> dict[str, Any]:
    """Measure, write ``memory.json`` and ``memory.png`` into ``out``, and return the result."""
    from mote.model.resolve import resolve_model
    from mote.model.sentence import info, load

    if not 1 <= max_tasks <= len(TASK_NAMES):
        raise ValueError(f"max_tasks={max_tasks}: choose 1..{len(TASK_NAMES)} (the standard task names).")
    base_dir = resolve_model(base)
    dense = load(base_dir)
    d_info = info(dense)
    with tempfile.TemporaryDirectory(prefix="mote-memory-") as tmp:  # the up-cycled copies go with it
        return _measure(base, base_dir, dense, d_info, Path(tmp), out, max_tasks, patterns, measure_peak)


def _measure(base: str, base_dir: str, dense: Any, d_info: Any, work: Path, out: str | os.PathLike[str],
             max_tasks: int, patterns: Sequence[str], measure_peak: bool) -> dict[str, Any]:
    from mote.model.sentence import info, upcycle

    dense.save(str(work / "dense"))
    dense_row: dict[str, Any] = {"params": d_info.total_params, "active_params": d_info.active_params,
                 "weights_mib": _weights_bytes(work / "dense") / 2**20,
                 "peak_encode_mib": _peak_rss_mib(work / "dense", None) if measure_peak else None}
    rows: list[dict[str, Any]] = []
    for pattern in patterns:
        for t in range(1, max_tasks + 1):
            folder = work / f"{pattern}-{t}"
            moe = upcycle(base_dir, list(TASK_NAMES[:t]), layers=pattern, out=folder, instructions="none")
            i = info(moe)
            row: dict[str, Any] = {"pattern": pattern, "tasks": t, "upcycled_blocks": len(i.upcycled_layers or []),
                   "params": i.total_params, "active_params": i.active_params,
                   "weights_mib": _weights_bytes(folder) / 2**20,
                   "peak_encode_mib": _peak_rss_mib(folder, TASK_NAMES[0]) if measure_peak else None}
            for key in ("params", "active_params", "weights_mib", "peak_encode_mib"):
                if row[key] is not None and dense_row[key]:
                    row[f"{key}_x_dense"] = round(row[key] / dense_row[key], 4)
            rows.append(row)
    result = {"base": str(base), "dense": dense_row, "rows": rows}
    out = Path(out)
    write_result(out, "memory", result, _plot)
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()

    keys = [("params_x_dense", "stored parameters"), ("active_params_x_dense", "active parameters per input"),
            ("peak_encode_mib_x_dense", "peak encode memory (RSS)")]
    keys = [(k, label) for k, label in keys if any(k in r for r in result["rows"])]
    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.6), squeeze=False)
    for ax, (key, label) in zip(axes[0], keys, strict=True):
        for pattern in dict.fromkeys(r["pattern"] for r in result["rows"]):
            pts = [(r["tasks"], r[key]) for r in result["rows"] if r["pattern"] == pattern and key in r]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=pattern)
        ax.axhline(1.0, color="grey", linestyle=":", linewidth=1)
        ax.set_xlabel("tasks (experts per up-cycled block)")
        ax.set_ylabel("x dense model")
        ax.set_title(label)
        ax.legend(title="up-cycled blocks", fontsize=8)
    fig.suptitle(f"Memory of MoTE models of {result['base']} (dense = 1.0)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

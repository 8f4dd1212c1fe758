"""Baseline evaluation: the packaged all-MiniLM-L6-v2 on a suite (default ``extended``), fp32, no prefix.

Writes benchmarks/results/eval_minilm_{suite}/: summary.json and summary.md (scores, per-type and overall
averages, per-task seconds, wall time, machine) and MTEB's per-task result files (tasks/, kept only when
each is under 1 MB). The embedding cache (``--cache``, default .mote-cache/) makes reruns fast; pass
``--cache none`` for a cold, timed run.

    python benchmarks/eval_baseline.py [--suite extended] [--data-root ../shared/data] [--cache none]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line

from mote.evaluate import evaluate
from mote.evaluate.summary import to_markdown
from mote.model.resolve import DEFAULT_BASE

ROOT = Path(__file__).resolve().parents[1]
MAX_TASK_FILE = 1_000_000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--suite", default="extended")
    p.add_argument("--data-root", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--cache", default=str(ROOT / ".mote-cache"), help="embedding cache folder, or 'none'")
    p.add_argument("--out", default=None)
    p.add_argument("--note", default="", help="free text recorded in summary.json/md (e.g. cache state)")
    args = p.parse_args()
    out = Path(args.out or ROOT / "benchmarks" / "results" / f"eval_minilm_{args.suite}")
    cache = None if args.cache.lower() == "none" else args.cache

    machine = describe()
    print(machine_line(machine), flush=True)
    start = time.perf_counter()
    summary = evaluate(
        DEFAULT_BASE,
        args.suite,
        data_root=args.data_root,
        out=out,
        cache_dir=cache,
        progress=lambda line: print(time.strftime("%H:%M:%S"), line, flush=True),
    )
    summary["timing"]["script_seconds"] = time.perf_counter() - start
    summary["machine_detail"] = machine
    summary["model"] = DEFAULT_BASE  # not the site-packages path of this machine
    if args.note:
        summary["note"] = args.note
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    md = to_markdown(summary) + f"Machine detail: {machine_line(machine)}.\n"
    if args.note:
        md += f"\n{args.note}\n"
    (out / "summary.md").write_text(md, encoding="utf-8")
    for f in sorted((out / "tasks").glob("*.json")):
        if f.stat().st_size > MAX_TASK_FILE:
            print(f"dropping {f.name} ({f.stat().st_size / 1e6:.1f} MB > 1 MB)")
            f.unlink()
    print(
        f"mean over task types {summary['mean_over_types']:.2f}, over tasks {summary['mean_over_tasks']:.2f}; "
        f"wall {summary['timing']['total_seconds']:.0f} s -> {out}"
    )


if __name__ == "__main__":
    main()

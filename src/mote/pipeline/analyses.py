"""The analyses a pipeline report embeds (:mod:`mote.analyze`), on the pipeline's own models and probe.

Which apply follows from the finished jobs (first seed): ``memory`` when a MoTE variant ran (what experts cost
for this base, per pattern and number of tasks), ``conflict`` on the base and on the joint and MoTE
models (gradient cosines of the shared parameters), ``spaces`` on the MoTE models beside the instruction-only
dense model, ``task-vectors`` and ``landscape`` on the separate models. Each writes into
``<output_dir>/analysis/<kind>/`` and is cached: it runs again only when its inputs (models, probe, settings)
change. The report links each figure with a one-line summary.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mote.model.io import atomic_write_text

KINDS = ("memory", "conflict", "spaces", "task-vectors", "landscape")
INPUTS = "inputs.json"
CONFLICT_MODELS = ("base", "joint-noinstr", "joint-instr", "mote", "mote-noinstr")
SPACES_MODELS = ("mote", "mote-noinstr", "joint-instr")
LANDSCAPE_PAIRS = (("query", "similarity"), ("classification", "similarity"))


def _models(results: Mapping[tuple[str, int], dict[str, Any]], seed: int) -> dict[str, str]:
    """Variant -> model folder, for the jobs of ``seed`` whose model is on disk (a job restored from the archive
    has its scores but not its model)."""
    return {name: r["model_dir"] for (name, s), r in results.items()
            if s == seed and r.get("model_dir") and Path(r["model_dir"]).is_dir()}


def _cached(folder: Path, inputs: dict[str, Any], result_file: str) -> bool:
    path = folder / INPUTS
    try:
        return (folder / result_file).is_file() and json.loads(path.read_text(encoding="utf-8")) == inputs
    except (OSError, json.JSONDecodeError):
        return False


def _digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]


def planned(kinds: list[str], results: Mapping[tuple[str, int], dict[str, Any]], seed: int
            ) -> list[tuple[str, str, dict[str, Any]]]:
    """(kind, folder name, arguments) of every analysis that applies to these results."""
    models = _models(results, seed)
    out: list[tuple[str, str, dict[str, Any]]] = []
    if "memory" in kinds and any(name.startswith("mote") for name, _ in results):
        out.append(("memory", "memory", {}))
    if "conflict" in kinds:
        for name in CONFLICT_MODELS:
            if name in models:
                out.append(("conflict", f"conflict-{name}", {"model": models[name], "label": name}))
    if "spaces" in kinds:
        chosen = {name: models[name] for name in SPACES_MODELS if name in models}
        if any(name.startswith("mote") for name in chosen):
            out.append(("spaces", "spaces", {"models": chosen}))
    separate = results.get(("separate", seed)) or {}
    sep_models = {t: m for t, m in (separate.get("models") or {}).items() if Path(m).is_dir()}
    if "task-vectors" in kinds and sep_models:
        out.append(("task-vectors", "task-vectors", {"models": sep_models}))
    if "landscape" in kinds and len(sep_models) >= 2:
        pair = next(((a, b) for a, b in LANDSCAPE_PAIRS if a in sep_models and b in sep_models),
                    tuple(sorted(sep_models)[:2]))
        out.append(("landscape", f"landscape-{pair[0]}-{pair[1]}",
                    {"a": (pair[0], sep_models[pair[0]]), "b": (pair[1], sep_models[pair[1]])}))
    return out


def run_analyses(config: Any, results: Mapping[tuple[str, int], dict[str, Any]], out: Path, probe: Path,
                 say: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """Run (or reuse) the analyses that apply; return one entry per analysis for the report."""
    from mote.analyze.conflict import conflict
    from mote.analyze.landscape import landscape
    from mote.analyze.memory import memory
    from mote.analyze.spaces import spaces
    from mote.analyze.task_vectors import task_vectors

    kinds: list[str] = list(KINDS) if config.analyses == "auto" else list(config.analyses)
    if not kinds or not results:
        return []
    seed = min(s for _, s in results)
    entries = []
    for kind, name, args in planned(kinds, results, seed):
        folder = out / "analysis" / name
        stem = kind.replace("-", "_")
        sizes = config.analysis
        inputs = {"kind": kind, "args": json.loads(json.dumps(args, default=str)), "probe": _digest(probe),
                  "base": config.base, "seed": seed, "settings": sizes.model_dump()}
        if _cached(folder, inputs, f"{stem}.json"):
            result = json.loads((folder / f"{stem}.json").read_text(encoding="utf-8"))
        else:
            say(f"analysis {name} (seed {seed})")
            try:
                if kind == "memory":
                    result = memory(config.base, folder, measure_peak=sizes.peak_memory)
                elif kind == "conflict":
                    result = conflict(args["model"], probe, folder, batches=sizes.conflict_batches,
                                      label=f"{args['label']} (seed {seed})")
                elif kind == "spaces":
                    result = spaces(args["models"], probe, folder, n_texts=sizes.texts)
                elif kind == "task-vectors":
                    result = task_vectors(config.base, args["models"], folder)
                else:
                    result = landscape(config.base, args["a"], args["b"], probe, folder, points=sizes.grid_points,
                                       batches=sizes.landscape_batches, self_positioning_steps=sizes.sp_steps)
            except ValueError as e:  # e.g. a probe of one task has no pair to compare: the report says so
                say(f"analysis {name} skipped: {e}")
                entries.append({"kind": kind, "name": name, "png": None, "summary": f"not run: {e}"})
                continue
            atomic_write_text(folder / INPUTS, json.dumps(inputs, indent=2) + "\n")
        entries.append({"kind": kind, "name": name, "png": f"analysis/{name}/{stem}.png",
                        "summary": summary(kind, result)})
    return entries


def summary(kind: str, result: dict[str, Any]) -> str:
    """One line saying what the analysis found."""
    if kind == "memory":
        widest = max(result["rows"], key=lambda r: (r["tasks"], r["params_x_dense"]))
        return (f"stored parameters up to x{widest['params_x_dense']:.2f} the dense model ({widest['pattern']}, "
                f"{widest['tasks']} tasks); active parameters per input x"
                f"{max(r['active_params_x_dense'] for r in result['rows']):.2f}")
    if kind == "conflict":
        names = result["tasks"]
        m = result["cosines"]["all shared"]
        pairs = [m[i][j] for i in range(len(names)) for j in range(i + 1, len(names))]
        within = result.get("within_task_split_half") or {}
        floor = f"; same task, split halves {min(within.values()):+.2f}..{max(within.values()):+.2f}" if within else ""
        return (f"{result['label']}: gradient cosines between tasks {min(pairs):+.2f}..{max(pairs):+.2f} "
                f"(mean {sum(pairs) / len(pairs):+.2f}){floor}")
    if kind == "spaces":
        return "; ".join(f"{label}: mean CKA between routes {m['mean_off_diagonal_cka']:.3f}"
                         for label, m in result["models"].items() if m["mean_off_diagonal_cka"] is not None)
    if kind == "task-vectors":
        labels = result["labels"]
        cos = result["cosines"]["all"]
        pairs = [cos[i][j] for i in range(len(labels)) for j in range(i + 1, len(labels))]
        norms = ", ".join(f"{label} {m['norm']:.2f}" for label, m in result["models"].items())
        span = f"; cosines {min(pairs):+.2f}..{max(pairs):+.2f}" if pairs else ""
        return f"norms {norms}{span}"
    marks = result["marks"]
    best = min(marks, key=lambda k: marks[k]["total"])
    parts = [f"{k} {marks[k]['total']:.3f}" for k in ("base", "average", "self positioning") if k in marks]
    return (f"normalised probe loss (base = 1): {', '.join(parts)}; lowest marked point: {best}; "
            f"cosine(tau_{result['a']['label']}, tau_{result['b']['label']}) {result['cosine_a_b']:+.2f}")


def markdown(entries: list[dict[str, Any]]) -> str:
    if not entries:
        return ""
    lines = ["\n## Analyses\n", "From `mote analyze` on this pipeline's models (first seed) and its probe set; "
             "docs/analysis.md says how to read each.\n"]
    for e in entries:
        lines.append(f"**{e['kind']}** ({e['name']}): {e['summary']}\n")
        if e["png"]:
            lines.append(f"![{e['name']}]({e['png']})\n")
    return "\n".join(lines)

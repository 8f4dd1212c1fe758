"""How long each `mote analyze` kind takes with its default sizes (grid, batches, texts, steps) on MiniLM, measured
one after the other in one run on this machine: the "finishes in minutes on 2 CPU cores" promise, checked.

Inputs are the CPU pipeline's own models (any finished pipeline folder works): the `mote` and `joint-instr`
variants (conflict on MoTE, spaces MoTE vs joint-instr) and the `separate` variant's task models (task-vectors on
all of them, landscape on query and similarity), with the probe the pipeline config writes:

    python benchmarks/analyze_timing.py --config configs/pipeline-cpu.yaml \
        --mote runs/pipeline-cpu-4x/variants/mote/seed42-*/train/final \
        --dense runs/pipeline-cpu-4x/variants/joint-instr/seed42-*/train/final \
        --separate runs/pipeline-cpu-2x-separate/variants/separate/seed42-*/result.json

Writes benchmarks/results/analyze_timing.{json,md} (seconds per analysis, the sizes used, the machine).
Run it with nothing else on the cores (it times wall clock).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def _defaults(function: Any) -> dict[str, Any]:
    import inspect

    return {k: p.default for k, p in inspect.signature(function).parameters.items()
            if p.default is not inspect.Parameter.empty and isinstance(p.default, int | float | bool)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, help="pipeline config whose probe set the analyses read")
    parser.add_argument("--mote", required=True, help="a trained MoTE model folder")
    parser.add_argument("--dense", required=True, help="the instruction-only dense model folder (spaces)")
    parser.add_argument("--separate", required=True, help="a `separate` job's result.json (its task models)")
    parser.add_argument("--only", default="", help="comma-separated kinds to run (default: all five); a partial "
                        "run prints its table and writes no result file")
    parser.add_argument("--out", default=None, help="keep the analyses' outputs here (default: a temporary folder)")
    args = parser.parse_args()

    from mote.analyze.conflict import conflict
    from mote.analyze.landscape import landscape
    from mote.analyze.memory import memory
    from mote.analyze.spaces import spaces
    from mote.analyze.task_vectors import task_vectors
    from mote.pipeline.config import load_pipeline_config
    from mote.pipeline.run import write_probe

    kinds = ["memory", "conflict", "spaces", "task-vectors", "landscape"]
    chosen = [k for k in args.only.split(",") if k] or kinds
    for kind in chosen:
        if kind not in kinds:
            from mote._errors import unknown_name

            raise SystemExit(str(unknown_name("analysis (--only)", kind, kinds)))
    config = load_pipeline_config(args.config)
    separate = json.loads(Path(args.separate).read_text(encoding="utf-8"))["models"]
    missing = [p for p in (args.mote, args.dense, *separate.values()) if not Path(p).is_dir()]
    if missing:
        raise SystemExit(f"Model folders not found: {missing}; run the pipeline first (see this script's docstring).")
    with tempfile.TemporaryDirectory() as tmp:
        outputs = Path(args.out or tmp)
        probe = write_probe(config, Path(tmp) / "probe.jsonl")
        runs = {
            "memory": (memory, lambda out: memory(config.base, out)),
            "conflict": (conflict, lambda out: conflict(args.mote, probe, out)),
            "spaces": (spaces, lambda out: spaces({"mote": args.mote, "joint-instr": args.dense}, probe, out)),
            "task-vectors": (task_vectors, lambda out: task_vectors(config.base, separate, out)),
            "landscape": (landscape, lambda out: landscape(config.base, ("query", separate["query"]),
                                                           ("similarity", separate["similarity"]), probe, out)),
        }
        rows = []
        for kind in chosen:
            function, run = runs[kind]
            start = time.perf_counter()
            run(outputs / kind)
            seconds = time.perf_counter() - start
            rows.append({"kind": kind, "seconds": round(seconds, 1), "defaults": _defaults(function)})
            print(f"{kind}: {seconds:.0f} s", flush=True)
    machine = describe()
    result = {"machine": machine, "probe_rows": config.merge.probe_size, "rows": rows}
    if set(chosen) != set(kinds):  # a partial run: printed, the committed table left as it is
        print(json.dumps(result, indent=2))
        return
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "analyze_timing.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    lines = ["# `mote analyze` with its default sizes: wall time", "",
             f"Machine: {machine_line(machine)}.", "",
             f"Models: the CPU pipeline's MoTE and joint-instr models and its four `separate` task models; probe "
             f"set: the pipeline's ({config.merge.probe_size} rows). Produced by `benchmarks/analyze_timing.py`.", "",
             "| analysis | wall time | default sizes |", "|---|---|---|"]
    for r in rows:
        sizes = ", ".join(f"{k}={v}" for k, v in r["defaults"].items())
        lines.append(f"| {r['kind']} | {r['seconds'] / 60:.1f} min ({r['seconds']:.0f} s) | {sizes} |")
    (RESULTS / "analyze_timing.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

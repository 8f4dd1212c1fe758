"""Merge cost: wall time and peak memory of every merge method, run through the `mote merge` CLI on real
`mote train` checkpoints, and Self Positioning's cost as a fraction of training one task model.

Inputs come from a finished pipeline run (the `separate` variant's N task models, trained by `mote train
mode=separate` on the recipe, and the task-aware `mote` model), e.g. after `mote pipeline configs/pipeline-cpu.yaml`:

    python benchmarks/merge_cost.py --pipeline runs/pipeline-cpu [--seed 42] [--methods ties,fisher]

Each merge runs in its own `mote merge CONFIG.yaml` process (a fresh process, so its peak RSS is its own);
wall time is measured around the process and inside it (merge_report.json). The import-only baseline (a
process that imports mote and torch and loads nothing) is measured too, so "extra memory" counts what the
merge itself held, in units of one model's weights (fp32 safetensors bytes).
Writes benchmarks/results/merge_cost.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
MOTE = str(Path(sys.executable).with_name("mote"))
DENSE_METHODS = ["linear", "task_arithmetic", "ties", "dare_linear", "dare_ties", "slerp", "slerp_task_vector",
                 "fisher", "regmean", "self_positioning"]
PARAMETERS: dict[str, dict[str, Any]] = {  # the pipeline's defaults where it has them
    "task_arithmetic": {"lambda": 0.4},
    "ties": {"density": 0.2, "lambda": 1.0},
    "dare_linear": {"density": 0.5, "seed": 0},
    "dare_ties": {"density": 0.5, "lambda": 1.0, "seed": 0},
    "self_positioning": {"steps": 100, "batch_size": 32, "lr": 0.05},
}
IMPORT_ONLY = ("import resource, torch, mote.merge.run, mote.model.sentence; "
               "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)")


def _one(folder: Path, pattern: str) -> Path:
    found = sorted(folder.glob(pattern))
    if not found:
        raise SystemExit(f"No {pattern!r} under {folder}: run the pipeline with the separate and mote variants first.")
    return found[0]


def inputs(pipeline: Path, seed: int) -> dict[str, Any]:
    variants = pipeline / "variants"
    separate = json.loads((_one(variants / "separate", f"seed{seed}-*") / "result.json").read_text())
    mote = json.loads((_one(variants / "mote", f"seed{seed}-*") / "result.json").read_text())
    probe = _one(variants, f"separate-*/seed{seed}-*/probe.jsonl")
    config = yaml.safe_load((pipeline / "pipeline_config.yaml").read_text())
    tasks = sorted(separate["models"])
    train_s = []
    for t in tasks:
        summary = Path(separate["models"][t]).parent / "train_summary.json"
        train_s.append(json.loads(summary.read_text())["train_seconds"])
    return {"base": config["base"], "tasks": tasks, "models": [separate["models"][t] for t in tasks],
            "mote_model": mote["model_dir"], "probe": str(probe),
            "train_seconds": dict(zip(tasks, train_s, strict=True)),
            "steps_per_model": separate["steps_per_model"], "batch_size": config["budget"]["batch_size"]}


def model_bytes(folder: str) -> int:
    from mote.model.resolve import resolve_model
    from mote.model.weights import LazyStateDict

    state = LazyStateDict(resolve_model(folder))
    return sum(state[n].numel() * state[n].element_size() for n in state)


def run_cli(config: dict[str, Any], work: Path, name: str) -> dict[str, Any]:
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config))
    start = time.perf_counter()
    proc = subprocess.run([MOTE, "merge", str(path)], capture_output=True, text=True,
                          env={**os.environ, "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"})
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:], "process_s": wall}
    report = json.loads((Path(config["out"]) / "merge_report.json").read_text())
    out = {"process_s": round(wall, 2), "merge_s": round(report["wall_time_s"], 2),
           "peak_rss_bytes": report["peak_rss_bytes"]}
    if report.get("learned"):
        out["learned_weights"] = report["learned"]["weights"]
        out["learned_lambda"] = report["learned"]["lambda"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipeline", type=Path, default=ROOT / "runs" / "pipeline-cpu")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--methods", default=",".join(DENSE_METHODS))
    ap.add_argument("--probe-size", type=int, default=256)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    methods = args.methods.split(",")
    src = inputs(args.pipeline, args.seed)
    size = model_bytes(src["base"])
    baseline = int(subprocess.run([sys.executable, "-c", IMPORT_ONLY], capture_output=True, text=True,
                                  check=True).stdout.strip())
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="mote-merge-cost-") as tmp:
        work = Path(tmp)
        for kind in ("dense", "experts"):
            for method in methods:
                config: dict[str, Any] = {
                    "method": method, "parameters": PARAMETERS.get(method, {}), "out": str(work / f"{kind}-{method}"),
                    "probe": {"jsonl": src["probe"], "size": args.probe_size}, "progress": False,
                }
                if kind == "dense":
                    config.update(base=src["base"], models=src["models"], model_tasks=src["tasks"])
                else:
                    config.update(mote_model=src["mote_model"])
                if method not in ("fisher", "regmean", "self_positioning"):
                    del config["probe"]
                print(f"{kind} {method} ...", flush=True)
                row = {"inputs": kind, "method": method, **run_cli(config, work, f"{kind}-{method}")}
                if "peak_rss_bytes" in row:
                    row["extra_rss_x_model"] = round((row["peak_rss_bytes"] - baseline) / size, 2)
                print(f"  {row}", flush=True)
                rows.append(row)
    train_one = sum(src["train_seconds"].values()) / len(src["train_seconds"])
    sp = {r["inputs"]: r["merge_s"] for r in rows if r["method"] == "self_positioning" and "merge_s" in r}
    result = {
        "machine": describe(), "n_models": len(src["models"]), "tasks": src["tasks"], "model_bytes": size,
        "import_only_rss_bytes": baseline, "parameters": PARAMETERS, "probe_size": args.probe_size,
        "train_one_task_model_s": round(train_one, 2), "train_seconds": src["train_seconds"],
        "train_steps_per_model": src["steps_per_model"], "train_batch_size": src["batch_size"],
        "self_positioning_over_train_one": {k: round(v / train_one, 3) for k, v in sp.items()},
        "rows": rows, "pipeline": str(args.pipeline), "seed": args.seed,
        "this_process_peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "merge_cost.json").write_text(json.dumps(result, indent=2) + "\n")
    (args.out / "merge_cost.md").write_text(to_markdown(result))
    print(to_markdown(result))


def to_markdown(r: dict[str, Any]) -> str:
    mib = 2**20
    lines = [
        "# Merge cost (`python benchmarks/merge_cost.py`)",
        "",
        f"N = {r['n_models']} task models ({', '.join(r['tasks'])}) fine-tuned by `mote train` (mode separate) "
        f"from all-MiniLM-L6-v2 ({r['model_bytes'] / mib:.1f} MiB of fp32 weights), and the task-aware MoTE model "
        f"of the same pipeline run (its {r['n_models'] + 1} experts per up-cycled layer merged into one dense model). "
        f"Each row is one `mote merge CONFIG.yaml` process. Import-only process peak: "
        f"{r['import_only_rss_bytes'] / mib:.0f} MiB; 'extra' = peak minus that, in model sizes.",
        "",
        "| inputs | method | merge s | process s | peak RSS MiB | extra (x model) |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for row in r["rows"]:
        if "error" in row:
            lines.append(f"| {row['inputs']} | {row['method']} | error: {row['error']} | | | |")
            continue
        lines.append(f"| {row['inputs']} | {row['method']} | {row['merge_s']:.1f} | {row['process_s']:.1f} | "
                     f"{row['peak_rss_bytes'] / mib:.0f} | {row['extra_rss_x_model']:.1f} |")
    frac = r["self_positioning_over_train_one"]
    lines += [
        "",
        f"Training one task model (the pipeline's per-task budget: {r['train_steps_per_model']} steps x batch "
        f"{r['train_batch_size']}) took {r['train_one_task_model_s']:.0f} s on average "
        f"({', '.join(f'{k} {v:.0f} s' for k, v in r['train_seconds'].items())}). "
        f"Self Positioning ({r['parameters']['self_positioning']['steps']} steps, batch "
        f"{r['parameters']['self_positioning']['batch_size']}, probe {r['probe_size']}) costs "
        + ", ".join(f"{v:.2f}x that ({k})" for k, v in frac.items()) + ".",
        "",
        f"Machine: {machine_line(r['machine'])}.",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()

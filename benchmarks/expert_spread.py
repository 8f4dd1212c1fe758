"""How far a MoTE model's experts moved apart: per trained model, the RMS distance of each task's expert FFN from
the experts' mean, and of that mean from the base model's FFN, both relative to the base FFN's norm; the shared
(non-expert) weights' drift from the base for scale. Experts that barely moved apart cannot route tasks to
different functions, so this says whether a budget gave MoTE room to differ from joint training.

    python benchmarks/expert_spread.py runs/pipeline-cpu/variants/mote/seed42-*/train/final \\
        runs/pipeline-cpu-4x/variants/mote/seed42-*/train/final

Writes benchmarks/results/expert_spread.{json,md} (``--out`` another stem) with the machine line.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

import torch
from _machine import describe, machine_line

from mote.merge.experts import expert_origin, split_experts
from mote.model.resolve import resolve_model
from mote.model.sentence import load, mote_model
from mote.model.weights import LazyStateDict


def spread(path: str) -> dict[str, Any]:
    moe = mote_model(load(path))
    banks = split_experts(moe)
    base_ref = moe.config.base_model
    origin, where = expert_origin(banks, base_ref)
    if not where.startswith("base model"):
        raise SystemExit(f"{path}: needs the base model's FFN to measure drift ({where})")
    spread_sq = drift_sq = norm_sq = 0.0
    for name in banks.ffn_names:
        stack = torch.stack([e[name].float() for e in banks.experts])
        mean = stack.mean(0)
        spread_sq += float(((stack - mean) ** 2).sum()) / len(banks.experts)
        drift_sq += float(((mean - origin[name].float()) ** 2).sum())
        norm_sq += float((origin[name].float() ** 2).sum())
    base = LazyStateDict(resolve_model(base_ref))
    shared_sq = shared_norm = 0.0
    for name, tensor in banks.shared.items():
        if name in base and base[name].shape == tensor.shape and tensor.is_floating_point():
            ref = base[name].float()
            shared_sq += float(((tensor.float() - ref) ** 2).sum())
            shared_norm += float((ref**2).sum())
    return {"model": path, "tasks": banks.tasks, "ffn_tensors": len(banks.ffn_names),
            "expert_spread_pct": 100 * math.sqrt(spread_sq / norm_sq),
            "expert_mean_drift_pct": 100 * math.sqrt(drift_sq / norm_sq),
            "shared_drift_pct": 100 * math.sqrt(shared_sq / shared_norm) if shared_norm else None}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("models", nargs="+", help="MoTE model folders (e.g. a pipeline job's train/final)")
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "expert_spread")
    args = ap.parse_args()
    machine = describe()
    rows = [spread(m) for m in args.models]
    lines = ["| model | experts' spread around their mean | experts' mean drift from the base FFN | "
             "shared weights' drift from the base |", "|---|---:|---:|---:|"]
    for r in rows:
        shared = f"{r['shared_drift_pct']:.3f} %" if r["shared_drift_pct"] is not None else "–"
        spread_, drift = r["expert_spread_pct"], r["expert_mean_drift_pct"]
        lines.append(f"| {r['model']} | {spread_:.3f} % | {drift:.3f} % | {shared} |")
    md = ("# Expert spread\n\nRMS distances relative to the base weights' norm (FFN tensors of the up-cycled blocks; "
          "shared: every other tensor). `python benchmarks/expert_spread.py " + " ".join(args.models) + "`\n\n"
          + "\n".join(lines) + f"\n\n{machine_line(machine)}\n")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()

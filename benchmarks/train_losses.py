"""Train a MoTE model on the small shared-data recipe and tabulate whether each task's loss goes down.

    python benchmarks/train_losses.py [--steps 200] [--batch-size 16] [--max-seq-length 64]

Runs `mote train configs/train-mote-small.yaml` with those overrides (its precision: auto) into
runs/train-losses, then writes benchmarks/results/train_losses.{json,md}: mean loss per task and per dataset
over the first and the last quarter of the steps it trained on.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--out", default=str(ROOT / "runs" / "train-losses"))
    parser.add_argument("--from-run", help="Tabulate an existing run of the same command instead of training.")
    args = parser.parse_args()
    out = args.from_run or args.out
    overrides = [
        f"train.max_steps={args.steps}",
        f"train.batch_size={args.batch_size}",
        f"model.max_seq_length={args.max_seq_length}",
        f"train.output_dir={out}",
    ]
    cmd = [sys.executable, "-m", "mote.cli", "train", str(ROOT / "configs" / "train-mote-small.yaml")]
    for o in overrides:
        cmd += ["--set", o]
    if not args.from_run:
        shutil.rmtree(out, ignore_errors=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    args.out = out
    summary = json.loads((Path(args.out) / "train_summary.json").read_text())
    curve = summary["loss_first_vs_last_quarter"]
    machine = describe()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_losses.json").write_text(json.dumps({"command": cmd, "machine": machine, **summary}, indent=2))
    lines = [
        "# MoTE training on the small shared-data recipe: loss per task, first vs last quarter of steps",
        "",
        f"`mote train configs/train-mote-small.yaml` with {', '.join(overrides[:3])} (precision "
        f"{summary.get('precision', 'bf16 autocast (before precision: auto)')}); "
        f"{summary['steps']} steps in {summary['train_seconds']:.0f} s on {machine_line(machine)}.",
        "",
        "| task / dataset | steps | first quarter | last quarter | change |",
        "|---|---|---|---|---|",
    ]
    for key, v in curve.items():
        lines.append(f"| {key} | {v['steps']} | {v['first']:.3f} | {v['last']:.3f} | {v['last'] - v['first']:+.3f} |")
    lines.append("")
    (RESULTS / "train_losses.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

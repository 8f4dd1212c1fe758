"""Training throughput: `mote train` (mote and joint modes) vs a plain sentence-transformers
MultipleNegativesRankingLoss fit, same base model, batch, sequence length and data, interleaved.

Variants (each run trains `--steps` optimizer steps from the packaged all-MiniLM-L6-v2; step times after
`--warmup` steps are kept; rounds rotate the variant order):
  plain_st        SentenceTransformerTrainer + MultipleNegativesRankingLoss, no prompts
  joint           mote train, mode joint, no instructions (same inputs as plain_st)
  joint_instr     mote train, mode joint, instructions
  mote            mote train, mode mote (5 tasks, every-other), instructions; query -> document routing
Each variant runs at every precision in ``--precisions`` (fp32, bf16 autocast, and ``auto``: what
mote.runtime resolves on this machine); the CPU kind and flags go into the header.
Targets: joint >= 0.95x plain_st examples/s; mote step time <= 1.05x joint_instr.
Writes benchmarks/results/train_speed.{json,md}.

    python benchmarks/train_speed.py [--steps 12] [--rounds 3] [--batch-size 32] [--precisions fp32,bf16,auto]
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from datasets import Dataset
from transformers import TrainerCallback

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line

from mote.runtime import resolve

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


class StepTimer(TrainerCallback):  # type: ignore[misc]
    def __init__(self) -> None:
        self.times: list[float] = []
        self._t = 0.0

    def on_step_begin(self, *args: Any, **kwargs: Any) -> None:
        self._t = time.perf_counter()

    def on_step_end(self, *args: Any, **kwargs: Any) -> None:
        self.times.append(time.perf_counter() - self._t)


def load_pairs(n: int) -> tuple[list[str], list[str]]:
    """STS-B train pairs scored >= 3.5 (real sentences, natural lengths); synthetic fallback."""
    path = DATA / "stsbenchmark" / "sts-train.csv"
    a: list[str] = []
    b: list[str] = []
    if path.is_file():
        with path.open(encoding="utf-8") as f:
            for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
                if len(row) >= 7 and float(row[4]) >= 3.5 and row[5] not in a:
                    a.append(row[5])
                    b.append(row[6])
    if len(a) < n:
        a += [f"synthetic sentence number {i} about topic {i % 17}" for i in range(n - len(a))]
        b += [f"another sentence {i} on topic {i % 17}" for i in range(n - len(b))]
    return a[:n], b[:n]


def run_plain(base: str, data: Dataset, args: argparse.Namespace, out: Path, precision: str) -> list[float]:
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer
    from sentence_transformers import SentenceTransformerTrainingArguments as Args
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss

    from mote.train.sampler import no_duplicates_sampler

    model = SentenceTransformer(base, device="cpu")
    model.max_seq_length = args.max_seq_length
    timer = StepTimer()
    trainer_args = Args(
        output_dir=str(out),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.steps,
        learning_rate=2e-5,
        save_strategy="no",
        report_to="none",
        logging_steps=10**6,
        batch_sampler=no_duplicates_sampler,
        bf16=resolve(precision, "cpu").precision == "bf16",
        use_cpu=True,
        seed=42,
        dataloader_drop_last=True,
    )
    trainer = SentenceTransformerTrainer(
        model=model,
        args=trainer_args,
        train_dataset=data.select_columns(["anchor", "positive"]),
        loss=MultipleNegativesRankingLoss(model, scale=20.0),
        callbacks=[timer],
    )
    trainer.train()
    return timer.times


def run_mote(
    mode: str, instructions: bool, base: str, data: Dataset, args: argparse.Namespace, out: Path, precision: str
) -> list[float]:
    from mote.train.config import TrainConfig
    from mote.train.run import train

    cfg = TrainConfig.model_validate(
        {
            "model": {"base": base, "mode": mode, "instructions": instructions, "max_seq_length": args.max_seq_length},
            "data": {"recipe": "benchmark"},
            "train": {
                "output_dir": str(out),
                "batch_size": args.batch_size,
                "max_steps": args.steps,
                "save_steps": 10**6,
                "logging_steps": 10**6,
                "learning_rate": 2e-5,
                "precision": precision,
                "device": "cpu",
            },
            "tasks": {"query": {"temperature": 0.05, "hard_negatives": 0}},
        }
    )
    timer = StepTimer()
    train(cfg, {"pairs": data}, callbacks=[timer])
    return timer.times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--precisions", default="fp32,bf16,auto", help="Comma-separated: fp32, bf16, auto.")
    parser.add_argument("--variants", default="plain_st,joint,joint_instr,mote")
    args = parser.parse_args()

    from mote.model.resolve import DEFAULT_BASE, resolve_model

    base = resolve_model(DEFAULT_BASE)
    a, p = load_pairs(args.batch_size * args.steps * 2)
    n = len(a)
    data = Dataset.from_dict(
        {"anchor": a, "positive": p, "anchor_task": ["query"] * n, "positive_task": ["document"] * n}
    )
    makers = {
        "plain_st": lambda out, p: run_plain(base, data, args, out, p),
        "joint": lambda out, p: run_mote("joint", False, base, data, args, out, p),
        "joint_instr": lambda out, p: run_mote("joint", True, base, data, args, out, p),
        "mote": lambda out, p: run_mote("mote", True, base, data, args, out, p),
    }
    chosen = args.variants.split(",")
    labels = {p: p if resolve(p, "cpu").precision == p else f"{p} (-> {resolve(p, 'cpu').precision})"
              for p in args.precisions.split(",")}
    jobs = [(v, p) for p in labels for v in chosen]
    times: dict[str, list[float]] = {f"{v}|{p}": [] for v, p in jobs}
    for r in range(args.rounds):  # interleaved: every (variant, precision) once per round, rotating the order
        for v, p in jobs[r % len(jobs) :] + jobs[: r % len(jobs)]:
            with tempfile.TemporaryDirectory() as tmp:
                times[f"{v}|{p}"] += makers[v](Path(tmp) / v, p)[args.warmup :]
            print(f"round {r}: {v} {p} median step {statistics.median(times[f'{v}|{p}']):.3f}s", flush=True)
    med = {k: statistics.median(t) for k, t in times.items()}
    rows = {
        k: {"step_s_median": med[k], "examples_per_s": args.batch_size / med[k], "steps_timed": len(times[k])}
        for k in times
    }
    ratios: dict[str, float] = {}
    for p in labels:
        if {"plain_st", "joint"} <= set(chosen):
            ratios[f"joint_vs_plain_st_throughput|{p}"] = med[f"plain_st|{p}"] / med[f"joint|{p}"]
        if {"mote", "joint_instr"} <= set(chosen):
            ratios[f"mote_vs_joint_instr_step_time|{p}"] = med[f"mote|{p}"] / med[f"joint_instr|{p}"]
    machine = describe()
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "train_speed.json").write_text(
        json.dumps(
            {"config": vars(args), "machine": machine, "results": rows, "ratios": ratios, "step_times": times}, indent=2
        )
        + "\n"
    )
    lines = [
        "# Training speed: `mote train` vs plain sentence-transformers (MultipleNegativesRankingLoss)",
        "",
        f"Machine: {machine_line(machine)}. all-MiniLM-L6-v2, batch {args.batch_size}, max_seq_length "
        f"{args.max_seq_length}, STS-B train pairs (natural lengths); {args.rounds} interleaved rounds x "
        f"{args.steps} steps, first {args.warmup} steps of each run dropped.",
        "",
        "| precision | variant | median step (s) | examples/s | speed vs fp32 |",
        "|---|---|---|---|---|",
    ]
    for k, r in rows.items():
        v, p = k.split("|")
        base_k = f"{v}|fp32"
        vs = f"{med[base_k] / med[k]:.2f}x" if base_k in med else "-"
        lines.append(f"| {labels[p]} | {v} | {r['step_s_median']:.3f} | {r['examples_per_s']:.1f} | {vs} |")
    lines.append("")
    for k, value in ratios.items():
        name, p = k.split("|")
        target = "(target >= 0.95)" if name.startswith("joint") else "(target <= 1.05)"
        text = "joint / plain sentence-transformers throughput" if name.startswith("joint") else (
            "MoTE / joint (with instructions) step time")
        lines.append(f"- {labels[p]}: {text}: **{value:.3f}** {target}")
    lines.append("")
    (RESULTS / "train_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

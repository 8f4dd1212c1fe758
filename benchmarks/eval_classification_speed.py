"""MTEB classification with and without mote's label shim (``FastClassificationLabels``), side by side.

    python benchmarks/eval_classification_speed.py --tasks Banking77Classification TweetEvalHate --rounds 2

Each round evaluates every task once with mote's task class and once with the same class minus the shim (MTEB's
own label handling), alternating, on one encoder whose embeddings are computed before timing starts (the
embedding cache in memory), so the times are MTEB's sampling, classifiers and metrics only. Scores must be
identical. Writes benchmarks/results/eval_classification_speed.json with the machine (CPU kind included).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from mote.evaluate.encoder import load_encoder
from mote.evaluate.local_tasks import FastClassificationLabels, task_class
from mote.evaluate.run import _mteb_evaluate, _quiet_datasets
from mote.evaluate.suites import select_tasks
from mote.evaluate.summary import machine_info
from mote.model.io import atomic_write_text
from mote.model.resolve import resolve_model

OUT = Path(__file__).parent / "results" / "eval_classification_speed.json"


def _without_shim(cls: type) -> type:
    bases = tuple(b for b in cls.__mro__[1:] if b is not FastClassificationLabels and b in cls.__bases__)
    namespace = {k: v for k, v in cls.__dict__.items() if k not in ("__dict__", "__weakref__")}
    return type(cls.__name__ + "Plain", bases, namespace)


def _run(encoder: Any, cls: type, data_root: Path, split: str) -> tuple[float, float]:
    task = cls(data_root=data_root)
    task.load_data()
    start = time.perf_counter()
    with _quiet_datasets():
        result = _mteb_evaluate(encoder, task)
    seconds = time.perf_counter() - start
    return seconds, 100.0 * float(result.task_results[0].scores[split][0]["main_score"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["Banking77Classification", "TweetEvalHate"])
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--data-root", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = ap.parse_args()
    encoder = load_encoder(resolve_model("sentence-transformers/all-MiniLM-L6-v2"), cache_dir=None, precision="fp32",
                           device="cpu")
    rows = {}
    for defn in select_tasks("extended", args.tasks, None):
        fast = task_class(defn)
        plain = _without_shim(fast)
        _run(encoder, fast, args.data_root, defn.split)  # warm-up: the embeddings, memoised by the encoder
        times: dict[str, list[float]] = {"mote": [], "mteb": []}
        scores: dict[str, set[float]] = {"mote": set(), "mteb": set()}
        for _ in range(args.rounds):
            for name, cls in (("mteb", plain), ("mote", fast)):
                seconds, score = _run(encoder, cls, args.data_root, defn.split)
                times[name].append(seconds)
                scores[name].add(round(score, 6))
        if scores["mote"] != scores["mteb"]:
            raise SystemExit(f"{defn.name}: scores differ with the shim: {scores}")
        med = {k: statistics.median(v) for k, v in times.items()}
        rows[defn.name] = {"seconds_mteb": med["mteb"], "seconds_mote": med["mote"],
                           "speedup": med["mteb"] / med["mote"], "score": scores["mote"].pop(), "rounds": args.rounds}
        print(f"{defn.name}: MTEB's label handling {med['mteb']:.1f} s, mote's {med['mote']:.1f} s "
              f"({rows[defn.name]['speedup']:.2f}x), score {rows[defn.name]['score']:.2f} both")
    atomic_write_text(OUT, json.dumps({"tasks": rows, "machine": machine_info()}, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()

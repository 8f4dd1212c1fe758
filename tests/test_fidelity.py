"""Fidelity gate: our MTEB path reproduces the published all-MiniLM-L6-v2 scores on mteb-lite (full data).

Tolerance 1.0 point per task (the data README expects 0.5-1 point of drift across MTEB versions). The
embedding cache defaults to the repository's ``.mote-cache/`` (override with ``MOTE_EVAL_CACHE``; set it
to an empty folder for a cold run). The cache is keyed by the model files' hash, route and exact texts,
so a hit returns the vectors this code would compute; loaders, MTEB's evaluators and metrics run every time.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

pytest.importorskip("mteb")

from mote.evaluate import evaluate

# Published MTEB main scores x 100 (shared data README table; MTEB results repo, mteb 1.12.75).
PUBLISHED = {
    "STSBenchmark": 82.03,
    "SICK-R": 77.58,
    "STS12": 72.37,
    "STS13": 80.60,
    "STS14": 75.59,
    "STS15": 85.39,
    "Banking77Classification": 80.04,
    "EmotionClassification": 40.83,
    "SciFact": 66.02,
}
TOLERANCE = 1.0
REPO = Path(__file__).resolve().parents[1]


# SciFact encodes a 5,183-abstract corpus at 256 tokens (about 28 TFLOP): 4-10 minutes alone on 2 cores, more on
# an AVX2-only CPU than the whole rest of the suite. It is checked by `make fidelity` (marked slow), the other
# eight tasks in every `make test`.
SLOW = {"SciFact"}


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "tasks", [sorted(set(PUBLISHED) - SLOW), pytest.param(sorted(SLOW), marks=pytest.mark.slow)],
    ids=["mteb-lite-fast", "scifact"],
)
def test_minilm_reproduces_published_mteb_lite(
    tasks: list[str], shared_data: Path, minilm_dir: Path, tmp_path: Path
) -> None:
    cache = os.environ.get("MOTE_EVAL_CACHE", str(REPO / ".mote-cache"))
    start = time.perf_counter()
    summary = evaluate(
        minilm_dir, "mteb-lite", tasks=tasks, data_root=shared_data, out=tmp_path / "run", cache_dir=cache,
        precision="fp32",
    )
    wall = time.perf_counter() - start
    scores = {t: r["score"] for t, r in summary["tasks"].items()}
    assert set(scores) == set(tasks)

    lines = [f"{'task':<26}{'ours':>8}{'published':>11}{'delta':>8}", "-" * 53]
    for task in tasks:
        lines.append(f"{task:<26}{scores[task]:8.2f}{PUBLISHED[task]:11.2f}{scores[task] - PUBLISHED[task]:+8.2f}")
    c = summary["cache"]
    lines.append(f"wall {wall:.1f} s; cache hits {c['hits']}, misses {c['misses']}, texts encoded {c['encoded_texts']}")
    print("\n" + "\n".join(lines))

    off = {t: round(scores[t] - PUBLISHED[t], 2) for t in tasks if abs(scores[t] - PUBLISHED[t]) > TOLERANCE}
    assert not off, f"tasks off the published score by more than {TOLERANCE} point: {off}"

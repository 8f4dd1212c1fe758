"""Per-item records (they reproduce MTEB's main score) and paired bootstrap intervals (against references)."""

from __future__ import annotations

import json
from pathlib import Path
from statistics import fmean

import numpy as np
import pytest
from scipy.stats import norm, spearmanr
from sklearn.metrics import average_precision_score

from mote.evaluate.bootstrap import Bootstrap, resample_indices
from mote.evaluate.items import (
    n_units,
    read_records,
    rowwise_average_precision,
    rowwise_spearman,
    score,
    scores_on,
)


@pytest.mark.parametrize("ties", [False, True])
def test_average_precision_matches_scikit_learn(ties: bool) -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, size=(20, 60))
    scores = rng.normal(size=(20, 60))
    if ties:
        scores = np.round(scores, 0)  # few distinct values: many ties
    got = rowwise_average_precision(labels, scores)
    want = [average_precision_score(labels[i], scores[i]) for i in range(20)]
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_spearman_matches_scipy_with_ties() -> None:
    rng = np.random.default_rng(1)
    x = np.round(rng.normal(size=(15, 40)), 1)
    y = x + rng.normal(size=(15, 40))
    y[:, :10] = 3.0  # a tied block in the gold
    want = [spearmanr(x[i], y[i]).statistic for i in range(15)]
    np.testing.assert_allclose(rowwise_spearman(x, y), want, atol=1e-12)


def _mean_record(values: list[float]) -> dict:
    return {"kind": "mean", "ids": [f"q{i}" for i in range(len(values))], "values": values}


def test_identical_sides_have_a_zero_interval() -> None:
    rec = {"T": _mean_record([1.0, 5.0, 2.0, 8.0])}
    b = Bootstrap(n=200)
    iv = b.task_interval(("a", [rec]), ("b", [rec]), "T")
    assert (iv.delta, iv.low, iv.high, iv.resolved) == (0.0, 0.0, 0.0, False)


def test_constant_gain_is_resolved_exactly() -> None:
    base = [float(v) for v in range(50)]
    a, b = {"T": _mean_record([v + 2.0 for v in base])}, {"T": _mean_record(base)}
    iv = Bootstrap(n=300).task_interval(("a", [a]), ("b", [b]), "T")
    assert iv.delta == pytest.approx(2.0) and iv.low == pytest.approx(2.0) and iv.high == pytest.approx(2.0)
    assert iv.resolved


def test_interval_of_a_mean_difference_matches_the_normal_approximation() -> None:
    """Reference: for a per-query metric, the paired difference of means has the textbook interval
    mean(d) +- 1.96 sd(d) / sqrt(n) (n large)."""
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 100, size=2000)
    gain = rng.normal(0.5, 10.0, size=2000)
    a, b = {"T": _mean_record(list(base + gain))}, {"T": _mean_record(list(base))}
    iv = Bootstrap(n=4000).task_interval(("a", [a]), ("b", [b]), "T")
    half = norm.ppf(0.975) * gain.std(ddof=1) / np.sqrt(len(gain))
    assert iv.delta == pytest.approx(gain.mean())
    assert iv.low == pytest.approx(gain.mean() - half, abs=0.06 * half)
    assert iv.high == pytest.approx(gain.mean() + half, abs=0.06 * half)


def test_means_follow_task_types() -> None:
    """Hand example: two STS-like tasks and one classification-like; the mean over types weighs each type once."""
    def side(offset: float) -> list[dict]:
        return [{"S1": _mean_record([10.0 + offset, 20.0 + offset]), "S2": _mean_record([30.0, 50.0]),
                 "C": _mean_record([60.0 + 2 * offset, 80.0 + 2 * offset])}]

    types = {"S1": "STS", "S2": "STS", "C": "Classification"}
    iv = Bootstrap(n=100).mean_interval(("a", side(3.0)), ("b", side(0.0)), types)
    # per task deltas: S1 +3, S2 0, C +6 -> STS mean 1.5, Classification 6 -> mean over types 3.75
    assert iv.delta == pytest.approx(3.75)
    assert iv.low == pytest.approx(3.75) and iv.high == pytest.approx(3.75)  # constant shifts: no spread


def test_seed_spread_enters_the_interval() -> None:
    """Hand computation: every item of a seed scores alike, so only the seed draw moves the score. Side a's
    two seeds score 12 and 14 (mean 13); side b's one seed scores 10. Drawing 2 of a's seeds with
    replacement gives 12, 13 or 14 with probabilities 1/4, 1/2, 1/4: the 95 % interval of a - b is [2, 4]."""
    a = [{"T": _mean_record([12.0] * 30)}, {"T": _mean_record([14.0] * 30)}]
    b = [{"T": _mean_record([10.0] * 30)}]
    iv = Bootstrap(n=2000).task_interval(("a", a), ("b", b), "T")
    assert iv.delta == pytest.approx(3.0)
    assert (iv.low, iv.high) == (pytest.approx(2.0), pytest.approx(4.0))


def test_different_items_are_refused() -> None:
    a = {"T": _mean_record([1.0, 2.0])}
    b = {"T": {"kind": "mean", "ids": ["x", "y"], "values": [1.0, 2.0]}}
    with pytest.raises(ValueError, match="different items"):
        Bootstrap(n=10).task_interval(("a", [a]), ("b", [b]), "T")


def test_resamples_depend_on_the_task_not_the_model() -> None:
    one, two = resample_indices(30, 5, "STS12"), resample_indices(30, 5, "STS12")
    np.testing.assert_array_equal(one, two)
    assert not np.array_equal(one, resample_indices(30, 5, "STS15"))


@pytest.mark.shared_data
def test_records_reproduce_mteb_on_every_task_type(tiny_st_dir: Path, shared_data: Path, tmp_path: Path) -> None:
    """Reference: MTEB's own main score. For one task of each type (SciFact: retrieval over 5,183 abstracts,
    cheap with the tiny model) the saved record, rescored on all its items, gives MTEB's number."""
    pytest.importorskip("mteb")
    from mote.evaluate import evaluate

    tasks = ["STSBenchmark", "TRECQuestionType", "MRPC", "TrecQADev", "TwentyNewsgroupsSubjects", "SciFact"]
    summary = evaluate(tiny_st_dir, "extended", tasks=tasks, data_root=shared_data, out=tmp_path / "ev",
                       cache_dir=None, precision="fp32")
    records = read_records(tmp_path / "ev" / "items")
    assert sorted(records) == sorted(tasks) and summary["items"]["without"] == {}
    kinds = {}
    for task, rec in records.items():
        kinds[task] = rec["kind"]
        assert score(rec) == pytest.approx(summary["tasks"][task]["score"], abs=1e-3), task
        reps = scores_on(rec, resample_indices(n_units(rec), 50, task))
        assert np.isfinite(reps).all() and reps.std() > 0, task  # resampling moves the score
        assert fmean(reps) == pytest.approx(score(rec), abs=max(3 * reps.std(), 1e-6)), task
    assert kinds == {"STSBenchmark": "spearman", "TRECQuestionType": "accuracy", "MRPC": "max_ap",
                     "TrecQADev": "mean", "TwentyNewsgroupsSubjects": "runs", "SciFact": "mean"}
    assert json.loads((tmp_path / "ev" / "items" / "TrecQADev.json").read_text())["metric"] == "map_at_1000"

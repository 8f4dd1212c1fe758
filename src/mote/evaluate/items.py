"""Per-item outcomes of an evaluated task, kept so that scores can be resampled (paired bootstrap).

MTEB reports one number per task. To say whether variant A beats variant B on a task, the report resamples
the task's *items* (test pairs, test examples, queries) with the same indices for both and recomputes the
task's main score each time (:mod:`mote.evaluate.bootstrap`). This module turns MTEB's own saved predictions
(``mteb.evaluate(prediction_folder=...)``) and the task's gold labels into a compact record per task, and
recomputes the main score from a record on any subset of its items:

=================  ==========================  ===================================================
task type           unit resampled              main score recomputed from
=================  ==========================  ===================================================
STS                 a scored sentence pair      Spearman of cosine similarity vs gold
Classification      a test example              accuracy per experiment (10 few-shot classifiers), mean
PairClassification  a labelled pair             max over MTEB's five similarity functions of the AP
Retrieval/Reranking a query                     mean over queries of pytrec_eval's per-query metric
Clustering          a k-means run on a subset   mean V-measure (MTEB's own bootstrap of the documents)
=================  ==========================  ===================================================

On all items, the recomputed score equals MTEB's main score (checked when the record is made, so a record
that could not reproduce MTEB is never written). Scores are x 100 like every other score in mote.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import rankdata

FORMAT = 1
TOLERANCE = 1e-3  # x 100 points: what "equals MTEB's main score" allows (float32 predictions, JSON round trip)

# MTEB pair-classification scores: name in the predictions file -> higher means "more similar"
PAIR_SCORES = {
    "similarity_scores": True,
    "cosine_scores": True,
    "manhattan_distances": False,
    "euclidean_distances": False,
    "dot_scores": True,
}
RETRIEVAL_MEASURES = {"ndcg_at_10": ("ndcg_cut.10", "ndcg_cut_10"), "map_at_1000": ("map_cut.1000", "map_cut_1000")}


class UnsupportedTask(ValueError):
    """The task's type or main score has no per-item form here; the task is reported without intervals."""


def _split_data(task: Any, split: str) -> Any:
    ds = task.dataset
    if isinstance(ds, Mapping) and "default" in ds and split not in ds:
        ds = ds["default"]
    return ds[split]


def _only_subset(predictions: Mapping[str, Any], split: str) -> Any:
    subsets = [k for k in predictions if k != "mteb_model_meta"]
    if subsets != ["default"]:
        raise UnsupportedTask(f"per-item records need one subset named 'default'; the predictions hold {subsets}")
    return predictions["default"][split]


def make_record(
    task: Any, split: str, predictions: Mapping[str, Any], split_scores: Mapping[str, Any]
) -> dict[str, Any]:
    """The per-item record of one evaluated task.

    ``task``: the MTEB task (its data loaded); ``predictions``: MTEB's saved predictions file, parsed;
    ``split_scores``: MTEB's score dict of the split (``TaskResult.scores[split][0]``). Raises
    :class:`UnsupportedTask` for a type or metric without a per-item form, and ``ValueError`` when the
    record does not reproduce MTEB's main score.
    """
    kind = task.metadata.type
    metric = task.metadata.main_score
    if kind == "Clustering":
        record = _clustering(split_scores, metric)
    else:
        preds = _only_subset(predictions, split)
        if kind == "STS" and metric == "cosine_spearman":
            gold = _split_data(task, split)["score"]
            record = {"kind": "spearman", "pred": _floats(preds["cosine_scores"]), "gold": _floats(gold)}
        elif kind == "Classification" and metric == "accuracy":
            gold = _split_data(task, split)[task.label_column_name]
            runs = [list(map(_label, run)) for run in preds]
            record = {"kind": "accuracy", "pred": runs, "gold": [_label(g) for g in gold]}
        elif kind == "PairClassification" and metric == "max_ap":
            gold = _split_data(task, split)[task.label_column_name]
            record = {"kind": "max_ap", "gold": [int(g) for g in _flat(gold)],
                      "scores": {k: _floats(v) for k, v in preds.items() if k in PAIR_SCORES}}
        elif kind in {"Retrieval", "Reranking"} and metric in RETRIEVAL_MEASURES:
            record = _retrieval(task, split, preds, metric)
        else:
            raise UnsupportedTask(f"no per-item form for {kind} scored by {metric}")
    record |= {"format": FORMAT, "task": task.metadata.name, "type": kind, "metric": metric, "split": split}
    expected = 100.0 * float(split_scores["main_score"])
    got = score(record)
    if abs(got - expected) > TOLERANCE:
        raise ValueError(f"{task.metadata.name}: the per-item record scores {got:.4f}, MTEB {expected:.4f}")
    return record


def _label(x: Any) -> Any:
    return x.item() if hasattr(x, "item") else x


def _floats(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values]


def _flat(values: Sequence[Any]) -> list[Any]:
    """MTEB's older pair-classification format nests a split's columns in one row."""
    return list(values[0]) if len(values) == 1 and isinstance(values[0], (list, tuple)) else list(values)


def _clustering(split_scores: Mapping[str, Any], metric: str) -> dict[str, Any]:
    if metric != "v_measure":
        raise UnsupportedTask(f"no per-item form for Clustering scored by {metric}")
    levels = split_scores.get("v_measures")
    if not isinstance(levels, Mapping) or len(levels) != 1:
        raise UnsupportedTask(f"expected one level of v_measures in MTEB's scores, got {levels!r:.80}")
    (runs,) = levels.values()
    return {"kind": "runs", "values": [100.0 * float(v) for v in runs]}


def _retrieval(task: Any, split: str, preds: Mapping[str, Mapping[str, float]], metric: str) -> dict[str, Any]:
    import pytrec_eval

    data = _split_data(task, split)
    qrels = {str(q): {str(d): int(r) for d, r in docs.items()} for q, docs in data["relevant_docs"].items()}
    run = {str(q): {str(d): float(s) for d, s in docs.items()} for q, docs in preds.items()}
    measure, key = RETRIEVAL_MEASURES[metric]
    per_query = pytrec_eval.RelevanceEvaluator(qrels, {measure}).evaluate(run)
    ids = sorted(per_query)
    return {"kind": "mean", "ids": ids, "values": [100.0 * per_query[q][key] for q in ids]}


# -- scoring -----------------------------------------------------------------------------------------
def n_units(record: Mapping[str, Any]) -> int:
    """How many resampling units the record has."""
    kind = record["kind"]
    if kind in {"spearman", "accuracy", "max_ap"}:
        return len(record["gold"])
    return len(record["values"])


def unit_ids(record: Mapping[str, Any]) -> list[Any]:
    """What identifies the units, to check two records hold the same items in the same order."""
    if record["kind"] == "mean":
        return list(record["ids"])
    if record["kind"] == "runs":
        return list(range(len(record["values"])))
    return list(record["gold"])


def score(record: Mapping[str, Any], idx: np.ndarray | None = None) -> float:
    """The main score (x 100) on the units ``idx`` (all when None; repeats allowed)."""
    return float(scores_on(record, None if idx is None else np.asarray(idx)[None, :])[0])


def scores_on(record: Mapping[str, Any], idx: np.ndarray | None) -> np.ndarray:
    """The main score (x 100) for each row of the index matrix ``idx`` (shape resamples x units; None: all
    units once). Vectorised over rows, so a thousand resamples cost about as much as a few scorings."""
    kind = record["kind"]
    if idx is None:
        idx = np.arange(n_units(record))[None, :]
    if kind in {"mean", "runs"}:
        return np.asarray(np.asarray(record["values"], dtype=np.float64)[idx].mean(axis=1))
    if kind == "accuracy":
        gold = np.asarray(record["gold"])
        correct = np.stack([np.asarray(run) == gold for run in record["pred"]]).mean(axis=0)  # per example
        return np.asarray(100.0 * correct[idx].mean(axis=1))
    if kind == "spearman":
        pred, gold = np.asarray(record["pred"], dtype=np.float64), np.asarray(record["gold"], dtype=np.float64)
        return 100.0 * rowwise_spearman(pred[idx], gold[idx])
    if kind == "max_ap":
        gold = np.asarray(record["gold"])[idx]
        aps = [rowwise_average_precision(gold, np.asarray(v, dtype=np.float64)[idx] * (1.0 if PAIR_SCORES[k] else -1.0))
               for k, v in record["scores"].items()]
        return np.asarray(100.0 * np.max(np.stack(aps), axis=0))
    raise ValueError(f"Unknown per-item record kind {kind!r}; known: mean, runs, accuracy, spearman, max_ap.")


def rowwise_spearman(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row of ``x`` with the same row of ``y`` (ties get average ranks; 0 when a row
    is constant)."""
    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    safe = np.where(denom > 0, denom, 1.0)
    return np.where(denom > 0, (rx * ry).sum(axis=1) / safe, 0.0)


def rowwise_average_precision(labels: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """Average precision of each row, as scikit-learn defines it: sum over thresholds of (recall gain) x
    precision, tied scores forming one threshold (0 for a row without positives)."""
    order = np.argsort(-scores, axis=1, kind="stable")
    s = np.take_along_axis(scores, order, axis=1)
    tp = np.cumsum(np.take_along_axis(labels, order, axis=1).astype(np.float64), axis=1)
    precision = tp / np.arange(1, s.shape[1] + 1, dtype=np.float64)[None, :]
    tie_end = np.ones_like(s, dtype=bool)  # a threshold sits at the last item of each run of equal scores
    tie_end[:, :-1] = s[:, 1:] != s[:, :-1]
    before = np.concatenate([np.zeros((s.shape[0], 1)), np.where(tie_end, tp, np.nan)[:, :-1]], axis=1)
    last = np.where(~np.isnan(before), np.arange(s.shape[1])[None, :], 0)  # forward-fill: tp at the previous end
    np.maximum.accumulate(last, axis=1, out=last)
    gain = np.where(tie_end, tp - np.take_along_axis(before, last, axis=1), 0.0)
    positives = tp[:, -1]
    return np.where(positives > 0, (gain * precision).sum(axis=1) / np.where(positives > 0, positives, 1.0), 0.0)


# -- files ---------------------------------------------------------------------------------------------
def read_records(folder: str | Path) -> dict[str, dict[str, Any]]:
    """Task -> record, from an evaluation's ``items/`` folder (empty when it has none)."""
    root = Path(folder)
    if not root.is_dir():
        return {}
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(root.glob("*.json"))}

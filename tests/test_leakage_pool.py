"""The leakage pool holds what the evaluations score. The reference is MTEB itself: each task is built as the
MTEB task ``mote evaluate`` runs, its data loaded the way MTEB loads it, and the texts taken from the columns
MTEB's evaluator for that task type embeds (and, for retrieval, the queries and the corpus as MTEB joins it:
title + " " + text) — not from the declarations the pool is built from."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mote.data.cleaning import normalise
from mote.data.evaluations.tasks import SUITES, TASKS
from mote.data.leakage import build_eval_index

ALL_TASKS = sorted({name for names in SUITES.values() for name in names})


def _mteb_texts(name: str, root: Path) -> set[str]:
    """What MTEB embeds for task ``name``: read off the loaded MTEB task, by its evaluator's column names."""
    from mote.evaluate.local_tasks import make_task

    defn = TASKS[name]
    task: Any = make_task(defn, root)
    task.load_data()
    if defn.type in ("Retrieval", "Reranking"):
        split = task.dataset["default"][defn.split]
        texts = list(split["queries"]["text"])
        texts += [f"{t} {x}".strip() for t, x in zip(split["corpus"]["title"], split["corpus"]["text"], strict=True)]
        return set(texts)
    data = task.dataset[defn.split]
    if defn.type == "STS":
        columns = list(task.column_names)
    elif defn.type == "PairClassification":
        columns = [task.input1_column_name, task.input2_column_name]
    else:  # Classification (the evaluation split), Clustering
        columns = [task.input_column_name]
    out: set[str] = set()
    for c in columns:
        for value in data[c]:
            out.update(value if isinstance(value, list) else [value])
    return out


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ALL_TASKS)
def test_every_text_mteb_scores_is_in_the_leakage_pool(name: str, shared_data: Path) -> None:
    pytest.importorskip("mteb")
    index = build_eval_index(shared_data, {})
    texts = {normalise(t) for t in _mteb_texts(name, shared_data)}
    assert len(texts) > 50, f"{name}: MTEB's task holds {len(texts)} texts"
    missing = sorted(t for t in texts if name not in index.hits.get(t, ()))
    assert not missing, f"{name}: {len(missing)} of {len(texts)} scored texts not in the pool, e.g. {missing[:3]}"


@pytest.mark.shared_data
def test_a_recipe_that_trains_on_an_evaluation_on_purpose_keeps_its_texts_out_of_the_pool(shared_data: Path) -> None:
    """SICK-R scores all of SICK (train, trial, test); with ``evaluate_sick: false`` the recipe trains on SICK's
    train and trial splits, so only the test split's texts stay blocked."""
    on = build_eval_index(shared_data, {})
    off = build_eval_index(shared_data, {"evaluate_sick": False})
    sick = {normalise(t) for t in TASKS["SICK-R"].scored_texts(shared_data)}
    blocked_on = sum("SICK-R" in on.hits.get(t, ()) for t in sick)
    blocked_off = sum("SICK-R" in off.hits.get(t, ()) for t in sick)
    assert blocked_on == len(sick)
    assert 0 < blocked_off < blocked_on, (blocked_off, len(sick))  # the test split's texts only (5,007 of 6,077 here)


def test_every_task_is_in_a_suite_and_names_its_split() -> None:
    assert set(ALL_TASKS) == set(TASKS)
    for task in TASKS.values():
        assert task.split in {"test", "dev", "train"}, task

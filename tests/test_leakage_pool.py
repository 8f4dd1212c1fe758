"""The leakage pool holds exactly what the evaluations score: for every task of every suite, each text the
evaluation embeds (read through the task's own declaration and reader) is in the pool training rows are
checked against, so no training row can hold a scored text."""

from __future__ import annotations

from pathlib import Path

import pytest

from mote.data.cleaning import normalise
from mote.data.evaluations.tasks import SUITES, TASKS
from mote.data.leakage import build_eval_index

ALL_TASKS = sorted({name for names in SUITES.values() for name in names})


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ALL_TASKS)
def test_every_text_an_evaluation_scores_is_in_the_leakage_pool(name: str, shared_data: Path) -> None:
    index = build_eval_index(shared_data, {})
    texts = {normalise(t) for t in TASKS[name].scored_texts(shared_data)}
    assert len(texts) > 50, f"{name}: read {len(texts)} texts; the reader or scored_texts lost its data"
    missing = sorted(t for t in texts if name not in index.hits.get(t, ()))
    assert not missing, f"{name}: {len(missing)} of {len(texts)} scored texts not in the pool, e.g. {missing[:3]}"
    assert name in index.checked


def test_every_task_is_in_a_suite_and_names_its_split() -> None:
    assert set(ALL_TASKS) == set(TASKS)
    for task in TASKS.values():
        assert task.split in {"test", "dev", "train"}, task

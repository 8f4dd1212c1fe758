"""One declaration of what an evaluation reads: an evaluation task (``TaskDef``) names its data folder and split,
and that alone keeps the split out of training. The reference here is the task table read directly (folder,
split) — not the sources' own bookkeeping — and a task added in the test, which no source mentions."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mote.data.evaluations.tasks import SUITES, TASKS, TaskDef
from mote.data.sources import SOURCES, Source

ALL_TASKS = sorted({name for names in SUITES.values() for name in names})


def _sources_of(task: TaskDef) -> list[Source]:
    return [s for s in SOURCES.values() if s.path == task.source]


@pytest.mark.parametrize("name", ALL_TASKS)
def test_every_split_a_suite_scores_is_refused_for_training_by_its_source(name: str) -> None:
    task = TASKS[name]
    sources = _sources_of(task)
    assert sources, f"{name}: no training source reads folder {task.source!r}"
    for source in sources:
        if source.excluded_by is not None:  # the whole source is this evaluation (recipe flag), not a split
            continue
        split = task.source_split
        with pytest.raises(ValueError, match=name):
            source.check_split(split)


def test_a_task_added_to_the_table_holds_its_split_out_with_no_edit_to_the_source(monkeypatch) -> None:
    """Banking77's train split is trainable; a (hypothetical) task scoring it must make it untrainable, and
    the leakage pool must read it, with only the task table changed."""
    from mote.data import leakage

    SOURCES["banking77"].check_split("train")  # trainable today
    added = replace(TASKS["Banking77Classification"], name="Banking77OnTrain", split="train")
    monkeypatch.setitem(TASKS, added.name, added)
    with pytest.raises(ValueError, match="Banking77OnTrain"):
        SOURCES["banking77"].check_split("train")
    assert "Banking77OnTrain" in leakage.evaluation_splits(SOURCES["banking77"], {})["train"]


def test_held_out_splits_that_no_task_scores_say_why() -> None:
    """A split held out without a shipped task (a model-selection dev split, a published test mote does not
    score) is declared on its source with its reason; every other held-out split comes from a task."""
    scored = {(s.name, t.source_split) for t in TASKS.values() for s in _sources_of(t)}
    for source in SOURCES.values():
        for split, reason in source.reserved.items():
            assert (source.name, split) not in scored, f"{source.name}:{split} is a task's; do not reserve it"
            assert reason.strip(), f"{source.name}:{split} reserved without a reason"

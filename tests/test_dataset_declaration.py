"""One declaration of what an evaluation reads: an evaluation task (``TaskDef``) names its data folder and split,
and that alone keeps the split out of training. The reference here is the task table read directly (folder,
split) — not the sources' own bookkeeping — and a task added in the test, which no source mentions."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from mote.data.cleaning import normalise
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


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ALL_TASKS)
def test_the_split_a_task_holds_out_is_the_one_it_scores(name: str, shared_data: Path) -> None:
    """What a training source reads from the split a task holds out must be what the task scores (the task's
    texts as MTEB embeds them, read by the task's own reader): at least a fifth of it (20 Newsgroups' title-body
    pairs keep whole posts, so 0.22; every other source 0.69-1.0). A wrong ``held_split`` fails: STS12's texts
    make up 4 % of the sts13 split."""
    from mote.data.leakage import record_texts

    task = TASKS[name]
    scored = {normalise(t) for t in task.scored_texts(shared_data)}
    for source in _sources_of(task):
        if source.excluded_by is not None:
            continue
        options = {k: v for k, v in task.source_options.items() if k in source.option_names()}
        texts = {normalise(t) for t in record_texts(source.load(shared_data / source.path, task.source_split,
                                                                options))}
        assert texts, f"{name}: source {source.name!r} reads nothing from split {task.source_split!r}"
        share = len(texts & scored) / len(texts)
        assert share >= 0.2, f"{name}: only {share:.0%} of {source.name}:{task.source_split} is what the task scores"


@pytest.mark.parametrize("name", ALL_TASKS)
def test_a_task_on_a_whole_source_is_held_out_by_its_recipe_flag(name: str) -> None:
    """SciFact, SICK-R and the STC2 tasks read sources that are evaluations as a whole: their split is held out
    while the recipe flag is on and trainable when it is off; SICK's test split (never trained on) stays out."""
    from mote.data.leakage import evaluation_splits

    task = TASKS[name]
    for source in _sources_of(task):
        if source.excluded_by is None:
            continue
        assert task.source_split in evaluation_splits(source, {source.excluded_by: True})
        off = evaluation_splits(source, {source.excluded_by: False})
        if task.source_split in source.splits:
            assert task.source_split not in off
            source.check_split(task.source_split)  # trainable with the flag off
        else:
            assert task.source_split in off, f"{source.name}:{task.source_split} is never trainable"


@pytest.mark.shared_data
def test_a_subset_is_named_after_the_task_that_reads_it(shared_data: Path) -> None:
    """TweetEval's test split holds three scored subsets: a hate-test tweet is counted for TweetEvalHate, not for
    the emotion or offensive tasks (unless the same text is in their tests too)."""
    from mote.data.evaluations.classification import read_tweeteval
    from mote.data.leakage import build_eval_index

    tests = {sub: {normalise(t) for t in read_tweeteval(shared_data, subtask=sub)["test"]["text"]}
             for sub in ("emotion", "hate", "offensive")}
    only_hate = sorted(tests["hate"] - tests["emotion"] - tests["offensive"])[:200]
    index = build_eval_index(shared_data, {})
    for text in only_hate:
        assert "TweetEvalHate" in index.hits[text]
        assert not {"TweetEvalEmotion", "TweetEvalOffensive"} & index.hits[text], text


def test_held_out_splits_that_no_task_scores_say_why() -> None:
    """A split held out without a shipped task (a model-selection dev split, a published test mote does not
    score) is declared on its source with its reason; every other held-out split comes from a task."""
    scored = {(s.name, t.source_split) for t in TASKS.values() for s in _sources_of(t)}
    for source in SOURCES.values():
        for split, reason in source.reserved.items():
            assert (source.name, split) not in scored, f"{source.name}:{split} is a task's; do not reserve it"
            assert reason.strip(), f"{source.name}:{split} reserved without a reason"


@pytest.mark.shared_data
def test_the_sts_tests_stsb_reuses_are_named_as_it_names_them(shared_data: Path) -> None:
    """Under ``sts_overlap: report`` an STS-B row is kept when every evaluation it matches is one STS-B was built
    from (``Source.reuses``: STS12-STS16); the pool must name those evaluations so, STS16 (no task) included."""
    from mote.data.leakage import build_eval_index

    labels = set().union(*build_eval_index(shared_data, {}).hits.values())
    assert set(SOURCES["stsb"].reuses) <= labels

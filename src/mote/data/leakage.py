"""Leakage rules (data README): never train on text that an evaluation reads.

The evaluation pool holds the normalised texts of every split an evaluation reads (each source's
:meth:`~mote.data.sources.base.Source.held_out`: the splits the evaluation tasks score, and its reserved ones;
whole sources whose recipe flag says they are evaluated, e.g. SciFact's train qrels or all
of SICK for SICK-R) and every text each evaluation task scores, read through the task's own declaration
(:meth:`mote.data.evaluations.tasks.TaskDef.scored_texts`; ``tests/test_leakage_pool.py`` checks every task
of every suite). A training row with a text in the pool is dropped and counted per evaluation; this
covers Flickr8k / SNLI captions against SICK and the STS ``images`` / ``MSRvid`` subsets (rules 2, 3) and
STS-B train pairs taken from STS12-16 test (rule 1). Under ``sts_overlap: report`` STS-B rows whose only
matches are the STS12-16 tests it was built from are kept and reported as "seen source" instead.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from mote.data.cleaning import normalise
from mote.data.examples import Example, LabelledTexts, Pairs, Records
from mote.data.sources import SOURCES, Source

log = logging.getLogger(__name__)


def evaluation_splits(source: Source, flags: Mapping[str, bool]) -> dict[str, tuple[str, ...]]:
    """Split -> the evaluations reading it, for every split of ``source`` that an evaluation reads under
    ``flags``."""
    splits = source.held_out()
    if source.excluded_by is not None and flags.get(source.excluded_by, True):
        for split in source.splits:
            splits[split] = (*splits.get(split, ()), source.evaluation or source.name)
    return splits


def readers_of(source: Source, split: str, names: Iterable[str], options: Mapping[str, Any]) -> list[str]:
    """Of the evaluations reading ``split``, those that read the subset ``options`` loads (a task declares its
    subset in ``TaskDef.source_options``: TweetEvalHate reads ``subset=hate``); a subset no task reads is named
    after the source."""
    from mote.data.evaluations.tasks import TASKS

    kept = [n for n in names if n not in TASKS or TASKS[n].source != source.path
            or all(options.get(k) == v for k, v in TASKS[n].source_options.items())]
    variant = ", ".join(f"{k}={v}" for k, v in options.items())
    return kept or [f"{source.name} {split} [{variant}]"]


def record_texts(records: Records) -> Iterable[str]:
    if isinstance(records, LabelledTexts):
        yield from records.texts
    else:
        for e in records.examples:
            yield from e.texts()


@dataclass(frozen=True)
class EvalIndex:
    """Normalised evaluation texts -> the evaluations that read them."""

    hits: Mapping[str, frozenset[str]]
    checked: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()  # evaluations whose files are absent under data_root: not checked

    def lookup(self, text: str) -> frozenset[str]:
        return self.hits.get(normalise(text), frozenset())


def build_eval_index(data_root: Path, flags: Mapping[str, bool]) -> EvalIndex:
    """The evaluation pool under ``data_root`` (cached per root and flags)."""
    return _cached_index(str(Path(data_root).resolve()), tuple(sorted(flags.items())))


@lru_cache(maxsize=4)
def _cached_index(root: str, flags: tuple[tuple[str, bool], ...]) -> EvalIndex:
    hits: dict[str, set[str]] = defaultdict(set)
    checked: set[str] = set()
    missing: set[str] = set()
    for source in SOURCES.values():
        for split, names in evaluation_splits(source, dict(flags)).items():
            for options in source.eval_variants:
                evaluations = readers_of(source, split, names, options)
                try:
                    records = source.load(Path(root) / source.path, split, options)
                except FileNotFoundError:
                    variant = ", ".join(f"{k}={v}" for k, v in options.items())
                    missing.update(f"{e} [{variant}]" if variant and not e.endswith("]") else e for e in evaluations)
                    continue
                checked.update(evaluations)
                for text in record_texts(records):
                    hits[normalise(text)].update(evaluations)
    # what every evaluation task scores, read through its own declaration and reader (the training readers
    # above keep only what they train on: MRPC's non-paraphrases, a by-date post's subject line...)
    from mote.data.evaluations.tasks import TASKS

    allowed = {s.evaluation for s in SOURCES.values() if s.excluded_by and not dict(flags).get(s.excluded_by, True)}
    for task in TASKS.values():
        if task.name in allowed:  # the recipe trains on this evaluation's data on purpose (its flag is off)
            continue
        try:
            texts = list(task.scored_texts(root))
        except FileNotFoundError:  # a missing file; a malformed one is an error
            missing.add(task.name)
            continue
        checked.add(task.name)
        for text in texts:
            hits[normalise(text)].add(task.name)
    if missing:
        log.warning("Evaluation data not found under %s, not deduplicated against: %s", root, sorted(missing))
    return EvalIndex({k: frozenset(v) for k, v in hits.items()}, tuple(sorted(checked)), tuple(sorted(missing)))


@dataclass
class LeakageCounts:
    """What the leakage rules removed from one dataset."""

    rows: int = 0  # rows (or labelled texts) dropped
    by_evaluation: Counter[str] = field(default_factory=Counter)  # a row matching two evaluations counts in both
    negatives: int = 0  # hard negatives dropped from kept rows
    seen_source: Counter[str] = field(default_factory=Counter)  # rows kept under sts_overlap: report


def _blocked(hits: frozenset[str], report_only: Collection[str], counts: LeakageCounts) -> bool:
    if not hits:
        return False
    if hits <= set(report_only):
        counts.seen_source.update(hits)
        return False
    counts.rows += 1
    counts.by_evaluation.update(hits)
    return True


def filter_records(
    records: Records, index: EvalIndex, counts: LeakageCounts, report_only: Collection[str] = ()
) -> Records:
    """Drop rows (labelled texts) with a text in the evaluation pool; drop matching hard negatives."""
    if isinstance(records, LabelledTexts):
        out = LabelledTexts([], [], records.dropped)
        for text, label in zip(records.texts, records.labels, strict=True):
            if not _blocked(index.lookup(text), report_only, counts):
                out.texts.append(text)
                out.labels.append(label)
        return out
    kept: list[Example] = []
    for e in records.examples:
        if _blocked(index.lookup(e.anchor) | index.lookup(e.positive), report_only, counts):
            continue
        negatives = tuple(n for n in e.negatives if not index.lookup(n))
        counts.negatives += len(e.negatives) - len(negatives)
        kept.append(Example(e.anchor, e.positive, negatives, e.score, e.label) if negatives != e.negatives else e)
    return Pairs(kept, records.dropped)


# -- in-domain vs unseen evaluation tasks ---------------------------------------------------------------------
# Evaluation corpora built from another source's texts: training on the other counts as seeing this one.
# STS-B was assembled from the STS 2012-2016 shared tasks; SICK from Flickr8K captions and SemEval 2012's
# MSRvid (an STS12 subset).
NEAR_DUPLICATES: dict[str, frozenset[str]] = {
    "stsbenchmark": frozenset({"sts12-16"}),
    "sick2014": frozenset({"flickr8k-captions", "sts12-16"}),
}


def trained_sources(recipe: Any, task_set: Collection[str] | None = None) -> set[str]:
    """Data folders a recipe trains on: datasets excluded because an evaluation reads them do not count, nor
    (with ``task_set``) datasets whose task is left out of training."""
    return {recipe.source_of(name).path for name in recipe.datasets if recipe.exclusion(name) is None
            and (task_set is None or recipe.task_of(name) in task_set)}


def eval_domains(recipe: Any, tasks: Iterable[str], task_set: Collection[str] | None = None) -> dict[str, str]:
    """``{task: "in-domain" | "unseen"}``: in-domain when a split of the task's source, or a corpus it was built
    from (:data:`NEAR_DUPLICATES`), is trained on by ``recipe`` (restricted to ``task_set``, the tasks trained);
    unseen otherwise. Decided per data folder: STS13-15 count as in-domain when STS12 train is trained on, and
    a corpus *built from* a trained one counts, not the reverse (MRPC, whose sentences MSRpar reuses, is unseen;
    the recipe drops training rows whose text an evaluation reads)."""
    from mote._errors import unknown_name
    from mote.data.evaluations.tasks import TASKS

    trained = trained_sources(recipe, task_set)
    out = {}
    for name in tasks:
        if name not in TASKS:
            raise unknown_name("evaluation task", name, TASKS)
        source = TASKS[name].source
        seen = source in trained or bool(NEAR_DUPLICATES.get(source, frozenset()) & trained)
        out[name] = "in-domain" if seen else "unseen"
    return out

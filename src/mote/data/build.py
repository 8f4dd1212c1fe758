"""One recipe entry -> one ``Dataset``: read the splits, apply the leakage rules, drop empty texts and
duplicates, build examples (label-derived or capped pairs with hard negatives), tag the routes."""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from datasets import Dataset

from mote.data.cleaning import clean_labelled, clean_pairs
from mote.data.contrastive import finish_pairs, from_labelled
from mote.data.examples import LabelledTexts, merge_records, to_dataset
from mote.data.leakage import EvalIndex, filter_records
from mote.data.report import DatasetReport
from mote.data.sources import DataFormatError, Source

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetPlan:
    """A resolved recipe entry: everything needed to build one dataset."""

    name: str
    source: Source
    location: Path
    splits: tuple[str, ...]
    task: str
    positive_task: str
    max_examples: int | None
    hard_negatives: int
    seed: int
    options: Mapping[str, Any] = field(default_factory=dict)

    def new_report(self) -> DatasetReport:
        return DatasetReport(self.name, self.source.name, list(self.splits), self.task, self.positive_task)


def build_dataset(
    plan: DatasetPlan, index: EvalIndex | None, report_only: Collection[str] = ()
) -> tuple[Dataset, DatasetReport]:
    """Build the dataset of ``plan``; ``index`` is the evaluation pool (None: no deduplication)."""
    try:
        return _build(plan, index, report_only)
    except DataFormatError:
        raise  # already names the file and line
    except ValueError as e:
        raise ValueError(f"Dataset {plan.name!r} ({plan.source.name}): {e}") from None


def _build(plan: DatasetPlan, index: EvalIndex | None, report_only: Collection[str]) -> tuple[Dataset, DatasetReport]:
    report = plan.new_report()
    records = merge_records([plan.source.load(plan.location, s, plan.options) for s in plan.splits])
    report.reader_dropped.update(records.dropped)
    report.read = len(records.texts) if isinstance(records, LabelledTexts) else len(records.examples)
    if index is not None:
        records = filter_records(records, index, report.leakage, report_only)
    if isinstance(records, LabelledTexts):
        texts = clean_labelled(records, report.cleaning)
        report.available = len(texts.texts)
        examples = from_labelled(
            texts,
            max_examples=plan.max_examples,
            hard_negatives=plan.hard_negatives,
            seed=plan.seed,
            counts=report.building,
        )
    else:
        pairs = clean_pairs(records, report.cleaning)
        report.available = len(pairs)
        examples = finish_pairs(
            pairs,
            max_examples=plan.max_examples,
            hard_negatives=plan.hard_negatives,
            seed=plan.seed,
            counts=report.building,
        )
    dataset = to_dataset(examples, dataset=plan.name, anchor_task=plan.task, positive_task=plan.positive_task)
    report.rows = len(dataset)
    _log(report)
    return dataset, report


def _log(report: DatasetReport) -> None:
    log.info("%s", report.line())
    for what, counts in (
        ("reader", report.reader_dropped),
        ("cleaning", report.cleaning),
        ("building", report.building),
    ):
        for reason, n in sorted(counts.items()):
            if n:
                log.info("%s: %s dropped/changed %d: %s", report.name, what, n, reason)
    if report.leakage.negatives:
        log.info("%s: leakage dropped %d hard negatives", report.name, report.leakage.negatives)
    if report.rows == 0:
        log.warning("Dataset %r is empty after filtering.", report.name)

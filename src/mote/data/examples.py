"""The training-example schema: rows tagged with their task, one Hugging Face ``Dataset`` per source.

A row is an ``anchor`` and a ``positive`` text, optionally hard ``negatives``, a ``score`` (scored pairs)
or a ``label`` (label-derived pairs: same-label in-batch candidates are false negatives and get masked).
Every row also carries its routes: ``task`` (the anchor's task, the dataset's training settings),
``anchor_task`` and ``positive_task`` (retrieval is asymmetric: the anchor goes through ``query``, the
positive and negatives through ``document``), and ``dataset`` (its name in the recipe).

Sources first produce *records* (:class:`Pairs` or :class:`LabelledTexts`); the recipe pipeline filters
them (leakage, empty texts, duplicates) and turns them into :class:`Example` rows, then
:func:`to_dataset` makes the ``Dataset``. Optional columns are present only when the dataset has them:
a dataset never carries an all-null ``score`` or ``label`` column (the trainer reads a ``score`` column
as "scored pairs").
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset, Features, Value
from datasets import Sequence as SequenceFeature

TEXT_COLUMNS = ("anchor", "positive")
OPTIONAL_COLUMNS = ("negatives", "score", "label", "negative_labels")
ROUTE_COLUMNS = ("task", "anchor_task", "positive_task", "dataset")
COLUMNS = TEXT_COLUMNS + OPTIONAL_COLUMNS + ROUTE_COLUMNS

FEATURES = Features(
    {
        "anchor": Value("string"),
        "positive": Value("string"),
        "negatives": SequenceFeature(Value("string")),
        "score": Value("float64"),
        "label": Value("string"),
        "negative_labels": SequenceFeature(Value("string")),
        "task": Value("string"),
        "anchor_task": Value("string"),
        "positive_task": Value("string"),
        "dataset": Value("string"),
    }
)


@dataclass(frozen=True, slots=True)
class Example:
    """One training row before routing: texts and the optional score or label."""

    anchor: str
    positive: str
    negatives: tuple[str, ...] = ()
    score: float | None = None
    label: str | None = None
    negative_labels: tuple[str, ...] = ()  # label-derived rows: each negative's label (the loss masks by it)

    def texts(self) -> tuple[str, ...]:
        return (self.anchor, self.positive, *self.negatives)


@dataclass
class Pairs:
    """Records of a pair source: (anchor, positive[, hard negatives][, score]) rows.

    ``dropped`` counts rows the reader left out on purpose (e.g. unscored STS pairs), by reason.
    """

    examples: list[Example]
    dropped: Counter[str] = field(default_factory=Counter)


@dataclass
class LabelledTexts:
    """Records of a labelled-text source (classification, clustering): texts and their labels."""

    texts: list[str]
    labels: list[str]
    dropped: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        if len(self.texts) != len(self.labels):
            raise ValueError(f"Got {len(self.texts)} texts but {len(self.labels)} labels; expected one label a text.")


Records = Pairs | LabelledTexts


def merge_records(parts: Sequence[Records]) -> Records:
    """Concatenate the records of several splits of one source (all of one kind)."""
    if not parts:
        raise ValueError("No records to merge.")
    if all(isinstance(p, Pairs) for p in parts):
        pairs = Pairs([e for p in parts for e in p.examples])  # type: ignore[union-attr]
        for p in parts:
            pairs.dropped.update(p.dropped)
        return pairs
    if all(isinstance(p, LabelledTexts) for p in parts):
        texts = [t for p in parts for t in p.texts]  # type: ignore[union-attr]
        labels = [label for p in parts for label in p.labels]  # type: ignore[union-attr]
        merged = LabelledTexts(texts, labels)
        for p in parts:
            merged.dropped.update(p.dropped)
        return merged
    raise TypeError("Cannot merge pair records with labelled-text records.")


def to_dataset(examples: Sequence[Example], *, dataset: str, anchor_task: str, positive_task: str) -> Dataset:
    """Build the ``Dataset`` of one source: text columns, optional columns the rows have, routes.

    ``negatives`` is present when any row has negatives (then every row must have the same number),
    ``score`` when rows are scored, ``label`` when rows are labelled; mixing scored and unscored rows
    (or labelled and unlabelled) in one dataset is an error.
    """
    n = len(examples)
    columns: dict[str, list[Any]] = {
        "anchor": [e.anchor for e in examples],
        "positive": [e.positive for e in examples],
    }
    counts = {len(e.negatives) for e in examples}
    if counts - {0}:
        if len(counts) > 1:
            raise ValueError(
                f"Dataset {dataset!r}: rows have different numbers of hard negatives {sorted(counts)}; "
                "give every row the same number (the recipe pads or trims to hard_negatives)."
            )
        columns["negatives"] = [list(e.negatives) for e in examples]
        if all(len(e.negative_labels) == len(e.negatives) for e in examples):
            columns["negative_labels"] = [list(e.negative_labels) for e in examples]
    for name in ("score", "label"):
        values = [getattr(e, name) for e in examples]
        present = sum(v is not None for v in values)
        if present and present != n:
            raise ValueError(f"Dataset {dataset!r}: {present} of {n} rows have a {name}; expected all or none.")
        if present:
            columns[name] = values
    columns["task"] = [anchor_task] * n
    columns["anchor_task"] = [anchor_task] * n
    columns["positive_task"] = [positive_task] * n
    columns["dataset"] = [dataset] * n
    features = Features({k: FEATURES[k] for k in columns})
    return Dataset.from_dict(columns, features=features)

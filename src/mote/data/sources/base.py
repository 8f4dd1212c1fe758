"""What a source is: a reader plus the facts the recipe needs (task routes, splits, what evaluations read)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mote._errors import unknown_name
from mote.data.examples import Records

Reader = Callable[..., Records]  # reader(location: Path, split: str, **options) -> Records


@dataclass(frozen=True)
class Source:
    """A training-data source read in place from its published format.

    ``splits`` may be trained on. Which splits an evaluation reads is declared once, by the evaluation
    tasks (:mod:`mote.data.evaluations.tasks`: a task names this source's folder and the split it scores);
    ``reserved`` adds the held-out splits no shipped task scores (a dev split kept for model selection, a
    published test mote does not score), each mapped to what reads it. :meth:`held_out` is their union:
    those splits are never trained on and their texts are deduplicated against. When the recipe flag
    ``excluded_by`` is true, the whole source is an evaluation set (SciFact's train qrels, all of SICK for
    SICK-R, unsplit sets): it is not trained on and every split joins the deduplication pool.
    """

    name: str
    read: Reader
    path: str  # default location under data_root
    task: str  # the anchor's route
    description: str
    positive_task: str | None = None  # None: same as task
    splits: tuple[str, ...] = ("train",)
    reserved: Mapping[str, str] = field(default_factory=dict)  # held-out split -> what reads it (no shipped task)
    evaluation: str | None = None  # evaluation name used when excluded_by is set
    excluded_by: str | None = None
    hard_negatives: int = 0  # default number of hard negatives per row
    scored: bool = False
    eval_variants: tuple[Mapping[str, Any], ...] = ({},)  # option sets whose held-out splits all count
    reuses: tuple[str, ...] = ()  # evaluations this source took pairs from (STS-B: STS12-16); see sts_overlap

    @property
    def default_positive_task(self) -> str:
        return self.positive_task or self.task

    def option_names(self) -> list[str]:
        params = inspect.signature(self.read).parameters.values()
        return [p.name for p in params if p.kind is inspect.Parameter.KEYWORD_ONLY]

    def check_options(self, options: Mapping[str, Any]) -> None:
        allowed = self.option_names()
        for key in options:
            if key not in allowed:
                raise unknown_name(f"option of source {self.name!r}", key, allowed or ["(none)"])

    def held_out(self) -> dict[str, tuple[str, ...]]:
        """Split -> the evaluations that read it: every task scoring a split of this source's folder, and
        ``reserved``."""
        from mote.data.evaluations.tasks import TASKS  # the tasks read this layer's parsers: import late

        out: dict[str, tuple[str, ...]] = {}
        for task in TASKS.values():
            if task.source != self.path:
                continue
            if self.excluded_by is not None and task.source_split in self.splits:
                continue  # the whole source is an evaluation: the recipe flag decides (leakage.evaluation_splits)
            out[task.source_split] = (*out.get(task.source_split, ()), task.name)
        for split, reader in self.reserved.items():
            out[split] = (*out.get(split, ()), reader)
        return out

    def check_split(self, split: str) -> None:
        """Refuse a split that an evaluation reads, or that does not exist."""
        held = self.held_out()
        if split in held:
            raise ValueError(
                f"Source {self.name!r}: split {split!r} is read by the evaluation {', '.join(held[split])}; "
                f"never train on it (data README, leakage rule 5). Trainable splits: {list(self.splits) or 'none'}."
            )
        if split not in self.splits:
            raise unknown_name(f"split of source {self.name!r}", split, self.splits or ["(none)"])

    def load(self, root: Path, split: str, options: Mapping[str, Any]) -> Records:
        self.check_options(options)
        return self.read(root, split, **options)


def registry(*families: tuple[Source, ...]) -> dict[str, Source]:
    """Name -> source; rejects duplicate names."""
    out: dict[str, Source] = {}
    for family in families:
        for source in family:
            if source.name in out:
                raise ValueError(f"Source name {source.name!r} is registered twice.")
            out[source.name] = source
    return out

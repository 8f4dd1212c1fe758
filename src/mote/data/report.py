"""What loading a recipe did: rows read, dropped (by reader, leakage rule, cleaning) and kept, per dataset."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from mote.data.leakage import LeakageCounts


@dataclass
class DatasetReport:
    name: str
    source: str
    splits: list[str]
    task: str
    positive_task: str
    excluded: str | None = None  # why the dataset was not built (its data is evaluated)
    read: int = 0  # records the reader returned (pairs or labelled texts)
    reader_dropped: Counter[str] = field(default_factory=Counter)  # left out by the reader, by reason
    leakage: LeakageCounts = field(default_factory=LeakageCounts)
    cleaning: Counter[str] = field(default_factory=Counter)  # empty texts, duplicates
    building: Counter[str] = field(default_factory=Counter)  # singleton labels, padded negatives
    available: int = 0  # examples available after filtering (before max_examples)
    rows: int = 0  # rows in the dataset
    same_source: list[str] = field(default_factory=list)  # evaluations reading another split of this source

    def line(self) -> str:
        if self.excluded:
            return f"{self.name:<24} EXCLUDED: {self.excluded}"
        leak = f"leakage -{self.leakage.rows}"
        if self.leakage.by_evaluation:
            leak += " (" + ", ".join(f"{k} {v}" for k, v in sorted(self.leakage.by_evaluation.items())) + ")"
        if self.leakage.seen_source:
            leak += " seen-source " + ", ".join(f"{k} {v}" for k, v in sorted(self.leakage.seen_source.items()))
        clean = ", ".join(f"{k} -{v}" for k, v in sorted(self.cleaning.items()) if v) or "clean"
        return (
            f"{self.name:<24} {self.task}->{self.positive_task:<14} read {self.read:>6}  {leak}  {clean}  "
            f"available {self.available:>6}  rows {self.rows:>6}"
        )


@dataclass
class RecipeReport:
    recipe: str
    data_root: str
    datasets: list[DatasetReport] = field(default_factory=list)
    checked_evaluations: list[str] = field(default_factory=list)
    missing_evaluations: list[str] = field(default_factory=list)  # not found under data_root: not checked

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def rows_by_task(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for d in self.datasets:
            out[d.task] += d.rows
        return dict(out)

    def format(self) -> str:
        lines = [f"Recipe {self.recipe} (data_root {self.data_root})"]
        lines += [d.line() for d in self.datasets]
        lines.append("rows by task: " + ", ".join(f"{k} {v}" for k, v in sorted(self.rows_by_task().items())))
        seen = sorted({k for d in self.datasets for k in d.leakage.seen_source})
        if seen:
            lines.append(f"seen source (trained on pairs they contain; report as such): {seen}")
        same = sorted({k for d in self.datasets if not d.excluded for k in d.same_source})
        if same:
            lines.append(f"in-domain (another split of the same source was trained on): {same}")
        if self.missing_evaluations:
            lines.append(f"NOT deduplicated against (data absent): {self.missing_evaluations}")
        return "\n".join(lines)

"""The shape the evaluation readers return: named columns, ready for ``datasets.Dataset.from_dict``."""

from __future__ import annotations

from typing import Any

Columns = dict[str, list[Any]]  # column name -> values

__all__ = ["Columns", "label_ids"]


def label_ids(names: list[str], order: list[str] | None = None) -> tuple[list[int], list[str]]:
    """Map label names to integers (``order`` first, then sorted unseen names); return ids and the name list."""
    vocab = list(order or [])
    vocab += sorted(set(names) - set(vocab))
    index = {n: i for i, n in enumerate(vocab)}
    return [index[n] for n in names], vocab

"""The in-batch false-negative mask for label-derived examples (classification, clustering).

In a batch of (anchor_i, positive_i) rows with labels, the positive of row j is an in-batch negative for
anchor i. When rows i and j share a label, positive_j is of anchor i's class: a false negative. The loss
removes those candidates from the softmax; the diagonal (each anchor's own positive) stays the target.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def false_negative_mask(labels: Sequence[str | None]) -> torch.Tensor:
    """``(B, B)`` bool: ``mask[i, j]`` is True when ``j != i`` and ``labels[i] == labels[j]`` (not None).

    Rows without a label (None) mask nothing and are masked by nothing.

    >>> false_negative_mask(["a", "b", "a", None]).int().tolist()
    [[0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    """
    ids: dict[str, int] = {}
    codes = [-(i + 1) if y is None else ids.setdefault(y, len(ids)) for i, y in enumerate(labels)]
    return same_label_mask(torch.tensor(codes, dtype=torch.long))


def same_label_mask(label_ids: torch.Tensor) -> torch.Tensor:
    """``(B, B)`` bool from integer label ids ``(B,)``: True off the diagonal where the ids are equal.

    Give unlabelled rows unique ids (e.g. negative ones) so they mask nothing; the training loss uses this.
    """
    mask = label_ids.view(-1, 1) == label_ids.view(1, -1)  # (B, B)
    mask.fill_diagonal_(False)
    return mask

"""The false-negative mask for label-derived examples (classification, clustering).

In a batch of (anchor_i, positive_i, negative_i1..k) rows with labels, anchor i is scored against every
candidate: all positives and all hard negatives of the batch. A candidate whose label equals the anchor's
is of the anchor's own class, not a negative (a false negative): the loss removes it from the softmax. This
holds for other rows' positives (``p_j`` shares row j's label), and for *any* row's hard negatives,
including the anchor's own (a hard negative of row j is a text of a label other than row j's, which may
well be anchor i's label). Only the anchor's own positive, the target, is never masked.

Label ids are integers; a negative id (``-1`` by convention) is *unknown*: it masks nothing and is masked
by nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import torch

UNKNOWN = -1


def false_negative_mask(labels: Sequence[str | None]) -> torch.Tensor:
    """``(B, B)`` bool: ``mask[i, j]`` is True when ``j != i`` and ``labels[i] == labels[j]`` (not None).

    Rows without a label (None) mask nothing and are masked by nothing.

    >>> false_negative_mask(["a", "b", "a", None]).int().tolist()
    [[0, 0, 1, 0], [0, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    """
    ids: dict[str, int] = {}
    codes = [UNKNOWN if y is None else ids.setdefault(y, len(ids)) for y in labels]
    return same_label_mask(torch.tensor(codes, dtype=torch.long))


def same_label_mask(label_ids: torch.Tensor) -> torch.Tensor:
    """``(B, B)`` bool from integer label ids ``(B,)``: True off the diagonal where the ids are equal and
    known (>= 0). The in-batch-positives part of :func:`candidate_mask`."""
    return candidate_mask(label_ids, label_ids)


def candidate_mask(anchor_labels: torch.Tensor, candidate_labels: torch.Tensor) -> torch.Tensor:
    """``(B, C)`` bool: ``mask[i, j]`` is True when candidate ``j`` has anchor ``i``'s label (both known,
    i.e. >= 0) and ``j != i`` (candidate ``i`` is anchor ``i``'s own positive: the target, never masked).

    ``anchor_labels``: ``(B,)`` ints; ``candidate_labels``: ``(C,)`` ints, ``C >= B``, the first ``B`` being
    the anchors' positives.

    >>> candidate_mask(torch.tensor([0, 1, -1]), torch.tensor([0, 1, -1, 1, 0, -1])).int().tolist()
    [[0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0], [0, 0, 0, 0, 0, 0]]
    """
    a = anchor_labels.reshape(-1, 1)
    c = candidate_labels.reshape(1, -1).to(a.device)
    if c.shape[1] < a.shape[0]:
        raise ValueError(f"Got {c.shape[1]} candidate labels for {a.shape[0]} anchors; the first B are the positives.")
    mask = (a == c) & (a >= 0) & (c >= 0)
    idx = torch.arange(a.shape[0], device=a.device)
    mask[idx, idx] = False
    return mask


def negative_label_lookup(
    rows: Iterable[tuple[str, str, str | None]],
) -> Mapping[str, str]:
    """``{text: label}`` from ``(anchor, positive, label)`` rows of a label-derived dataset: both texts of a
    row carry its label. A text seen under two labels is left out (its label is ambiguous).

    Used to recover the label of a hard negative that the data does not label explicitly: in label-derived
    data every negative is a text of the dataset, so when it also appears as an anchor or positive, its
    label is known. Texts not found stay unknown (never masked).
    """
    out: dict[str, str] = {}
    ambiguous: set[str] = set()
    for anchor, positive, label in rows:
        if label is None:
            continue
        for text in (anchor, positive):
            if text in ambiguous:
                continue
            seen = out.setdefault(text, label)
            if seen != label:
                ambiguous.add(text)
                del out[text]
    return out

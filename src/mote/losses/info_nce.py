"""InfoNCE with in-batch and hard negatives, a per-task temperature, and complete label-aware masking.

Each anchor ``a_i`` is scored against every candidate: all positives ``p_j`` in the batch and every hard
negative ``n_jk``; the target is its own positive ``p_i``. With labels (label-derived pairs:
classification, clustering) every candidate whose label equals the anchor's is masked out of the softmax,
whichever row it belongs to: other rows' positives of the anchor's label, and *any* row's hard negatives of
the anchor's label (the anchor's own included). Same-label texts are never pushed apart; only the own
positive is kept as the target. Unknown labels (``-1``, any negative id) never mask.

Inputs (sentence-transformers column order): ``(anchor, positive, negative_1, ..., negative_k)``;
optional labels, an int tensor, either ``(batch,)`` (one label a row: positives carry it, hard negatives
are unknown) or ``(batch, 1 + k)`` (the row's label, then each hard negative's: complete masking). The
training data (:func:`mote.train.datasets.to_st_columns`) gives the second form when rows have hard
negatives.
Reference: van den Oord et al. 2018 (InfoNCE); Henderson et al. 2017 (in-batch negatives).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from torch import Tensor, nn

from mote.losses.masking import UNKNOWN, candidate_mask


def info_nce_from_embeddings(
    anchors: Tensor,
    candidates: Tensor,
    temperature: float | Tensor,
    labels: Tensor | None = None,
    candidate_labels: Tensor | None = None,
) -> Tensor:
    """Mean InfoNCE loss.

    anchors: (B, D); candidates: (C, D), C = B * (1 + k): the B positives (candidate j < B is anchor j's
    positive), then the hard negatives (``negative_1`` of every row, then ``negative_2`` ...);
    temperature: a float, or (B,) one per anchor (mixed-task batches);
    labels: (B,) int label ids of the anchors, or None (no masking);
    candidate_labels: (C,) int label ids of the candidates; default: the positives carry their row's label
    and hard negatives are unknown. Ids < 0 are unknown: never masked, never masking.
    Every candidate j != i with ``candidate_labels[j] == labels[i]`` is removed from anchor i's softmax.
    """
    b, c = anchors.shape[0], candidates.shape[0]
    if isinstance(temperature, Tensor):
        temperature = temperature.view(-1, 1).to(anchors.dtype)
    scores = F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T / temperature  # (B, C)
    if candidate_labels is not None and labels is None:
        raise ValueError("candidate_labels need the anchors' labels too (labels=...).")
    if labels is not None:
        labels = labels.reshape(-1)
        if labels.shape[0] != b:
            raise ValueError(f"Got {labels.shape[0]} labels for {b} anchors; expected one label an anchor.")
        if candidate_labels is None:
            candidate_labels = torch.cat([labels, labels.new_full((c - b,), UNKNOWN)])
        candidate_labels = candidate_labels.reshape(-1)
        if candidate_labels.shape[0] != c:
            raise ValueError(f"Got {candidate_labels.shape[0]} candidate labels for {c} candidates.")
        scores = scores.masked_fill(candidate_mask(labels, candidate_labels), float("-inf"))
    target = torch.arange(b, device=scores.device)
    return F.cross_entropy(scores, target)


def split_labels(labels: Tensor, n_candidate_columns: int) -> tuple[Tensor, Tensor | None]:
    """The anchors' ``(B,)`` labels and the candidates' ``(B * columns,)`` labels (or None: the default)
    from a collated label tensor: ``(B,)`` one a row, or ``(B, columns)`` the row's then each negative's."""
    if labels.dim() == 1:
        return labels, None
    if labels.dim() != 2 or labels.shape[1] != n_candidate_columns:
        raise ValueError(
            f"Per-candidate labels must have shape (batch, {n_candidate_columns}) (the row's label, then each "
            f"hard negative's) for {n_candidate_columns} candidate columns; got {tuple(labels.shape)}."
        )
    return labels[:, 0], labels.T.reshape(-1)  # candidates are column-major: positives, negative_1, ...


class InfoNCELoss(nn.Module, CachedLossMixin):
    """InfoNCE for (anchor, positive, *hard negatives), per-task temperature, optional label masking.

    ``mini_batch_size``: when set, gradient caching (GradCache) embeds the batch in mini-batches, so the
    contrastive batch is not limited by memory; results equal the uncached loss.
    Labels: see the module docstring; float labels (scores) are ignored.
    """

    name = "infonce"
    takes_scores = False  # (anchor, positive, *negatives) rows; scored pairs take cosent or angle

    def __init__(
        self,
        model: nn.Module,
        temperature: float = 0.05,
        mask_same_label: bool = True,
        mini_batch_size: int | None = None,
        temperature_by_task: dict[int, float] | None = None,
    ) -> None:
        super().__init__()
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        self.model = model
        self.temperature = float(temperature)
        self.mask_same_label = mask_same_label
        self.mini_batch_size = int(mini_batch_size or 0)
        self.uses_gradient_cache = bool(mini_batch_size)
        # mixed-task batches: the anchor's task (its ``task_ids`` feature) picks the temperature per row
        self.temperature_by_task = temperature_by_task or {}
        self._row_temperature: Tensor | None = None

    def _temperature(self) -> float | Tensor:
        return self._row_temperature if self._row_temperature is not None else self.temperature

    def _set_row_temperature(self, features: list[dict[str, Any]]) -> None:
        ids = features[0].get("task_ids") if features else None
        if self.temperature_by_task and isinstance(ids, Tensor):
            self._row_temperature = torch.tensor(
                [self.temperature_by_task.get(int(i), self.temperature) for i in ids.tolist()], device=ids.device
            )
        else:
            self._row_temperature = None

    def _labels(self, labels: Tensor | None, n_columns: int) -> tuple[Tensor | None, Tensor | None]:
        if not self.mask_same_label or labels is None or labels.is_floating_point():
            return None, None
        return split_labels(labels, n_columns - 1)

    def compute_loss_from_embeddings(self, embeddings: list[Tensor], labels: Tensor | None = None) -> Tensor:
        """The loss of already computed column embeddings ``[anchors, positives, *negatives]``."""
        labels_, candidate_labels = self._labels(labels, len(embeddings))
        return info_nce_from_embeddings(
            embeddings[0], torch.cat(embeddings[1:]), self._temperature(), labels_, candidate_labels
        )

    def forward(self, sentence_features: Iterable[dict[str, Any]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        self._set_row_temperature(features)
        if self.uses_gradient_cache:
            return self.forward_cached(features, labels)
        reps = [self.model(f)["sentence_embedding"] for f in features]
        return self.compute_loss_from_embeddings(reps, labels)

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        loss = self.compute_loss_from_embeddings([torch.cat(r) for r in reps], labels)
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    @property
    def citation(self) -> str:
        return "@article{oord2018infonce, title={Representation Learning with Contrastive Predictive Coding}}"

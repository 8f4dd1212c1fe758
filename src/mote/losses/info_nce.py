"""InfoNCE with in-batch and hard negatives, a per-task temperature, and label-aware masking.

Each anchor ``a_i`` is scored against every candidate: all positives ``p_j`` in the batch and every hard
negative ``n_jk``; the target is its own positive. With labels (label-derived pairs: classification,
clustering), in-batch positives ``p_j`` (j != i) that share the anchor's label are not negatives and are
masked out, so same-label texts are never pushed apart.

Inputs (sentence-transformers column order): ``(anchor, positive, negative_1, ..., negative_k)``;
optional labels: int tensor ``(batch,)``.
Reference: van den Oord et al. 2018 (InfoNCE); Henderson et al. 2017 (in-batch negatives).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from torch import Tensor, nn

from mote.data.masking import same_label_mask


def info_nce_from_embeddings(
    anchors: Tensor,
    candidates: Tensor,
    temperature: float | Tensor,
    labels: Tensor | None = None,
) -> Tensor:
    """Mean InfoNCE loss.

    anchors: (B, D); candidates: (B * (1 + k), D) = B positives followed by the hard negatives;
    temperature: a float, or (B,) one per anchor (mixed-task batches); labels: (B,) int or None.
    Candidate j < B is anchor j's positive.
    """
    b = anchors.shape[0]
    if isinstance(temperature, Tensor):
        temperature = temperature.view(-1, 1).to(anchors.dtype)
    scores = F.normalize(anchors, dim=-1) @ F.normalize(candidates, dim=-1).T / temperature  # (B, C)
    if labels is not None:
        mask = torch.zeros_like(scores, dtype=torch.bool)
        mask[:, :b] = same_label_mask(labels)  # the own positive (diagonal) stays the target
        scores = scores.masked_fill(mask, float("-inf"))
    target = torch.arange(b, device=scores.device)
    return F.cross_entropy(scores, target)


class InfoNCELoss(nn.Module, CachedLossMixin):
    """InfoNCE for (anchor, positive, *hard negatives), per-task temperature, optional label masking.

    ``mini_batch_size``: when set, gradient caching (GradCache) embeds the batch in mini-batches, so the
    contrastive batch is not limited by memory; results equal the uncached loss.
    """

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

    def _labels(self, labels: Tensor | None) -> Tensor | None:
        return labels if (self.mask_same_label and labels is not None and labels.dtype != torch.float) else None

    def forward(self, sentence_features: Iterable[dict[str, Any]], labels: Tensor | None = None) -> Tensor:
        features = list(sentence_features)
        self._set_row_temperature(features)
        if self.uses_gradient_cache:
            return self.forward_cached(features, labels)
        reps = [self.model(f)["sentence_embedding"] for f in features]
        return info_nce_from_embeddings(reps[0], torch.cat(reps[1:]), self._temperature(), self._labels(labels))

    def calculate_loss(
        self, reps: list[list[Tensor]], labels: Tensor | None = None, *, with_backward: bool = False
    ) -> Tensor:
        cols = [torch.cat(r) for r in reps]
        loss = info_nce_from_embeddings(cols[0], torch.cat(cols[1:]), self._temperature(), self._labels(labels))
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss

    @property
    def citation(self) -> str:
        return "@article{oord2018infonce, title={Representation Learning with Contrastive Predictive Coding}}"

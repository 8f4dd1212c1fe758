"""CoSENT on scored pairs (sentence-transformers' ``CoSENTLoss``), with gradient caching.

sentence-transformers has no cached CoSENT (nor AnglE), so a ``mini_batch_size`` used to be dropped for
scored pairs without a word. The loss needs only the batch's embeddings, so sentence-transformers' own
GradCache machinery (:class:`~sentence_transformers.base.losses.gradcache.CachedLossMixin`) gives it the
cached forward pass unchanged: embed mini-batches without gradients, compute the loss on the whole batch,
back-propagate through each mini-batch. Loss and gradients equal the uncached ones (tested).
Reference: Su 2022, "CoSENT".
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from sentence_transformers.base.losses.gradcache import CachedLossMixin
from sentence_transformers.sentence_transformer.losses import CoSENTLoss
from torch import Tensor, nn


class CachedFromEmbeddings(CachedLossMixin):
    """GradCache for a loss whose ``compute_loss_from_embeddings`` needs only the whole batch's embeddings."""

    def _init_cache(self, mini_batch_size: int | None) -> None:
        self.mini_batch_size = int(mini_batch_size or 0)
        self.uses_gradient_cache = bool(mini_batch_size)

    def forward(self, sentence_features: Iterable[dict[str, Tensor]], labels: Tensor) -> Tensor:
        if self.uses_gradient_cache:
            return self.forward_cached(list(sentence_features), labels)
        loss: Tensor = super().forward(sentence_features, labels)  # type: ignore[misc]
        return loss

    def calculate_loss(self, reps: list[list[Tensor]], labels: Tensor | None = None, *,
                       with_backward: bool = False) -> Tensor:
        embeddings = [torch.cat(r) for r in reps]
        loss: Tensor = self.compute_loss_from_embeddings(embeddings, labels)  # type: ignore[attr-defined]
        if with_backward:
            loss.backward()
            loss = loss.detach()
        return loss


class CoSENT(CachedFromEmbeddings, CoSENTLoss):  # type: ignore[misc]
    """CoSENT with ``scale = 1 / temperature``; gradient caching when ``mini_batch_size`` is set."""

    name = "cosent"
    takes_scores = True  # (anchor, positive, score) rows

    def __init__(self, model: nn.Module, temperature: float = 0.05, mini_batch_size: int | None = None) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        CoSENTLoss.__init__(self, model, scale=1.0 / temperature)  # type: ignore[arg-type]
        self._init_cache(mini_batch_size)

"""A task's loss weight (``tasks.<task>.weight``) applied to its loss."""

from __future__ import annotations

from typing import Any

from torch import nn


class WeightedLoss(nn.Module):
    """Scales a loss by the task's weight. Gradient caching back-propagates inside the loss, before any scaling
    could apply, so a cached loss is refused (set the weight to 1 or drop ``mini_batch_size``)."""

    def __init__(self, loss: nn.Module, weight: float) -> None:
        super().__init__()
        if getattr(loss, "uses_gradient_cache", False):
            raise ValueError(f"A task loss weight ({weight}) cannot be combined with gradient caching "
                             "(train.mini_batch_size): the cached loss back-propagates before the weight could "
                             "apply. Set the task's weight to 1.0, or train.mini_batch_size: null.")
        self.loss = loss
        self.weight = weight
        self.model = getattr(loss, "model", None)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.weight * self.loss(*args, **kwargs)

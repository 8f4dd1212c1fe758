"""Losses: one class per file, each a sentence-transformers-style ``nn.Module``, registered by name.

Every loss class declares ``name`` and ``takes_scores`` (its rows carry a float score, not a positive pair's
identity), and takes ``(model, temperature, mini_batch_size, ...)``: gradient caching is supported by every
loss here (``mini_batch_size``). ``get_loss(name, model, **settings)`` builds one; an unknown name is an error
with a "did you mean". To add a loss: a file with its class, and one line in :data:`LOSSES` below.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from mote._errors import unknown_name
from mote.losses.angle import AnglE
from mote.losses.cosent import CoSENT
from mote.losses.info_nce import InfoNCELoss, info_nce_from_embeddings
from mote.losses.weighted import WeightedLoss

LOSSES: dict[str, Any] = {cls.name: cls for cls in (InfoNCELoss, CoSENT, AnglE)}
SCORED_LOSSES = frozenset(name for name, cls in LOSSES.items() if cls.takes_scores)


def get_loss(name: str, model: nn.Module, **settings: Any) -> nn.Module:
    """The loss ``name`` on ``model`` with ``settings`` (temperature, mini_batch_size, ...)."""
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    loss: nn.Module = LOSSES[name](model, **settings)
    return loss


__all__ = ["LOSSES", "SCORED_LOSSES", "AnglE", "CoSENT", "InfoNCELoss", "WeightedLoss", "get_loss",
           "info_nce_from_embeddings"]

"""AnglE on scored pairs (sentence-transformers' ``AnglELoss``), with gradient caching as :mod:`.cosent`.

Reference: Li & Li 2023, "AnglE-optimized Text Embeddings".
"""

from __future__ import annotations

from sentence_transformers.sentence_transformer.losses import AnglELoss
from torch import nn

from mote.losses.cosent import CachedFromEmbeddings


class AnglE(CachedFromEmbeddings, AnglELoss):  # type: ignore[misc]
    """AnglE with ``scale = 1 / temperature``; gradient caching when ``mini_batch_size`` is set."""

    name = "angle"
    takes_scores = True  # (anchor, positive, score) rows

    def __init__(self, model: nn.Module, temperature: float = 0.05, mini_batch_size: int | None = None) -> None:
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}.")
        AnglELoss.__init__(self, model, scale=1.0 / temperature)  # type: ignore[arg-type]
        self._init_cache(mini_batch_size)

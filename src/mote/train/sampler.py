"""Temperature resampling across datasets (the data-imbalance baseline of the Self Positioning paper).

sentence-transformers ships proportional and round-robin multi-dataset samplers; this adds
P(dataset i) ~ n_i ** alpha (alpha=1: proportional, alpha=0: uniform), drawing batches with a seeded
generator and restarting a dataset's sampler when it runs out (small datasets are repeated).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import accumulate
from typing import Any

import torch
from sentence_transformers.base.sampler import MultiDatasetDefaultBatchSampler, NoDuplicatesBatchSampler
from torch.utils.data import BatchSampler, ConcatDataset


def no_duplicates_sampler(dataset: Any, *args: Any, **kwargs: Any) -> NoDuplicatesBatchSampler:
    """sentence-transformers' no-duplicate-texts batch sampler, blind to mixed batches' route columns
    (the same task index on many rows is not a duplicate text)."""
    routes = [c for c in getattr(dataset, "column_names", []) if c.startswith("_route")]
    if routes:
        dataset = dataset.remove_columns(routes)
    return NoDuplicatesBatchSampler(dataset, *args, **kwargs)


def temperature_probabilities(sizes: list[int], alpha: float) -> list[float]:
    """P(i) = n_i**alpha / sum_j n_j**alpha."""
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}.")
    weights = [float(n) ** alpha if n > 0 else 0.0 for n in sizes]
    total = sum(weights)
    if total <= 0:
        raise ValueError(f"All datasets are empty (sizes {sizes}).")
    return [w / total for w in weights]


class TemperatureBatchSampler(MultiDatasetDefaultBatchSampler):
    """Yields ``len(self)`` batches (as many as the proportional sampler), dataset drawn ~ n_i ** alpha."""

    def __init__(
        self,
        dataset: ConcatDataset,  # type: ignore[type-arg]
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
        alpha: float = 0.5,
    ) -> None:
        super().__init__(dataset, batch_samplers, generator=generator, seed=seed)
        self.alpha = alpha
        self.probabilities = temperature_probabilities([len(d) for d in dataset.datasets], alpha)  # type: ignore[arg-type]

    def __iter__(self) -> Iterator[list[int]]:
        gen = torch.Generator().manual_seed(self.seed + self.epoch)
        offsets = [0, *accumulate(len(d) for d in self.dataset.datasets)]  # type: ignore[arg-type]
        iterators = [iter(s) for s in self.batch_samplers]
        probs = torch.tensor(self.probabilities)
        for _ in range(len(self)):
            i = int(torch.multinomial(probs, 1, generator=gen).item())
            try:
                batch = next(iterators[i])
            except StopIteration:  # a small dataset is exhausted: start it again
                iterators[i] = iter(self.batch_samplers[i])
                batch = next(iterators[i])
            yield [idx + offsets[i] for idx in batch]

    def __len__(self) -> int:
        return sum(len(s) for s in self.batch_samplers)

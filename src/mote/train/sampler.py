"""Resampling across datasets: the data-imbalance baselines of the Self Positioning paper.

sentence-transformers ships proportional and round-robin multi-dataset samplers; this adds two that draw
each batch's dataset with a seeded generator, restarting a dataset's sampler when it runs out (small
datasets are up-sampled, large ones down-sampled):

* temperature: P(dataset i) ~ n_i ** alpha (alpha=1: proportional, alpha=0: uniform);
* ratio: P(dataset i) set by target ratios per dataset or per task (a task's share split over its
  datasets by size); no ratios = an equal share per task.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from itertools import accumulate
from typing import Any

import torch
from sentence_transformers.base.sampler import MultiDatasetDefaultBatchSampler, NoDuplicatesBatchSampler
from torch.utils.data import BatchSampler, ConcatDataset

from mote._errors import unknown_name


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


def ratio_probabilities(
    names: Sequence[str], sizes: Sequence[int], task_of: Mapping[str, str], ratios: Mapping[str, float] | None
) -> list[float]:
    """P(dataset) from target ratios keyed by dataset or task name (normalised; a task's ratio is split over
    its datasets in proportion to their sizes). ``None``/empty: every task the same share."""
    tasks = [task_of.get(n, n) for n in names]
    if not ratios:
        ratios = dict.fromkeys(tasks, 1.0)
    known = {*names, *tasks}
    for key, value in ratios.items():
        if key not in known:
            raise unknown_name("dataset or task in data.ratios", key, sorted(known))
        if not value >= 0:
            raise ValueError(f"data.ratios[{key!r}] must be >= 0, got {value}.")
    weights = []
    for name, task, size in zip(names, tasks, sizes, strict=True):
        if name in ratios:
            weights.append(float(ratios[name]))
        elif task in ratios:
            task_total = sum(s for n, t, s in zip(names, tasks, sizes, strict=True) if t == task and n not in ratios)
            weights.append(float(ratios[task]) * size / task_total if task_total else 0.0)
        else:
            missing = sorted({t for n, t in zip(names, tasks, strict=True) if n not in ratios and t not in ratios})
            raise ValueError(
                f"data.ratios gives no ratio for dataset {name!r} (task {task!r}). Give a ratio for every task or "
                f"dataset; missing tasks: {missing}. Or leave data.ratios empty for an equal share per task."
            )
    total = sum(weights)
    if total <= 0:
        raise ValueError(f"data.ratios sum to 0 over the datasets {list(names)}; give at least one positive ratio.")
    return [w / total for w in weights]


class WeightedBatchSampler(MultiDatasetDefaultBatchSampler):
    """Yields ``len(self)`` batches (as many as the proportional sampler), dataset ``i`` drawn with
    probability ``probabilities[i]`` (in the order of the training datasets)."""

    def __init__(
        self,
        dataset: ConcatDataset,  # type: ignore[type-arg]
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
        probabilities: Sequence[float] = (),
    ) -> None:
        super().__init__(dataset, batch_samplers, generator=generator, seed=seed)
        if len(probabilities) != len(batch_samplers):
            raise ValueError(f"WeightedBatchSampler got {len(probabilities)} probabilities for {len(batch_samplers)} "
                             "datasets; give one per training dataset, in the order of the datasets.")
        self.probabilities = list(probabilities)

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


class TemperatureBatchSampler(WeightedBatchSampler):
    """Dataset drawn ~ n_i ** alpha."""

    def __init__(
        self,
        dataset: ConcatDataset,  # type: ignore[type-arg]
        batch_samplers: list[BatchSampler],
        generator: torch.Generator | None = None,
        seed: int = 0,
        alpha: float = 0.5,
    ) -> None:
        sizes = [len(d) for d in dataset.datasets]  # type: ignore[arg-type]
        super().__init__(dataset, batch_samplers, generator, seed, temperature_probabilities(sizes, alpha))
        self.alpha = alpha

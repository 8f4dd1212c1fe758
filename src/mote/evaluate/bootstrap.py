"""Paired bootstrap confidence intervals for score differences between two models (or variants).

Each task's units (pairs, examples, queries, clustering runs; see :mod:`mote.evaluate.items`) are resampled
with replacement ``n`` times; the *same* resamples score both sides, so the interval is of the paired
difference. A side may hold several seeds (models trained alike): on each resample its seeds are drawn with
replacement too (a two-level bootstrap) and the side scores the mean over the drawn seeds, so an interval
covers both the test set's sampling and seed-to-seed variation; the point estimate is the mean over all
seeds. For a mean
over task types (MTEB's ``mean_over_types``) every task is resampled on its own, the per-type averages and
their mean taken on each replicate, and the interval read from those replicate means.

Intervals are percentile intervals (2.5 and 97.5 percentiles for 95 %); a difference is *resolved* when its
interval excludes zero. Everything here is pure computation on the records: no files, no models.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import fmean
from typing import Any

import numpy as np

from mote.evaluate.items import n_units, score, scores_on, unit_ids
from mote.evaluate.summary import mean_over_types

Record = Mapping[str, Any]
Side = Sequence[Mapping[str, Record]]  # one {task: record} per seed


@dataclass(frozen=True)
class Interval:
    """A paired difference ``a - b`` (x 100 points) with its percentile interval."""

    delta: float
    low: float
    high: float

    @property
    def resolved(self) -> bool:
        return self.low > 0 or self.high < 0

    def as_dict(self) -> dict[str, Any]:
        return {"delta": self.delta, "low": self.low, "high": self.high, "resolved": self.resolved}


def resample_indices(n_units_: int, n: int, key: str, seed: int = 0) -> np.ndarray:
    """``n`` resamples (rows) of ``n_units_`` indices; the same for every model scored on the task ``key``."""
    digest = int.from_bytes(hashlib.sha256(f"{seed}:{key}".encode()).digest()[:8], "little")
    return np.random.default_rng(digest).integers(0, n_units_, size=(n, n_units_))


# -- a side (one or several seeds) on a task ----------------------------------------------------------
def check_same_units(task: str, records: Sequence[Record]) -> None:
    """Every record of a task must hold the same units in the same order (else pairing is meaningless)."""
    first = unit_ids(records[0])
    for r in records[1:]:
        if unit_ids(r) != first:
            raise ValueError(f"{task}: the models were scored on different items (different evaluation data or "
                             "settings); paired intervals need the same items. Re-evaluate both with one setting.")


class Bootstrap:
    """Replicate scores per (side, task), computed once and shared by every comparison of a report."""

    def __init__(self, n: int = 1000, seed: int = 0) -> None:
        self.n = n
        self.seed = seed
        self._idx: dict[str, np.ndarray] = {}
        self._units: dict[str, Record] = {}  # task -> the first record seen: every later one must match its units
        self._reps: dict[tuple[str, str], np.ndarray] = {}

    def indices(self, task: str, units: int) -> np.ndarray:
        if task not in self._idx:
            self._idx[task] = resample_indices(units, self.n, task, self.seed)
        return self._idx[task]

    def per_seed(self, name: str, side: Side, task: str) -> np.ndarray:
        """The task's score on each resample, per seed of the side: shape (seeds, n)."""
        if (name, task) not in self._reps:
            records = [seed_records[task] for seed_records in side]
            check_same_units(task, [self._units.setdefault(task, records[0]), *records])
            idx = self.indices(task, n_units(records[0]))
            self._reps[(name, task)] = np.stack([scores_on(r, idx) for r in records])
        return self._reps[(name, task)]

    def seed_draws(self, name: str, seeds: int) -> np.ndarray:
        """Which seeds make up the side on each resample (drawn with replacement; shape (n, seeds)): the same
        draw for every task, since a seed is one model scored on all of them."""
        digest = int.from_bytes(hashlib.sha256(f"{self.seed}:seeds:{name}".encode()).digest()[:8], "little")
        return np.random.default_rng(digest).integers(0, seeds, size=(self.n, seeds))

    def replicates(self, name: str, side: Side, task: str) -> np.ndarray:
        """The side's score on each resample: items resampled, and its seeds resampled (a one-seed side
        keeps its seed), so the interval holds seed-to-seed spread as well as the test set's."""
        reps = self.per_seed(name, side, task)
        if reps.shape[0] == 1:
            return np.asarray(reps[0])
        draws = self.seed_draws(name, reps.shape[0])
        return np.asarray(reps[draws, np.arange(self.n)[:, None]].mean(axis=1))

    def task_interval(self, a: tuple[str, Side], b: tuple[str, Side], task: str, level: float = 0.95) -> Interval:
        full = fmean(_full(s, task) for s in a[1]) - fmean(_full(s, task) for s in b[1])
        diff = self.replicates(*a, task) - self.replicates(*b, task)
        return _interval(full, diff, level)

    def mean_interval(self, a: tuple[str, Side], b: tuple[str, Side], types: Mapping[str, str],
                      level: float = 0.95) -> Interval:
        """Difference of the mean over task types of ``types`` (task -> type), resampling every task."""
        full = mean_over_types(
            {t: fmean(_full(s, t) for s in a[1]) - fmean(_full(s, t) for s in b[1]) for t in types}, types)
        diff = mean_over_types({t: self.replicates(*a, t) - self.replicates(*b, t) for t in types}, types)
        return _interval(full, diff, level)


def _full(seed_records: Mapping[str, Record], task: str) -> float:
    return score(seed_records[task])


def _interval(full: float, diff: np.ndarray, level: float) -> Interval:
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(diff, [tail, 100.0 - tail])
    return Interval(float(full), float(low), float(high))

"""Turn task-tagged example datasets into sentence-transformers training datasets, losses, routes, prompts.

Input rows (see ``mote.data``): ``anchor``, ``positive``, optional ``negatives`` (list), ``score`` or
``label``, and the route: ``task`` or ``anchor_task``/``positive_task``. Output per dataset: columns
``anchor, positive, negative_1..k`` (+ ``label`` as int ids, or ``score``), the ST ``router_mapping``
(column -> task) and ``prompts`` (column -> instruction), and a loss built from the task's settings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset
from torch import nn

from mote.losses import SCORED_LOSSES, get_loss
from mote.tasks import TaskSet
from mote.train.config import TrainConfig

log = logging.getLogger(__name__)


@dataclass
class PreparedData:
    datasets: dict[str, Dataset] = field(default_factory=dict)
    losses: dict[str, nn.Module] = field(default_factory=dict)
    router_mapping: dict[str, dict[str, str]] = field(default_factory=dict)
    prompts: dict[str, dict[str, str]] = field(default_factory=dict)
    task_of: dict[str, str] = field(default_factory=dict)  # dataset -> task (the anchor's route)
    weights: dict[str, float] = field(default_factory=dict)


def _routes(ds: Dataset, name: str, tasks: TaskSet) -> tuple[str, str]:
    cols = set(ds.column_names)
    row = ds[0]
    if {"anchor_task", "positive_task"} <= cols:
        a, p = str(row["anchor_task"]), str(row["positive_task"])
    elif "task" in cols:
        a = p = str(row["task"])
    else:
        raise ValueError(
            f"Dataset {name!r} has no 'task' (or 'anchor_task'/'positive_task') column; got {sorted(cols)}."
        )
    for t in (a, p):
        tasks.resolve(t)  # unknown task -> did-you-mean error
    for col, expected in (("anchor_task", a), ("positive_task", p), ("task", a)):
        if col in cols and len(set(ds[col])) > 1:
            raise ValueError(
                f"Dataset {name!r} mixes routes in column {col!r} ({sorted(set(ds[col]))[:4]}); "
                f"split it into one dataset per task (expected all {expected!r})."
            )
    return a, p


def to_st_columns(ds: Dataset, hard_negatives: int, scored: bool) -> Dataset:
    """Select/rename to the ST column order; labels become int ids; k hard negatives become columns."""
    cols = set(ds.column_names)
    out: dict[str, list[Any]] = {"anchor": list(ds["anchor"]), "positive": list(ds["positive"])}
    if hard_negatives and not scored and "negatives" in cols:
        negs = [list(n or []) for n in ds["negatives"]]
        k = min(hard_negatives, min((len(n) for n in negs), default=0))
        if k < hard_negatives:
            log.info("Using %d of %d hard negatives (the fewest any row has).", k, hard_negatives)
        for j in range(k):
            out[f"negative_{j + 1}"] = [n[j] for n in negs]
    if scored:
        out["score"] = [float(s) for s in ds["score"]]
    elif "label" in cols and any(v is not None for v in ds["label"]):
        ids = {v: i for i, v in enumerate(sorted({str(v) for v in ds["label"]}))}
        out["label"] = [ids[str(v)] for v in ds["label"]]
    return Dataset.from_dict(out)


def prepare(
    raw: dict[str, Dataset], config: TrainConfig, model: nn.Module, tasks: TaskSet, routed: bool
) -> PreparedData:
    """Build per-dataset ST datasets, losses, router mapping and prompts for one training run.

    Datasets whose task has ``batching: mixed`` are merged into one dataset, ``mixed``, whose batches mix
    them (per-row routes, per-row temperature); all others give single-dataset batches.
    """
    prepared = PreparedData()
    mini = config.train.mini_batch_size
    mixed: dict[str, tuple[Dataset, str, str]] = {}
    for name, ds in raw.items():
        if len(ds) == 0:
            log.warning("Dataset %r is empty after filtering; skipped.", name)
            continue
        anchor_task, positive_task = _routes(ds, name, tasks)
        if config.task_training(anchor_task).batching == "mixed":
            mixed[name] = (ds, anchor_task, positive_task)
            continue
        settings = config.task_training(anchor_task)
        scored = "score" in ds.column_names and any(s is not None for s in ds["score"])
        loss_name = settings.scored_loss if scored else settings.loss
        if loss_name in SCORED_LOSSES and not scored:
            raise ValueError(f"Dataset {name!r}: loss {loss_name!r} needs a 'score' column (scored pairs).")
        st_ds = to_st_columns(ds, settings.hard_negatives, scored)
        loss = get_loss(loss_name, model, temperature=settings.temperature, mini_batch_size=mini)
        prepared.datasets[name] = st_ds
        prepared.losses[name] = WeightedLoss(loss, settings.weight) if settings.weight != 1.0 else loss
        prepared.task_of[name] = anchor_task
        prepared.weights[name] = settings.weight
        text_cols = [c for c in st_ds.column_names if c not in {"label", "score"}]
        col_task = {c: anchor_task if c == "anchor" else positive_task for c in text_cols}
        if routed:
            prepared.router_mapping[name] = col_task
        if config.model.instructions:
            prepared.prompts[name] = {c: tasks.instruction(t) for c, t in col_task.items()}
    if mixed:
        _add_mixed(prepared, mixed, config, model, tasks)
    if not prepared.datasets:
        raise ValueError("No training data: every dataset of the recipe is empty.")
    return prepared


MIXED = "mixed"


def _add_mixed(
    prepared: PreparedData,
    group: dict[str, tuple[Dataset, str, str]],
    config: TrainConfig,
    model: nn.Module,
    tasks: TaskSet,
) -> None:
    """Merge the datasets of ``batching: mixed`` tasks into one dataset with per-row routes."""
    from datasets import concatenate_datasets

    from mote.train.collator import ROUTE_ANCHOR, ROUTE_CANDIDATES

    parts, label_offset, unlabeled = [], 0, 0
    for name, (ds, anchor_task, positive_task) in group.items():
        settings = config.task_training(anchor_task)
        if "score" in ds.column_names or settings.loss != "infonce" or settings.weight != 1.0:
            raise ValueError(
                f"Dataset {name!r} (task {anchor_task!r}) cannot join a mixed batch: mixed batches use InfoNCE on "
                "unscored pairs with loss weight 1. Set batching: single for this task."
            )
        part = to_st_columns(ds, settings.hard_negatives, scored=False)
        if "label" in part.column_names:
            ids = [v + label_offset for v in part["label"]]
            label_offset = max(ids) + 1
        else:  # unique negative ids: never equal to another row's, so nothing is masked
            ids = [-(unlabeled + i + 1) for i in range(len(part))]
            unlabeled += len(part)
        part = part.remove_columns([c for c in part.column_names if c == "label"]).add_column("label", ids)
        part = part.add_column(ROUTE_ANCHOR, [tasks.index(anchor_task)] * len(part))
        parts.append(part.add_column(ROUTE_CANDIDATES, [tasks.index(positive_task)] * len(part)))
    k = min(sum(c.startswith("negative_") for c in p.column_names) for p in parts)
    parts = [
        p.remove_columns([f"negative_{j}" for j in range(k + 1, 64) if f"negative_{j}" in p.column_names])
        for p in parts
    ]
    prepared.datasets[MIXED] = concatenate_datasets(parts)
    temps = {tasks.index(t): config.task_training(t).temperature for _, t, _ in group.values()}
    prepared.losses[MIXED] = get_loss(
        "infonce",
        model,
        temperature=config.default.temperature,
        mini_batch_size=config.train.mini_batch_size,
        temperature_by_task=temps,
    )
    prepared.task_of[MIXED] = MIXED
    prepared.weights[MIXED] = 1.0


class WeightedLoss(nn.Module):
    """Scales a (non-cached) loss by the task's loss weight."""

    def __init__(self, loss: nn.Module, weight: float) -> None:
        super().__init__()
        if getattr(loss, "uses_gradient_cache", False):
            raise ValueError("Task loss weights are not supported together with gradient caching (mini_batch_size).")
        self.loss = loss
        self.weight = weight
        self.model = getattr(loss, "model", None)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.weight * self.loss(*args, **kwargs)

"""Turn task-tagged example datasets into sentence-transformers training datasets, losses, routes, prompts.

Input rows (see ``mote.data``): ``anchor``, ``positive``, optional ``negatives`` (list), ``score`` or
``label`` (optional ``negative_labels``: each negative's label, parallel to ``negatives``), and the
route: ``task`` or ``anchor_task``/``positive_task``. Output per dataset: columns
``anchor, positive, negative_1..k`` (+ ``label`` or ``score``), the ST ``router_mapping`` (column -> task)
and ``prompts`` (column -> instruction), and a loss built from the task's settings.

Labels reach the loss through sentence-transformers' ``label`` column: one int id a row without hard
negatives; with k hard negatives, ``[row id, negative_1 id, ..., negative_k id]`` a row, so the collated
``(B, 1 + k)`` tensor labels every InfoNCE candidate and the same-label mask is complete
(:mod:`mote.losses.info_nce`). A negative's label comes from ``negative_labels`` when the data has it,
else from the dataset's own rows (label-derived negatives are texts of the dataset; a text seen as an
anchor or positive has that row's label); otherwise it is unknown (-1, never masked).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from datasets import Dataset
from torch import nn

from mote.losses import SCORED_LOSSES, WeightedLoss, get_loss
from mote.losses.masking import UNKNOWN, negative_label_lookup
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
    """Select/rename to the ST column order; labels become int ids; k hard negatives become columns.

    Labelled rows with k > 0 hard negatives get ``label = [row id, negative ids...]`` (unknown: -1).
    """
    cols = set(ds.column_names)
    out: dict[str, list[Any]] = {"anchor": list(ds["anchor"]), "positive": list(ds["positive"])}
    k = 0
    negs: list[list[str]] = []
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
        out["label"] = _label_ids(ds, negs, k)
    return Dataset.from_dict(out)


def _label_ids(ds: Dataset, negs: list[list[str]], k: int) -> list[Any]:
    """Int label ids: one a row (k == 0), or ``[row, negative_1, ..., negative_k]`` a row."""
    rows = [None if v is None else str(v) for v in ds["label"]]
    if k == 0:
        ids = {v: i for i, v in enumerate(sorted({v for v in rows if v is not None}))}
        return [UNKNOWN if v is None else ids[v] for v in rows]
    if "negative_labels" in ds.column_names:
        neg_labels = [[None if v is None else str(v) for v in (n or [])][:k] for n in ds["negative_labels"]]
        if any(len(n) < k for n in neg_labels):
            raise ValueError(f"Column 'negative_labels' has fewer than {k} labels in a row; expected one a negative.")
    else:  # recover each negative's label from the rows it appears in (anchor or positive)
        known = negative_label_lookup(zip(ds["anchor"], ds["positive"], rows, strict=True))
        neg_labels = [[known.get(t) for t in n[:k]] for n in negs]
        found = sum(v is not None for n in neg_labels for v in n)
        if found < len(neg_labels) * k:
            log.info("Labels of %d of %d hard negatives recovered from the rows; the rest are unknown (not masked).",
                     found, len(neg_labels) * k)
    names = {v for v in rows if v is not None} | {v for n in neg_labels for v in n if v is not None}
    ids = {v: i for i, v in enumerate(sorted(names))}
    return [[UNKNOWN if v is None else ids[v] for v in (r, *n)] for r, n in zip(rows, neg_labels, strict=True)]


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
        if tasks.instructed:
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

    built = []
    for name, (ds, anchor_task, positive_task) in group.items():
        settings = config.task_training(anchor_task)
        if "score" in ds.column_names or settings.loss != "infonce" or settings.weight != 1.0:
            raise ValueError(
                f"Dataset {name!r} (task {anchor_task!r}) cannot join a mixed batch: mixed batches use InfoNCE on "
                "unscored pairs with loss weight 1. Set batching: single for this task."
            )
        built.append((to_st_columns(ds, settings.hard_negatives, scored=False), anchor_task, positive_task))
    k = min(sum(c.startswith("negative_") for c in p.column_names) for p, _, _ in built)
    parts, label_offset = [], 0
    labelled = any("label" in p.column_names for p, _, _ in built)
    for part, anchor_task, positive_task in built:
        part = part.remove_columns([f"negative_{j}" for j in range(k + 1, 65) if f"negative_{j}" in part.column_names])
        if "label" in part.column_names:  # offset into one id space; per-candidate lists cut to 1 + k
            rows = [v if isinstance(v, list) else [v] for v in part["label"]]
            ids = [[x + label_offset if x >= 0 else UNKNOWN for x in r[: 1 + k]] for r in rows]
            label_offset = max([label_offset - 1, *(x for r in ids for x in r)]) + 1
        else:  # unknown labels: never masked, never masking
            ids = [[UNKNOWN] * (1 + k) for _ in range(len(part))]
        if labelled:
            column = [r[0] for r in ids] if k == 0 else ids
            part = part.remove_columns([c for c in part.column_names if c == "label"]).add_column("label", column)
        part = part.add_column(ROUTE_ANCHOR, [tasks.index(anchor_task)] * len(part))
        parts.append(part.add_column(ROUTE_CANDIDATES, [tasks.index(positive_task)] * len(part)))
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

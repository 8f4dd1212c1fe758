"""Probe sets for learned and statistics-based merges: examples, task-homogeneous batches, the loss.

A probe example is ``{"anchor": str, "positive": str, "task": str}`` with optional fields:

- ``anchor_task``, ``positive_task`` (str): the routes of the two texts (default ``task``);
- ``score`` (float): a scored pair (STS); the pair is ranked by its score, never taken as a positive;
- ``label`` (str or int): a label-derived pair (classification, clustering); in-batch candidates of the
  anchor's label are not negatives (labels are compared within a ``dataset`` when rows carry one);
- ``loss``, ``scored_loss``, ``temperature``: the task's training settings (see :class:`ProbeTaskSettings`;
  every row of a task must agree). :func:`with_task_settings` writes them from a mapping.

Batches hold one task each, and either only scored or only unscored rows (as training batches hold one
dataset), so in-batch negatives never mix tasks. The loss of a batch is the task's *training* objective
(:func:`batch_loss`): the task's ``scored_loss`` (CoSENT/AnglE, sentence-transformers' losses, scale
``1 / temperature``) on scored rows; its ``loss`` (InfoNCE with in-batch negatives and same-label masking,
:func:`mote.losses.info_nce.info_nce_from_embeddings`) on unscored rows; the task's temperature. Without
settings: InfoNCE at ``temperature`` (0.05) for unscored rows, CoSENT for scored rows, label masking when
rows carry labels. The model may get replaced weights through ``torch.func.functional_call``.
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from pydantic import ConfigDict
from torch import Tensor, nn
from torch.func import functional_call

from mote._errors import unknown_name
from mote.losses import LOSSES, SCORED_LOSSES, get_loss
from mote.losses.masking import UNKNOWN
from mote.losses.settings import DEFAULT_TEMPERATURE, SETTING_KEYS, LossSettings
from mote.model.io import missing
from mote.textio import read_utf8

log = logging.getLogger(__name__)

ProbeExample = Mapping[str, Any]
REQUIRED_KEYS = ("anchor", "positive", "task")


class ProbeTaskSettings(LossSettings):
    """The training objective of one probe task: the training config's loss settings (one declaration)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @classmethod
    def from_training(cls, settings: Any) -> ProbeTaskSettings:
        """From a training task's settings (``mote.train.config.TaskTraining`` or a mapping with its fields)."""
        get = settings.get if isinstance(settings, Mapping) else lambda k, d=None: getattr(settings, k, d)
        given: dict[str, Any] = {k: get(k) for k in SETTING_KEYS if get(k) is not None}
        return cls(**given)


TaskSettings = Mapping[str, "ProbeTaskSettings | Mapping[str, Any]"]


def _settings(value: ProbeTaskSettings | Mapping[str, Any], temperature: float) -> ProbeTaskSettings:
    """A mapping entry as settings; a temperature it does not set is ``temperature``."""
    given = value.model_dump(exclude_unset=True) if isinstance(value, ProbeTaskSettings) else dict(value)
    return ProbeTaskSettings(**{"temperature": temperature, **given})


def with_task_settings(examples: Sequence[ProbeExample], task_settings: TaskSettings | None) -> list[dict[str, Any]]:
    """Copies of ``examples`` whose rows of the tasks in ``task_settings`` carry ``loss``, ``scored_loss``
    and ``temperature`` (every method that reads the probe then uses them, through any caller)."""
    out = []
    for ex in examples:
        row = dict(ex)
        if task_settings and ex["task"] in task_settings:
            entry = task_settings[ex["task"]]
            given = entry.model_dump() if isinstance(entry, ProbeTaskSettings) else dict(entry)
            row.update(ProbeTaskSettings(**given).model_dump())
        out.append(row)
    return out


def _check_row(i: int, ex: Mapping[str, Any]) -> dict[str, Any]:
    missing = [k for k in REQUIRED_KEYS if not isinstance(ex.get(k), str) or not ex.get(k)]
    if missing:
        raise ValueError(
            f"Probe example {i} lacks non-empty string field(s) {missing}; got keys {sorted(ex)}. Each "
            'example needs {"anchor": str, "positive": str, "task": str}.'
        )
    row: dict[str, Any] = {k: str(v) for k, v in ex.items() if isinstance(v, str) and k not in ("score", "label")}
    score = ex.get("score")
    if score is not None:
        if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
            raise ValueError(f"Probe example {i}: 'score' must be a finite number, got {score!r}.")
        row["score"] = float(score)
    label = ex.get("label")
    if label is not None:
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            raise ValueError(f"Probe example {i}: 'label' must be a string or an integer, got {label!r}.")
        row["label"] = str(label)
    if "temperature" in ex:
        t = ex["temperature"]
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not t > 0:
            raise ValueError(f"Probe example {i}: 'temperature' must be a number > 0, got {t!r}.")
        row["temperature"] = float(t)
    for key in ("loss", "scored_loss"):
        if key in ex and ex[key] not in LOSSES:
            raise unknown_name(f"loss (probe example {i}, {key!r})", str(ex[key]), LOSSES)
    return row


def check_probe(examples: Sequence[Mapping[str, Any]], min_per_task: int = 2) -> list[dict[str, Any]]:
    """Validate probe examples (see the module docstring for the fields); an empty set, a task with fewer
    than ``min_per_task`` examples, or rows of one task with different settings raise."""
    if not examples:
        raise ValueError(
            "The probe set is empty: learned and statistics-based merges need examples "
            '{"anchor": ..., "positive": ..., "task": ...}. Give probe.jsonl with at least 2 per task.'
        )
    out = [_check_row(i, ex) for i, ex in enumerate(examples)]
    counts = {t: len(v) for t, v in by_task(out).items()}
    few = {t: n for t, n in counts.items() if n < min_per_task}
    if few:
        raise ValueError(
            f"Probe tasks {few} have fewer than {min_per_task} examples; in-batch negatives need at least "
            f"{min_per_task} per task. Add examples or drop those tasks."
        )
    for task, rows in by_task(out).items():
        for key in SETTING_KEYS:
            values = {r.get(key) for r in rows}
            if len(values) > 1:
                raise ValueError(f"Probe rows of task {task!r} disagree on {key!r}: {sorted(map(str, values))}; "
                                 "a task has one training setting.")
    # scored and unscored rows are batched apart: a kind with too few rows of its task cannot form a batch
    small = {key for key, rows in batch_groups(out).items() if len(rows) < min_per_task}
    if small:
        kept = [ex for ex in out if (ex["task"], ex.get("score") is not None) not in small]
        lost = sorted(set(by_task(out)) - set(by_task(kept)))
        if lost:
            raise ValueError(
                f"Probe tasks {lost} have fewer than {min_per_task} scored and fewer than {min_per_task} unscored "
                "examples; scored and unscored rows are batched apart. Add examples or drop those tasks."
            )
        log.warning("Probe: left out %d row(s) of %s: fewer than %d scored (or unscored) rows of the task to batch.",
                    len(out) - len(kept), sorted(f"{t} ({'scored' if s else 'unscored'})" for t, s in small),
                    min_per_task)
        out = kept
    return out


def load_probe_jsonl(
    path: str | os.PathLike[str], size: int | None = None, seed: int = 0, tasks: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Read a JSONL probe file; keep ``tasks`` only; sample ``size`` examples (seeded) when larger."""
    path = Path(path)
    if not path.is_file():
        raise missing("Probe file", path)
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(read_utf8(path, "Probe file").splitlines(), 1):
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e}).") from None
    if tasks is not None:
        rows = [r for r in rows if r.get("task") in set(tasks)]
    if size is not None and len(rows) > size:
        rows = random.Random(seed).sample(rows, size)
    return check_probe(rows)


def by_task(examples: Sequence[ProbeExample]) -> dict[str, list[ProbeExample]]:
    groups: dict[str, list[ProbeExample]] = {}
    for ex in examples:
        groups.setdefault(ex["task"], []).append(ex)
    return groups


def batch_groups(examples: Sequence[ProbeExample]) -> dict[tuple[str, bool], list[ProbeExample]]:
    """Rows grouped by (task, scored): the rows one batch may hold together."""
    groups: dict[tuple[str, bool], list[ProbeExample]] = {}
    for ex in examples:
        groups.setdefault((ex["task"], ex.get("score") is not None), []).append(ex)
    return groups


def fixed_batches(examples: Sequence[ProbeExample], batch_size: int) -> list[list[ProbeExample]]:
    """Deterministic batches of one task and one kind (scored or not) covering every example once (a last
    batch of 1 joins the previous)."""
    out: list[list[ProbeExample]] = []
    for group in batch_groups(examples).values():
        chunks = [list(group[i : i + batch_size]) for i in range(0, len(group), batch_size)]
        if len(chunks) > 1 and len(chunks[-1]) < 2:
            chunks[-2].extend(chunks.pop())
        out.extend(chunks)
    return out


def sampled_batches(examples: Sequence[ProbeExample], batch_size: int, seed: int) -> Iterator[list[ProbeExample]]:
    """Endless batches of one task and kind: groups in round-robin order; per group, shuffled epochs without
    replacement (an epoch's remainder smaller than a batch is dropped, so no batch repeats an example)."""
    rng = random.Random(seed)
    groups = batch_groups(examples)
    pools: dict[tuple[str, bool], list[ProbeExample]] = {g: [] for g in groups}
    while True:
        for key, group in groups.items():
            size = min(batch_size, len(group))
            if len(pools[key]) < size:
                pools[key] = rng.sample(list(group), len(group))
            batch, pools[key] = pools[key][:size], pools[key][size:]
            yield batch


def embed(
    model: nn.Module,
    texts: Sequence[str],
    params: Mapping[str, Tensor] | None = None,
    forward_kwargs: Mapping[str, Any] | None = None,
) -> Tensor:
    """Sentence embeddings ``(B, D)`` of ``texts``; ``params`` (full module names) replace the model's own."""
    features = dict(model.preprocess(list(texts)))  # type: ignore[operator]
    device = next(model.parameters()).device
    features = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in features.items()}
    kwargs = dict(forward_kwargs or {})
    if params:
        out = functional_call(model, dict(params), args=(features,), kwargs=kwargs, strict=False)
    else:
        out = model(features, **kwargs)
    emb: Tensor = out["sentence_embedding"]
    return emb


def task_settings_of(
    batch: Sequence[ProbeExample], task_settings: TaskSettings | None = None, temperature: float = DEFAULT_TEMPERATURE
) -> ProbeTaskSettings:
    """The settings of a single-task batch: ``task_settings[task]``, else the rows' own ``loss``,
    ``scored_loss``, ``temperature`` fields, else the defaults (InfoNCE/CoSENT at ``temperature``)."""
    tasks = {ex["task"] for ex in batch}
    if len(tasks) != 1:
        raise ValueError(f"A probe batch holds one task; got {sorted(tasks)}.")
    task = tasks.pop()
    if task_settings and task in task_settings:
        return _settings(task_settings[task], temperature)
    return _settings({k: batch[0][k] for k in SETTING_KEYS if k in batch[0]}, temperature)


def _label_ids(batch: Sequence[ProbeExample]) -> Tensor | None:
    """Int ids of the rows' labels (-1: none). Labels are per dataset: with a ``dataset`` field, equal label
    names of two datasets are different labels."""
    if all(ex.get("label") is None for ex in batch):
        return None
    ids: dict[tuple[Any, str], int] = {}
    return torch.tensor([
        UNKNOWN if ex.get("label") is None else ids.setdefault((ex.get("dataset"), str(ex["label"])), len(ids))
        for ex in batch
    ])


def batch_loss(
    model: nn.Module,
    batch: Sequence[ProbeExample],
    params: Mapping[str, Tensor] | None = None,
    temperature: float = DEFAULT_TEMPERATURE,
    route: bool = False,
    task_settings: TaskSettings | None = None,
) -> Tensor:
    """The training loss of the batch's task on a single-task batch (see the module docstring).

    Scored rows (all with ``score``): the task's ``scored_loss`` (default CoSENT). Unscored rows: its
    ``loss`` (default InfoNCE with in-batch negatives; same-label candidates masked when rows carry
    ``label``). ``temperature``: used for tasks without a temperature setting. ``route`` (MoTE models):
    anchors go through the expert of ``anchor_task`` (default ``task``) and positives through that of
    ``positive_task`` (default ``task``).
    """
    settings = task_settings_of(batch, task_settings, temperature)
    scored = [ex.get("score") is not None for ex in batch]
    if any(scored) and not all(scored):
        raise ValueError("A probe batch holds either scored rows (with 'score') or unscored rows, not both.")
    name = settings.scored_loss if all(scored) else settings.loss
    if name in SCORED_LOSSES and not all(scored):
        raise ValueError(f"Probe task {batch[0]['task']!r}: loss {name!r} needs a 'score' on each row (scored pairs).")
    a_kw: dict[str, Any] = {"task": [ex.get("anchor_task", ex["task"]) for ex in batch]} if route else {}
    p_kw: dict[str, Any] = {"task": [ex.get("positive_task", ex["task"]) for ex in batch]} if route else {}
    anchors = embed(model, [ex["anchor"] for ex in batch], params, a_kw)  # (B, D)
    positives = embed(model, [ex["positive"] for ex in batch], params, p_kw)  # (B, D)
    if all(scored):
        labels: Tensor | None = torch.tensor([float(ex["score"]) for ex in batch], device=anchors.device)
    else:
        labels = _label_ids(batch)
        labels = labels.to(anchors.device) if labels is not None else None
    loss_fn = get_loss(name, model, temperature=settings.temperature)  # the trainer's loss and settings
    loss: Tensor = loss_fn.compute_loss_from_embeddings([anchors, positives], labels)  # type: ignore[operator]
    return loss


@torch.no_grad()
def probe_loss(
    model: nn.Module,
    examples: Sequence[ProbeExample],
    params: Mapping[str, Tensor] | None = None,
    batch_size: int = 32,
    temperature: float = DEFAULT_TEMPERATURE,
    task_settings: TaskSettings | None = None,
) -> float:
    """Mean of :func:`batch_loss` over :func:`fixed_batches` of the whole probe set (no gradients)."""
    batches = fixed_batches(examples, batch_size)
    losses = [float(batch_loss(model, b, params, temperature, task_settings=task_settings)) for b in batches]
    return sum(losses) / len(losses)


def backbone(model: nn.Module) -> nn.Module:
    """The Hugging Face model inside a sentence-transformers model's first (Transformer) module."""
    inner = getattr(model[0], "model", None)  # type: ignore[index]
    if not isinstance(inner, nn.Module):
        raise TypeError(f"The first module of this model is {type(model[0]).__name__}, not a Transformer.")  # type: ignore[index]
    return inner


@contextmanager
def frozen(model: nn.Module, trainable: Collection[str] = ()) -> Iterator[None]:
    """Eval mode (no dropout) and no gradients except for the parameters named in ``trainable``.

    Every module's mode and every parameter's ``requires_grad`` are restored afterwards.
    """
    modes = [(m, m.training) for m in model.modules()]
    flags = [(name, p, p.requires_grad) for name, p in model.named_parameters()]
    model.eval()
    for name, p, _ in flags:
        p.requires_grad_(name in trainable)
    try:
        yield
    finally:
        for m, mode in modes:
            m.training = mode
        for _, p, flag in flags:
            p.requires_grad_(flag)


def module_prefix(model: nn.Module, inner: nn.Module) -> str:
    """The name prefix (``"0.model."``) of ``inner``'s parameters inside ``model``."""
    for name, module in model.named_modules():
        if module is inner:
            return f"{name}." if name else ""
    raise ValueError("The inner module is not part of the model.")

"""Probe sets for learned and statistics-based merges: examples, task-homogeneous batches, the loss.

A probe example is ``{"anchor": str, "positive": str, "task": str}`` (extra keys such as
``positive_task`` or ``label`` are allowed and ignored here). Batches hold one task each, so in-batch
negatives never mix tasks. The loss is mean InfoNCE with in-batch negatives
(:func:`mote.losses.info_nce.info_nce_from_embeddings`) on the sentence-transformers model, optionally
with replaced weights through ``torch.func.functional_call``.
"""

from __future__ import annotations

import json
import os
import random
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from mote.losses.info_nce import info_nce_from_embeddings

ProbeExample = Mapping[str, str]
REQUIRED_KEYS = ("anchor", "positive", "task")


def check_probe(examples: Sequence[Mapping[str, Any]], min_per_task: int = 2) -> list[dict[str, str]]:
    """Validate probe examples; an empty set or a task with < ``min_per_task`` examples raises."""
    if not examples:
        raise ValueError(
            "The probe set is empty: learned and statistics-based merges need examples "
            '{"anchor": ..., "positive": ..., "task": ...}. Give probe.jsonl with at least 2 per task.'
        )
    out = []
    for i, ex in enumerate(examples):
        missing = [k for k in REQUIRED_KEYS if not isinstance(ex.get(k), str) or not ex.get(k)]
        if missing:
            raise ValueError(
                f"Probe example {i} lacks non-empty string field(s) {missing}; got keys {sorted(ex)}. Each "
                'example needs {"anchor": str, "positive": str, "task": str}.'
            )
        out.append({k: str(v) for k, v in ex.items() if isinstance(v, str)})
    counts = {t: len(v) for t, v in by_task(out).items()}
    few = {t: n for t, n in counts.items() if n < min_per_task}
    if few:
        raise ValueError(
            f"Probe tasks {few} have fewer than {min_per_task} examples; in-batch negatives need at least "
            f"{min_per_task} per task. Add examples or drop those tasks."
        )
    return out


def load_probe_jsonl(
    path: str | os.PathLike[str], size: int | None = None, seed: int = 0, tasks: Sequence[str] | None = None
) -> list[dict[str, str]]:
    """Read a JSONL probe file; keep ``tasks`` only; sample ``size`` examples (seeded) when larger."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Probe file {str(path)!r} does not exist.")
    rows: list[dict[str, Any]] = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
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


def fixed_batches(examples: Sequence[ProbeExample], batch_size: int) -> list[list[ProbeExample]]:
    """Deterministic single-task batches covering every example once (a last batch of 1 joins the previous)."""
    out: list[list[ProbeExample]] = []
    for group in by_task(examples).values():
        chunks = [list(group[i : i + batch_size]) for i in range(0, len(group), batch_size)]
        if len(chunks) > 1 and len(chunks[-1]) < 2:
            chunks[-2].extend(chunks.pop())
        out.extend(chunks)
    return out


def sampled_batches(examples: Sequence[ProbeExample], batch_size: int, seed: int) -> Iterator[list[ProbeExample]]:
    """Endless single-task batches: tasks in round-robin order; per task, shuffled epochs without replacement
    (an epoch's remainder smaller than a batch is dropped, so no batch repeats an example)."""
    rng = random.Random(seed)
    groups = by_task(examples)
    pools: dict[str, list[ProbeExample]] = {t: [] for t in groups}
    while True:
        for task, group in groups.items():
            size = min(batch_size, len(group))
            if len(pools[task]) < size:
                pools[task] = rng.sample(list(group), len(group))
            batch, pools[task] = pools[task][:size], pools[task][size:]
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


def batch_loss(
    model: nn.Module,
    batch: Sequence[ProbeExample],
    params: Mapping[str, Tensor] | None = None,
    temperature: float = 0.05,
    route: bool = False,
) -> Tensor:
    """Mean InfoNCE (in-batch negatives) of a single-task batch.

    ``route`` (MoTE models): anchors go through the expert of ``anchor_task`` (default ``task``) and
    positives through that of ``positive_task`` (default ``task``).
    """
    a_kw: dict[str, Any] = {"task": [ex.get("anchor_task", ex["task"]) for ex in batch]} if route else {}
    p_kw: dict[str, Any] = {"task": [ex.get("positive_task", ex["task"]) for ex in batch]} if route else {}
    anchors = embed(model, [ex["anchor"] for ex in batch], params, a_kw)  # (B, D)
    positives = embed(model, [ex["positive"] for ex in batch], params, p_kw)  # (B, D)
    return info_nce_from_embeddings(anchors, positives, temperature)


@torch.no_grad()
def probe_loss(
    model: nn.Module,
    examples: Sequence[ProbeExample],
    params: Mapping[str, Tensor] | None = None,
    batch_size: int = 32,
    temperature: float = 0.05,
) -> float:
    """Mean of :func:`batch_loss` over :func:`fixed_batches` of the whole probe set (no gradients)."""
    batches = fixed_batches(examples, batch_size)
    losses = [float(batch_loss(model, b, params, temperature)) for b in batches]
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

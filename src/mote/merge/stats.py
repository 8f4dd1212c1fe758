"""Per-model statistics for Fisher merging and RegMean, measured on a probe sample.

Both take the sentence-transformers model and a mapping from the names used inside it to the names the
statistics are returned under (the state-dict names being merged), so one function serves dense
fine-tunes (``"0.model.encoder.layer.0.intermediate.dense.weight"`` -> ``"encoder.layer.0..."``) and one
expert of a MoTE model (``"...intermediate.experts.2.dense.weight"`` -> the dense name).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from mote.merge.probe import ProbeExample, TaskSettings, batch_loss, fixed_batches, frozen


def diagonal_fisher(
    model: nn.Module,
    examples: Sequence[ProbeExample],
    names: Mapping[str, str],
    batch_size: int = 32,
    temperature: float = 0.05,
    route: bool = False,
    task_settings: TaskSettings | None = None,
) -> dict[str, Tensor]:
    """Mean over probe batches of the squared gradient of each batch's task loss (the task's training
    objective, :func:`mote.merge.probe.batch_loss`: CoSENT/AnglE on scored rows, masked InfoNCE otherwise,
    the task's temperature; ``temperature`` for tasks without one), per parameter in ``names``.

    Parameters that get no gradient have Fisher 0. The model's weights are not changed.
    """
    params = dict(model.named_parameters())
    sums = {n: torch.zeros_like(params[n], dtype=torch.float32) for n in names}
    batches = fixed_batches(examples, batch_size)
    with frozen(model, trainable=names):
        for batch in batches:
            model.zero_grad(set_to_none=True)
            batch_loss(model, batch, temperature=temperature, route=route, task_settings=task_settings).backward()
            for n in names:
                grad = params[n].grad
                if grad is not None:
                    sums[n] += grad.float() ** 2
        model.zero_grad(set_to_none=True)
    return {names[n]: s / len(batches) for n, s in sums.items()}


def gram_matrices(
    model: nn.Module,
    examples: Sequence[ProbeExample],
    linears: Mapping[str, str],
    batch_size: int = 32,
    route: bool = False,
) -> dict[str, Tensor]:
    """``X^T X / n_tokens`` of the inputs of each ``nn.Linear`` named in ``linears`` (padding excluded).

    ``linears`` maps module names in ``model`` to the name of that layer's weight in the merged state dict.
    """
    modules = dict(model.named_modules())
    sums: dict[str, Tensor] = {}
    counts: dict[str, int] = dict.fromkeys(linears, 0)
    mask: dict[str, Tensor | None] = {"current": None}

    def hook_for(name: str) -> Any:
        def hook(_module: nn.Module, args: tuple[Tensor, ...]) -> None:
            x = _valid_tokens(args[0], mask["current"])  # (tokens, in)
            g = x.double().T @ x.double()
            sums[name] = sums[name] + g if name in sums else g
            counts[name] += x.shape[0]

        return hook

    with _hooks(modules, linears, hook_for), torch.no_grad(), _mask_capture(model, mask), frozen(model):
        for batch in fixed_batches(examples, batch_size):
            batch_loss(model, batch, route=route)  # the forward passes feed the hooks; the loss is unused
    missing = sorted(set(linears) - set(sums))
    if missing:
        raise ValueError(f"RegMean: no inputs reached linear layer(s) {missing[:3]}; check the routing/probe tasks.")
    return {linears[n]: (sums[n] / max(counts[n], 1)).float() for n in linears}


def _valid_tokens(x: Tensor, attention: Tensor | None) -> Tensor:
    if attention is not None and x.dim() == 3 and tuple(x.shape[:2]) == tuple(attention.shape):
        return x[attention.bool()]
    return x.reshape(-1, x.shape[-1])


@contextmanager
def _hooks(modules: Mapping[str, nn.Module], linears: Mapping[str, str], hook_for: Any) -> Iterator[None]:
    handles = []
    for name in linears:
        module = modules.get(name)
        if not isinstance(module, nn.Linear):
            raise ValueError(f"RegMean: {name!r} is not an nn.Linear in this model.")
        handles.append(module.register_forward_pre_hook(hook_for(name)))
    try:
        yield
    finally:
        for h in handles:
            h.remove()


@contextmanager
def _mask_capture(model: nn.Module, mask: dict[str, Tensor | None]) -> Iterator[None]:
    """Record each forward's ``attention_mask`` so hooks can drop padding tokens."""

    def pre(_module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        features = args[0] if args else kwargs.get("input")
        mask["current"] = features.get("attention_mask") if isinstance(features, dict) else None

    handle = model.register_forward_pre_hook(pre, with_kwargs=True)
    try:
        yield
    finally:
        handle.remove()

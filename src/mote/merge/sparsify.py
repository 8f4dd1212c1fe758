"""Pure pieces of the task-arithmetic family: trim, drop, elect a sign, merge the agreeing entries.

Each works on one tensor (or a stack of N task vectors, shape ``(N, *shape)``) and matches mergekit
0.1.5's ``sparsify.py`` / ``get_mask`` per-tensor semantics:

- :func:`trim_magnitude` keeps the ``max(1, int(density * numel))`` entries of largest magnitude, no rescale;
- :func:`bernoulli_drop` keeps each entry with probability ``density`` (one ``torch.bernoulli`` draw per
  call, float32 on the CPU) and by default rescales the kept entries to the ORIGINAL L1 norm (mergekit's
  ``rescale: true``); ``"inverse"`` divides by ``density`` instead (the DARE paper), ``"none"`` keeps them;
- :func:`elect_sign` is ``sign(sum_i delta_i)`` with a zero sum counted as ``+``;
- :func:`disjoint_merge` sums the entries whose sign agrees with the elected one (zeros never agree) and,
  when ``normalize``, divides by the summed weights of the agreeing models (1 where none agree);
  :func:`agreement_mask` is that agreement as an ``(N, *shape)`` mask.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

RESCALE_EPS = 1e-7


def trim_magnitude(delta: Tensor, density: float) -> Tensor:
    """Zero all but the top ``max(1, int(density * numel))`` entries by absolute value."""
    if density >= 1:
        return delta
    if density <= 0 or delta.numel() == 0:
        return torch.zeros_like(delta)
    k = max(1, int(density * delta.numel()))
    keep = torch.topk(delta.abs().reshape(-1).float(), k, sorted=False).indices
    out = torch.zeros_like(delta).reshape(-1)
    out[keep] = delta.reshape(-1)[keep]
    return out.reshape(delta.shape)


def rescale_to_norm(original: Tensor, masked: Tensor, norm: str = "l1") -> Tensor:
    """Scale ``masked`` so its L1 norm equals ``original``'s (unchanged when either is ~0)."""
    if norm != "l1":
        raise ValueError(f"Unknown rescale norm {norm!r}; only 'l1' is implemented.")
    before, after = original.abs().sum(), masked.abs().sum()
    if before < RESCALE_EPS or after < RESCALE_EPS:
        return masked
    return masked * (before / after)


def bernoulli_drop(
    delta: Tensor, density: float, rescale: str = "l1", generator: torch.Generator | None = None
) -> Tensor:
    """DARE's random drop: keep each entry with probability ``density``; rescale the survivors.

    ``rescale``: ``"l1"`` (to the original L1 norm, mergekit), ``"inverse"`` (divide by ``density``, the
    paper; unbiased), ``"none"``. ``density >= 1`` returns ``delta`` and draws nothing from ``generator``.
    """
    if density >= 1:
        return delta
    # drawn on the CPU like mergekit draws CPU masks (float32, bf16 for bf16 tensors), so seeded streams match
    # mergekit's and do not depend on the device (mergekit draws GPU masks on the GPU)
    mask_dtype = torch.bfloat16 if delta.dtype == torch.bfloat16 else torch.float32
    mask = torch.bernoulli(torch.full(delta.shape, density, dtype=mask_dtype), generator=generator)
    kept = delta * mask.to(device=delta.device, dtype=delta.dtype)
    if rescale == "l1":
        kept = rescale_to_norm(delta, kept)
    elif rescale == "inverse":
        kept = kept / density
    elif rescale != "none":
        raise ValueError(f"rescale must be 'l1', 'inverse' or 'none'; got {rescale!r}.")
    return kept.to(delta.dtype)


def elect_sign(deltas: Tensor) -> Tensor:
    """Elected sign per entry of a ``(N, *shape)`` stack: ``+1`` where the sum is >= 0, else ``-1``."""
    return (deltas.sum(dim=0) >= 0).to(deltas.dtype) * 2 - 1


def agreement_mask(deltas: Tensor, sign: Tensor) -> Tensor:
    """``(N, *shape)`` bool: entry ``i`` has the elected sign (zero entries never agree)."""
    return deltas.sign() == sign


def disjoint_merge(deltas: Tensor, weights: Tensor, sign: Tensor | None, normalize: bool) -> Tensor:
    """Sum of (already weighted) ``deltas`` whose sign agrees with ``sign``; optionally divided by weights.

    ``deltas``: ``(N, *shape)`` with model i's weight already applied (disagreeing entries are zeroed in
    place, one model at a time, so no ``(N, *shape)`` mask is built); ``weights``: ``(N,)``; ``sign``: the
    elected sign, or None for a plain sum whose divisor is the sum of all weights.
    """
    if sign is None:
        merged = deltas.sum(dim=0)
        total = float(weights.sum())
        return merged / (1.0 if abs(total) < 1e-8 else total) if normalize else merged
    merged = torch.zeros_like(sign)
    divisor = torch.zeros_like(sign)
    for w, delta in zip(weights.tolist(), deltas, strict=True):
        agrees = delta.sign() == sign  # zeros never agree
        merged.add_(delta.mul_(agrees))
        divisor.add_(agrees, alpha=w)
    if not normalize:
        return merged
    divisor[divisor == 0] = 1
    return merged.div_(divisor)


def stack_deltas(tensors: Sequence[Tensor], base: Tensor) -> Tensor:
    """``(N, *shape)`` task vectors ``t_i - base`` in the working dtype (float32, or float64 if given)."""
    dtype = torch.promote_types(base.dtype, torch.float32)
    out = torch.empty((len(tensors), *base.shape), dtype=dtype, device=base.device)
    for i, t in enumerate(tensors):
        torch.sub(t.to(dtype), base.to(dtype), out=out[i])
    return out

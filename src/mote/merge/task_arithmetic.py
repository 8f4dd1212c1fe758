"""Task arithmetic, and the family core that TIES and DARE are configured instances of.

:func:`generalized_task_arithmetic` follows mergekit 0.1.5's ``GeneralizedTaskArithmeticMerge`` per
tensor: ``tau_i = theta_i - theta_0``; optionally sparsified (magnitude trim or Bernoulli drop);
multiplied by ``w_i``; optionally sign-elected (TIES consensus ``sum``); summed, divided by the (agreeing)
weights when ``normalize``; times ``lambda``; added to ``theta_0``.
"""

from __future__ import annotations

from typing import Annotated, Literal

import torch
from torch import Tensor

from mote.merge.params import SCALE
from mote.merge.registry import merge_method
from mote.merge.sparsify import (
    bernoulli_drop,
    disjoint_merge,
    elect_sign,
    stack_deltas,
    trim_magnitude,
)

Sparsify = Literal["magnitude", "random"] | None


def generalized_task_arithmetic(
    tensors: list[Tensor],
    base: Tensor,
    *,
    weights: list[float] | None,
    lambda_: float,
    normalize: bool,
    sparsify: Sparsify = None,
    density: float = 1.0,
    consensus: bool = False,
    rescale: str = "l1",
    generator: torch.Generator | None = None,
) -> Tensor:
    """The shared body of task_arithmetic / ties / dare_linear / dare_ties for one tensor."""
    deltas = stack_deltas(tensors, base)  # (N, *shape), sparsified and weighted in place below
    w = torch.tensor(weights if weights is not None else [1.0] * len(tensors), dtype=deltas.dtype)
    for i in range(len(tensors)):
        if sparsify == "magnitude":
            deltas[i] = trim_magnitude(deltas[i], density)
        elif sparsify == "random":
            deltas[i] = bernoulli_drop(deltas[i], density, rescale, generator)
        deltas[i].mul_(float(w[i]))
    mixed = disjoint_merge(deltas, w, elect_sign(deltas) if consensus else None, normalize)
    if lambda_ != 1:
        mixed = mixed * lambda_
    return (base.to(mixed.dtype) + mixed).to(base.dtype)


@merge_method(name="task_arithmetic", reference_url="https://arxiv.org/abs/2212.04089", needs_base=True)
def task_arithmetic(
    tensors: list[Tensor],
    base: Tensor | None,
    weights: list[float] | None = None,
    lambda_: Annotated[float, SCALE] = 1.0,
    normalize: bool = False,
) -> Tensor:
    """``theta_0 + lambda * sum_i w_i tau_i`` (mergekit defaults: normalize off, lambda 1).

    ``weights`` default to 1 for every model (mergekit requires them); ``normalize`` divides the sum by
    ``sum_i w_i``.
    """
    assert base is not None
    return generalized_task_arithmetic(tensors, base, weights=weights, lambda_=lambda_, normalize=normalize)

"""Linear merging: the weighted average of the models' tensors (Wortsman et al. 2022, "Model soups").

With uniform weights over a MoTE model's experts this is Expert Averaging, bit for bit equal to
:func:`mote.model.sentence.average` (same float64 accumulation of ``(w_i / sum w) * theta_i``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from mote.merge.registry import merge_method


def weighted_sum(tensors: list[Tensor], coefficients: list[float]) -> Tensor:
    """``sum_i c_i * t_i`` accumulated in float64, cast to the first tensor's dtype."""
    acc = torch.zeros_like(tensors[0], dtype=torch.float64)
    for c, t in zip(coefficients, tensors, strict=True):
        acc = acc + c * t.double()
    return acc.to(tensors[0].dtype)


@merge_method(name="linear", reference_url="https://arxiv.org/abs/2203.05482")
def linear(
    tensors: list[Tensor],
    base: Tensor | None,
    weights: list[float] | None = None,
    normalize: bool = True,
) -> Tensor:
    """``sum_i w_i theta_i / sum_i w_i`` (mergekit ``linear``; ``normalize: false`` drops the division).

    ``base`` is not used. ``weights`` default to uniform (mergekit requires them). Computed in float64
    (mergekit: float32 for float32 inputs), so results agree to float32 rounding.
    """
    w = weights if weights is not None else [1.0] * len(tensors)
    if normalize:
        total = sum(w)
        if abs(total) < 1e-12:
            raise ValueError(f"linear: weights {w} sum to 0, so they cannot be normalised; fix the weights.")
        w = [x / total for x in w]
    return weighted_sum(tensors, w)

"""TIES merging: trim each task vector to its largest entries, elect a sign, average the agreeing ones.

Yadav et al. 2023, "TIES-Merging: Resolving Interference When Merging Models", arXiv 2306.01708.
"""

from __future__ import annotations

from typing import Annotated

from torch import Tensor

from mote.merge.params import DENSITY, SCALE
from mote.merge.registry import merge_method
from mote.merge.task_arithmetic import generalized_task_arithmetic


@merge_method(name="ties", reference_url="https://arxiv.org/abs/2306.01708", needs_base=True)
def ties(
    tensors: list[Tensor],
    base: Tensor | None,
    density: Annotated[float, DENSITY] = 1.0,
    weights: list[float] | None = None,
    lambda_: Annotated[float, SCALE] = 1.0,
    normalize: bool = True,
) -> Tensor:
    """mergekit 0.1.5 ``ties`` per tensor.

    1. trim: keep the top ``int(density * numel)`` entries of ``|tau_i|`` (at least one), no rescale;
    2. weight: ``d_i = w_i * trimmed tau_i``;
    3. elect: ``sign = sign(sum_i d_i)``, a zero sum counts as ``+``;
    4. disjoint mean: sum the ``d_i`` whose sign equals the elected sign (zeros never do), divided by the
       sum of those models' weights (``normalize``, default on);
    5. ``theta_0 + lambda * result``.

    Deviations: ``density`` is one value for all models (mergekit allows one per model); weights default
    to 1 (mergekit requires them); density defaults to 1 like mergekit (the paper trims to 0.2).
    """
    assert base is not None
    return generalized_task_arithmetic(
        tensors, base, weights=weights, lambda_=lambda_, normalize=normalize,
        sparsify="magnitude", density=density, consensus=True,
    )

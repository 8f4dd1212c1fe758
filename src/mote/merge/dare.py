"""DARE: randomly drop task-vector entries and rescale the rest, then merge linearly or with TIES.

Yu et al. 2024, "Language Models are Super Mario: Absorbing Abilities from Homologous Models as a Free
Lunch", arXiv 2311.03099.

Reproducible: the drop masks come from ``generator`` (injected by the merge loop, which seeds one
``torch.Generator`` with ``seed`` and visits tensors in sorted name order, drawing one
``torch.bernoulli`` per model in config order: exactly mergekit's stream after ``torch.manual_seed``).
Called on its own, a method builds a generator from ``seed``.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from mote.merge.params import DENSITY, RESCALE, SCALE, SEED
from mote.merge.registry import merge_method
from mote.merge.task_arithmetic import generalized_task_arithmetic

DARE_URL = "https://arxiv.org/abs/2311.03099"


@merge_method(
    name="dare_ties", reference_url=DARE_URL, needs_base=True, fixed={"consensus": True},
    doc="mergekit 0.1.5 ``dare_ties`` per tensor: DARE's drop and rescale, then TIES' sign election and disjoint "
        "sum (a disjoint mean when ``normalize``; OFF by default, as in mergekit), times ``lambda``.",
)
@merge_method(
    name="dare_linear", reference_url=DARE_URL, needs_base=True, fixed={"consensus": False},
    doc="mergekit 0.1.5 ``dare_linear`` per tensor: ``theta_0 + lambda * sum_i w_i drop(tau_i)``.",
)
def dare(
    tensors: list[Tensor],
    base: Tensor | None,
    density: Annotated[float, DENSITY],
    weights: list[float] | None = None,
    lambda_: Annotated[float, SCALE] = 1.0,
    normalize: bool = False,
    rescale: Annotated[str, RESCALE] = "l1",
    seed: Annotated[int, SEED] = 0,
    consensus: bool = False,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DARE per tensor: drop task-vector entries at random, rescale, then merge (``dare_linear``: a weighted
    sum; ``dare_ties``, ``consensus``: TIES' sign election and disjoint sum), times ``lambda``.

    ``drop`` keeps each entry with probability ``density`` (drop rate ``p = 1 - density``) and rescales the
    kept delta to the ORIGINAL L1 norm (``rescale: l1``, mergekit); ``rescale: inverse`` divides by
    ``density`` (the paper's ``1/(1-p)``, unbiased), ``none`` does not rescale. ``normalize`` is OFF by
    default (a sum, not a mean), as in mergekit.
    """
    assert base is not None
    gen = generator if generator is not None else torch.Generator().manual_seed(seed)
    return generalized_task_arithmetic(
        tensors, base, weights=weights, lambda_=lambda_, normalize=normalize, sparsify="random",
        density=density, consensus=consensus, rescale=rescale, generator=gen,
    )

"""RegMean: merge each linear layer by the closed-form least-squares fit to every model's outputs.

Jin et al. 2023, "Dataless Knowledge Fusion by Merging Weights of Language Models", arXiv 2212.09849.

For a linear layer ``y = x W^T`` with input Gram matrices ``G_i = X_i^T X_i`` (from a probe sample, see
:func:`mote.merge.stats.gram_matrices`), ``W^T = (sum_i G~_i)^-1 sum_i G~_i W_i^T`` where
``G~ = alpha G + (1 - alpha) diag(G)`` shrinks the off-diagonal (the paper's regularisation; alpha = 1 is
plain RegMean). Tensors without Gram matrices (biases, norms, embeddings) get the weighted average.
Deviation: every model's Gram matrices come from the same probe sample (restricted to the model's task
when the config maps models to tasks), not from each model's own training set.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from mote.merge.linear import linear
from mote.merge.params import UNIT
from mote.merge.registry import merge_method


def shrink(gram: Tensor, alpha: float) -> Tensor:
    """``alpha * G + (1 - alpha) * diag(G)``."""
    return alpha * gram + (1 - alpha) * torch.diag(torch.diagonal(gram))


@merge_method(name="regmean", reference_url="https://arxiv.org/abs/2212.09849", stats="gram")
def regmean(
    tensors: list[Tensor],
    base: Tensor | None,
    stats: list[Tensor] | None = None,
    alpha: Annotated[float, UNIT] = 0.9,
    weights: list[float] | None = None,
) -> Tensor:
    """RegMean for a 2-D linear weight ``(out, in)`` with ``stats`` = the models' ``(in, in)`` Gram matrices.

    Other tensors (no ``stats``) are averaged with ``weights``. ``weights`` (default uniform) also scale
    each model's Gram matrix. Solved in float64; a singular sum gets a tiny ridge (1e-8 x mean diagonal).
    """
    if stats is None:
        return linear(tensors, base, weights)
    w = weights if weights is not None else [1.0] * len(tensors)
    grams = [wi * shrink(g.double(), alpha) for wi, g in zip(w, stats, strict=True)]
    lhs = torch.stack(grams).sum(dim=0)  # (in, in)
    rhs = torch.stack([g @ t.double().T for g, t in zip(grams, tensors, strict=True)]).sum(dim=0)  # (in, out)
    try:
        solution = torch.linalg.solve(lhs, rhs)
    except RuntimeError:  # singular (an input dimension never active): add a tiny ridge
        ridge = 1e-8 * float(torch.diagonal(lhs).abs().mean()) + 1e-12
        solution = torch.linalg.solve(lhs + ridge * torch.eye(lhs.shape[0], dtype=lhs.dtype), rhs)
    out: Tensor = solution.T.contiguous().to(tensors[0].dtype)
    return out

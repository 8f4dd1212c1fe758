"""Fisher merging: a per-entry weighted average, weighted by each model's diagonal Fisher information.

Matena & Raffel 2022, "Merging Models with Fisher-Weighted Averaging", arXiv 2111.09832.

The diagonal Fisher is estimated by :func:`mote.merge.stats.diagonal_fisher`: squared gradients of each
probe batch's task loss (the task's training objective: CoSENT/AnglE on scored pairs, InfoNCE with in-batch
negatives and same-label masking otherwise, see :func:`mote.merge.probe.batch_loss`), averaged over the
batches of a probe sample. Deviation from the paper: gradients are per batch, not per example (in-batch
negatives and CoSENT's pairwise ranking make a per-example loss depend on the batch), so this is the batch
empirical Fisher.
"""

from __future__ import annotations

from typing import Annotated

import torch
from torch import Tensor

from mote.merge.params import POSITIVE
from mote.merge.registry import merge_method


@merge_method(name="fisher", reference_url="https://arxiv.org/abs/2111.09832", stats="fisher")
def fisher(
    tensors: list[Tensor],
    base: Tensor | None,
    stats: list[Tensor] | None = None,
    weights: list[float] | None = None,
    eps: Annotated[float, POSITIVE] = 1e-8,
) -> Tensor:
    """``sum_i w_i (F_i + eps) theta_i / sum_i w_i (F_i + eps)``, per entry.

    ``stats`` are the models' diagonal Fishers for this tensor (same shape). Without them (a tensor that
    got no gradient) this is the weighted average. ``eps`` keeps entries with zero Fisher everywhere at the
    plain average.
    """
    w = weights if weights is not None else [1.0] * len(tensors)
    dtype = torch.promote_types(tensors[0].dtype, torch.float32)
    num = torch.zeros_like(tensors[0], dtype=dtype)
    den = torch.zeros_like(tensors[0], dtype=dtype)
    for i, t in enumerate(tensors):
        f = (stats[i].to(dtype) if stats is not None else torch.zeros_like(num)) + eps
        num = num + w[i] * f * t.to(dtype)
        den = den + w[i] * f
    return (num / den).to(tensors[0].dtype)

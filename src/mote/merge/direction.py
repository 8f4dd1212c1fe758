"""Combining N task vectors in their span, exactly, from their Gram matrix.

Every iterative SLERP (or weighted average) of task vectors ``V_1..V_N`` is again a linear combination
``sum_i c_i V_i``; norms and angles of such combinations follow from the Gram matrix
``G_ij = <V_i, V_j>`` (``<x, y> = c_x^T G c_y``). So the merge direction reduces to N coefficients that are
differentiable functions of the task weights: Self Positioning never materialises intermediate SLERPs.
:func:`slerp_coefficients` reproduces :func:`mote.merge.slerp.iterative_slerp` over the flattened
vectors (tested), including the lerp fallback when ``|cos| > 0.9995``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from mote.merge.slerp import DOT_THRESHOLD, EPS

CHUNK = 1 << 20


def gram_matrix(vectors: Sequence[Mapping[str, Tensor]], names: Sequence[str]) -> Tensor:
    """``(N, N)`` float64 ``<V_i, V_j>`` over the tensors ``names`` (flattened and concatenated).

    Accumulated over chunks of :data:`CHUNK` entries, so the float64 scratch stays ``N x CHUNK``.
    """
    n = len(vectors)
    gram = torch.zeros(n, n, dtype=torch.float64)
    for name in names:
        flats = [v[name].reshape(-1) for v in vectors]
        for start in range(0, flats[0].numel(), CHUNK):
            block = torch.stack([f[start : start + CHUNK].double() for f in flats])  # (N, <= CHUNK)
            gram += (block @ block.T).cpu()
    return gram


def linear_coefficients(weights: Tensor) -> Tensor:
    """Weighted average direction: ``c = a / sum(a)``."""
    return weights / weights.sum()


def slerp_coefficients(
    gram: Tensor, weights: Tensor, accumulate: str = "sum", threshold: float = DOT_THRESHOLD
) -> Tensor:
    """Coefficients of iterative weighted SLERP ``slerp(...slerp(V_1, V_2, t_2)..., V_N, t_N)``.

    ``t_k = a_k / (acc_k + a_k)`` with ``acc_k`` the sum (or mean) of ``a_1..a_(k-1)``; differentiable in
    ``weights`` (float64). The branch (slerp or lerp fallback) is decided without gradient.
    """
    n = gram.shape[0]
    a = weights.to(torch.float64)
    eye = torch.eye(n, dtype=torch.float64)
    c = eye[0]
    for k in range(1, n):
        prev = a[:k].sum() if accumulate == "sum" else a[:k].mean()
        t = a[k] / (prev + a[k])
        c = _slerp_step(gram, c, eye[k], t, threshold)
    return c


def _slerp_step(gram: Tensor, c: Tensor, e: Tensor, t: Tensor, threshold: float) -> Tensor:
    nx = torch.sqrt(torch.clamp(c @ gram @ c, min=0.0))
    ny = torch.sqrt(torch.clamp(e @ gram @ e, min=0.0))
    if float(nx.detach()) < EPS or float(ny.detach()) < EPS:
        return (1 - t) * c + t * e
    cos = torch.clamp((c @ gram @ e) / (nx * ny), -1.0, 1.0)
    if abs(float(cos.detach())) > threshold:
        return (1 - t) * c + t * e
    theta = torch.acos(cos)
    s = torch.sin(theta)
    return torch.sin((1 - t) * theta) / s * c + torch.sin(t * theta) / s * e

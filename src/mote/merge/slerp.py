"""Spherical linear interpolation (SLERP) of whole tensors; iterative pairwise SLERP for N models.

Two registered methods share one interpolation (:func:`slerp_pair`):

- ``slerp`` interpolates the models' weights themselves (mergekit 0.1.5 semantics). Fine-tunes of one base
  are nearly parallel in weight space (``|tau| << |theta_0|``), so on real models this is almost always
  the lerp fallback, i.e. the plain average (98 of 101 tensors of two MiniLM fine-tunes).
- ``slerp_task_vector`` interpolates the task vectors ``tau_i = theta_i - theta_0`` and adds the result to
  the base: ``theta_0 + slerp(tau_1, tau_2, t)``. This is the SLERP that merging papers compare with
  (e.g. Self Positioning, arXiv 2410.15035); task vectors of different tasks are far from parallel.

Each tensor (or task vector) is flattened into one vector. The angle is computed in float64: on real
fine-tunes the vectors are so close that a float32 dot product over, say, a word-embedding matrix gives
a visibly wrong cosine (mergekit works in float32 for float32 inputs; this is our one deviation). When
``|cos| > 0.9995`` (or a vector is ~0) SLERP falls back to linear interpolation, as mergekit does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated

import torch
from torch import Tensor

from mote.merge.params import ACCUMULATE, UNIT
from mote.merge.registry import merge_method

DOT_THRESHOLD = 0.9995
EPS = 1e-8


def slerp_pair(a: Tensor, b: Tensor, t: float, threshold: float = DOT_THRESHOLD) -> Tensor:
    """``slerp(a, b, t)``: ``a`` at ``t=0``, ``b`` at ``t=1``; lerp when nearly (anti)parallel.

    ``sin((1-t) theta)/sin(theta) * a + sin(t theta)/sin(theta) * b`` with ``theta`` the angle between the
    flattened vectors; for equal norms the result keeps that norm for every ``t``.
    """
    x, y = a.double().reshape(-1), b.double().reshape(-1)
    na, nb = torch.linalg.vector_norm(x), torch.linalg.vector_norm(y)
    if na < EPS or nb < EPS:
        return ((1 - t) * x + t * y).reshape(a.shape).to(a.dtype)
    cos = float(torch.dot(x / na, y / nb).clamp(-1, 1))
    if abs(cos) > threshold:
        return ((1 - t) * x + t * y).reshape(a.shape).to(a.dtype)
    theta = math.acos(cos)
    s = math.sin(theta)
    out = (math.sin((1 - t) * theta) / s) * x + (math.sin(t * theta) / s) * y
    return out.reshape(a.shape).to(a.dtype)


def pair_fraction(previous: Sequence[float], new: float, accumulate: str = "sum") -> float:
    """Interpolation ``t`` towards the k-th input: ``w_k / (acc + w_k)``, ``acc`` = sum (or mean) of earlier.

    ``sum`` (default): with equal weights the k-th input gets ``t = 1/k``, so collinear inputs give their
    weighted mean. ``mean``: the Self Positioning notes' rule (``slerp(V_1..k-1, V_k; mean(a_1..a_k-1),
    a_k)``); equal weights then give every new input ``t = 1/2``.
    """
    acc = sum(previous) if accumulate == "sum" else sum(previous) / len(previous)
    total = acc + new
    if total <= 0:
        raise ValueError(f"SLERP weights must be positive; got {[*previous, new]}.")
    return new / total


def iterative_slerp(
    tensors: Sequence[Tensor], weights: Sequence[float] | None = None, accumulate: str = "sum"
) -> Tensor:
    """``slerp(... slerp(slerp(x_1, x_2, t_2), x_3, t_3) ..., x_N, t_N)`` with ``t_k`` from :func:`pair_fraction`."""
    w = list(weights) if weights is not None else [1.0] * len(tensors)
    if len(w) != len(tensors):
        raise ValueError(f"Got {len(w)} SLERP weights for {len(tensors)} tensors; give one per model.")
    out = tensors[0]
    for k in range(1, len(tensors)):
        out = slerp_pair(out, tensors[k], pair_fraction(w[:k], w[k], accumulate))
    return out


def _slerp_models(
    name: str, tensors: Sequence[Tensor], t: float | None, weights: Sequence[float] | None, accumulate: str
) -> Tensor:
    """The two-model (``t``) or iterative (``weights``) SLERP shared by both methods; ``name`` is for errors."""
    if t is not None and weights is not None:
        raise ValueError(f"{name}: give t (two models) or weights (any number of models), not both.")
    if t is not None:
        if len(tensors) != 2:
            raise ValueError(f"{name}: t interpolates between exactly 2 models; got {len(tensors)}. Use weights.")
        return slerp_pair(tensors[0], tensors[1], t)
    if weights is not None and any(x <= 0 for x in weights):
        raise ValueError(f"{name}: weights must be > 0; got {list(weights)}.")
    return iterative_slerp(tensors, weights, accumulate)


@merge_method(
    name="slerp_task_vector", reference_url="https://arxiv.org/abs/2410.15035", min_models=2, needs_base=True,
    fixed={"task_vectors": True},
    doc="``theta_0 + slerp(tau_1, tau_2, t)`` with ``tau_i = theta_i - theta_0``: SLERP of the task vectors. Same "
        "``t`` / ``weights`` / ``accumulate`` as ``slerp`` (iterative pairwise for N models), applied to the "
        "flattened task vectors, with mergekit's normalisation and lerp fallback; float64, returned in the base's "
        "dtype.",
)
@merge_method(
    name="slerp", reference_url="https://en.wikipedia.org/wiki/Slerp", min_models=2, fixed={"task_vectors": False},
    doc="SLERP of the models' tensors (``base`` is not used). Two models: ``t`` (default 0.5) moves from the first "
        "(``t=0``) to the second (``t=1``); mergekit's ``base_model`` is the first model here. N models: iterative "
        "pairwise SLERP in config order with positive ``weights`` (``t_k = w_k / (sum_{j<k} w_j + w_k)``; "
        "``accumulate: mean`` uses the mean of the earlier weights instead). Give ``t`` or ``weights``, not both.",
)
def slerp(
    tensors: list[Tensor],
    base: Tensor | None,
    t: Annotated[float | None, UNIT] = None,
    weights: list[float] | None = None,
    accumulate: Annotated[str, ACCUMULATE] = "sum",
    task_vectors: bool = False,
) -> Tensor:
    """SLERP of the models' tensors (``slerp``), or of their task vectors added back to the base
    (``slerp_task_vector``, ``task_vectors``): see the module docstring and each method's ``doc``."""
    name = "slerp_task_vector" if task_vectors else "slerp"
    if not task_vectors:
        return _slerp_models(name, tensors, t, weights, accumulate)
    assert base is not None  # needs_base: the registry and the merge loop check it first
    origin = base.double()
    taus = [x.double() - origin for x in tensors]
    return (origin + _slerp_models(name, taus, t, weights, accumulate)).to(base.dtype)

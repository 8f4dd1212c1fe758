"""Task vectors over state dicts: ``tau = theta_finetuned - theta_base``, and adding them back.

Only floating-point tensors merge. Integer buffers (``position_ids``, ``token_type_ids``, any int/bool
tensor) and the names in :data:`NEVER_MERGE` are copied from the base unchanged, never averaged: an
averaged index buffer is meaningless.

State dicts are plain ``Mapping[str, Tensor]``; lazy readers (:class:`~mote.model.weights.LazyStateDict`)
also work, and :func:`check_compatible` then reads only the file headers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

StateDict = dict[str, Tensor]

NEVER_MERGE = ("position_ids", "token_type_ids")


class IncompatibleModelsError(ValueError):
    """The models to merge do not share tensor names and shapes with the base."""


def is_mergeable(name: str, tensor: Tensor) -> bool:
    """True for floating-point tensors that are not index buffers (see :data:`NEVER_MERGE`)."""
    return tensor.is_floating_point() and name.rsplit(".", 1)[-1] not in NEVER_MERGE


def shapes_of(state: Mapping[str, Tensor]) -> dict[str, tuple[int, ...]]:
    """Name -> shape, from the file header for lazy readers (no tensor is loaded)."""
    shapes = getattr(state, "shapes", None)
    if callable(shapes):
        out: dict[str, tuple[int, ...]] = shapes()
        return out
    return {k: tuple(v.shape) for k, v in state.items()}


def check_compatible(
    base: Mapping[str, Tensor],
    models: Sequence[Mapping[str, Tensor]],
    labels: Sequence[str] | None = None,
) -> None:
    """Every model must have exactly the base's tensor names and shapes.

    Index buffers (:data:`NEVER_MERGE`) may be present in one and absent from the other: transformers
    saves ``position_ids`` in some versions and not in others, and they are copied, never merged. The first
    other mismatch raises :class:`IncompatibleModelsError` naming the tensor and both shapes (or the
    missing/extra tensor).
    """
    ref = _without_index_buffers(shapes_of(base))
    for i, model in enumerate(models):
        label = labels[i] if labels else f"model {i}"
        got = _without_index_buffers(shapes_of(model))
        missing = sorted(set(ref) - set(got))
        if missing:
            raise IncompatibleModelsError(
                f"{label} has no tensor {missing[0]!r} that the base has ({len(missing)} missing). Merge only "
                "fine-tunes of the same base architecture."
            )
        extra = sorted(set(got) - set(ref))
        if extra:
            raise IncompatibleModelsError(
                f"{label} has tensor {extra[0]!r} that the base lacks ({len(extra)} extra). Merge only fine-tunes "
                "of the same base architecture."
            )
        for name in sorted(ref):
            if ref[name] != got[name]:
                raise IncompatibleModelsError(
                    f"Tensor {name!r} has shape {ref[name]} in the base but {got[name]} in {label}. Merge only "
                    "fine-tunes of the same base architecture and size."
                )


def _without_index_buffers(shapes: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    return {k: v for k, v in shapes.items() if k.rsplit(".", 1)[-1] not in NEVER_MERGE}


def task_vector(base: Mapping[str, Tensor], finetuned: Mapping[str, Tensor]) -> StateDict:
    """``finetuned - base`` for every mergeable tensor, in float32 (float64 inputs stay float64)."""
    out: StateDict = {}
    for name in base:
        b = base[name]
        if is_mergeable(name, b):
            dtype = torch.promote_types(b.dtype, torch.float32)
            out[name] = finetuned[name].to(dtype) - b.to(dtype)
    return out


def apply_task_vector(base: Mapping[str, Tensor], vector: Mapping[str, Tensor], scale: float = 1.0) -> StateDict:
    """``base + scale * vector`` in the base's dtypes; tensors without a vector are the base's own."""
    out: StateDict = {}
    for name, b in base.items():
        if name in vector:
            delta = vector[name]
            dtype = torch.promote_types(b.dtype, delta.dtype)
            out[name] = (b.to(dtype) + scale * delta.to(dtype)).to(b.dtype)
        else:
            out[name] = b
    return out

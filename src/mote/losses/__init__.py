"""Losses, registered by name. ``get_loss(name, model, **params)`` builds one."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from torch import nn

from mote._errors import unknown_name
from mote.losses.info_nce import InfoNCELoss, info_nce_from_embeddings


def _cosent(model: nn.Module, temperature: float = 0.05, **_: Any) -> nn.Module:
    from sentence_transformers.sentence_transformer.losses import CoSENTLoss

    return CoSENTLoss(model, scale=1.0 / temperature)  # type: ignore[arg-type]


def _angle(model: nn.Module, temperature: float = 0.05, **_: Any) -> nn.Module:
    from sentence_transformers.sentence_transformer.losses import AnglELoss

    return AnglELoss(model, scale=1.0 / temperature)  # type: ignore[arg-type]


def _infonce(
    model: nn.Module,
    temperature: float = 0.05,
    mini_batch_size: int | None = None,
    mask_same_label: bool = True,
    temperature_by_task: dict[int, float] | None = None,
    **_: Any,
) -> nn.Module:
    return InfoNCELoss(
        model,
        temperature=temperature,
        mini_batch_size=mini_batch_size,
        mask_same_label=mask_same_label,
        temperature_by_task=temperature_by_task,
    )


LOSSES: dict[str, Callable[..., nn.Module]] = {
    "infonce": _infonce,  # pairs / triplets, in-batch + hard negatives (scored pairs need cosent/angle)
    "cosent": _cosent,  # scored pairs (sentence-transformers' CoSENTLoss)
    "angle": _angle,  # scored pairs (sentence-transformers' AnglELoss)
}
SCORED_LOSSES = frozenset({"cosent", "angle"})


def get_loss(name: str, model: nn.Module, **params: Any) -> nn.Module:
    if name not in LOSSES:
        raise unknown_name("loss", name, LOSSES)
    return LOSSES[name](model, **params)


__all__ = ["LOSSES", "SCORED_LOSSES", "InfoNCELoss", "get_loss", "info_nce_from_embeddings"]

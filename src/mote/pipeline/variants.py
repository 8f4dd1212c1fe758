"""The experiment matrix: every variant says how its model is made; `run` makes and evaluates it.

Training variants differ only in their training overrides; all share the pipeline's recipe, budget and
seed. Derived variants (Expert Averaging, merges) are built from a trained variant's output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal


@dataclass(frozen=True)
class Variant:
    name: str
    kind: Literal["base", "train", "average", "merge"]
    description: str
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides (model.*, data.*, train.*)
    source: str | None = None  # the trained variant a derived variant is built from
    method: str | None = None  # merge method
    key: bool = False  # run with the key seeds too


TRAINING: tuple[Variant, ...] = (
    Variant("base", "base", "the base model, no training", key=True),
    Variant(
        "joint-noinstr",
        "train",
        "joint dense training without instructions (STEM)",
        {"model": {"mode": "joint", "instructions": False}},
    ),
    Variant(
        "joint-instr",
        "train",
        "joint dense training with instructions (TEM-Inst baseline)",
        {"model": {"mode": "joint", "instructions": True}},
        key=True,
    ),
    Variant(
        "joint-temperature",
        "train",
        "joint with instructions, temperature resampling across datasets",
        {"model": {"mode": "joint", "instructions": True}, "data": {"sampling": "temperature"}},
    ),
    Variant(
        "mote-static",
        "train",
        "MoTE, one training setting for all tasks (ablation)",
        {"model": {"mode": "mote"}, "train": {"static": True}},
    ),
    Variant("mote", "train", "MoTE with task-aware training", {"model": {"mode": "mote"}}, key=True),
    Variant("mote-ea", "average", "Expert Averaging of the task-aware MoTE", source="mote", key=True),
)


def all_variants() -> dict[str, Variant]:
    return {v.name: v for v in TRAINING}


def available_variants() -> list[str]:
    return list(all_variants())

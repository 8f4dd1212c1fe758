"""The experiment matrix: every variant says how its model is made; `run` makes and evaluates it.

Training variants differ only in their training overrides; all share the pipeline's recipe, budget and
seed. Derived variants (Expert Averaging, merges) are built from another variant's output:

- ``separate`` trains one dense model per task group of the recipe, splitting the budget between them
  (same examples seen as every other trained variant); it is a source only and is not evaluated;
- ``separate-<method>`` merges those models with a classic method or Self Positioning;
- ``mote-ea`` / ``mote-sp`` fold the task-aware MoTE's experts into one dense model, uniformly or learned.

Variants that could give gain without forgetting (issue: prove the methods), each with its rationale:

- ``mote-noinstr``: experts only, no instruction prefixes. Routing already tells the tasks apart, and a base
  never trained with prefixes (all-MiniLM-L6-v2) loses up to 11.5 points on an unseen task when given them.
- ``mote-all``: experts in every block, the MoTE paper's other up-cycling pattern (more task-specific
  capacity; the shared attention is all that the tasks still share).
- ``mote-frozen``: only the experts train; attention, embeddings and the blocks without experts keep the
  base's weights (a hard form of regularising towards the base: every task's forgetting is confined to its
  own expert, and the unseen tasks' routes keep the base's shared layers).
- ``mote-regmean`` / ``mote-fisher``: the experts folded with statistics-weighted merges instead of the uniform
  average (Expert Averaging), learned from the probe set's activations / squared gradients.
- ``mote-temperature``: MoTE with the best dense rival's data sampling (temperature resampling). At 4x the
  rival's lead over instruction-joint came from that sampling, which MoTE without it cannot show; against
  joint-temperature it asks what the experts add on top of the best sampling.
- ``mote-sp-layer`` / ``separate-sp-layer``: Self Positioning with one set of task weights per block
  (AdaMerging-style), in addition to the paper's per-task weights and global scale.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Kind = Literal["base", "train", "separate", "average", "merge"]


@dataclass(frozen=True)
class Variant:
    name: str
    kind: Kind
    description: str
    train: dict[str, Any] = field(default_factory=dict)  # TrainConfig overrides (model.*, data.*, train.*)
    source: str | None = None  # the variant a derived variant is built from
    method: str | None = None  # merge method (registered name or self_positioning)
    key: bool = False  # run with the key seeds too (default; the config's key_variants overrides)
    parameters: dict[str, Any] = field(default_factory=dict)  # merge parameters defining this variant
    # the dense variant trained on the same data and budget with the same instructions, without experts: the
    # report's "what the experts add" comparison (mote-frozen's also holds the freezing; mote-static has none:
    # no dense variant trains with its one static setting)
    counterpart: str | None = None

    @property
    def evaluated(self) -> bool:
        return self.kind != "separate"

    @property
    def mode(self) -> str | None:
        """The training mode of a trained variant (joint, mote, separate); None for the base and derived ones."""
        return self.train.get("model", {}).get("mode") if self.kind == "train" else None


INSTRUCTED = {"model": {"mode": "joint", "instructions": True}}

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
        INSTRUCTED,
        key=True,
    ),
    Variant(
        "joint-temperature",
        "train",
        "joint with instructions, temperature resampling across datasets",
        {**INSTRUCTED, "data": {"sampling": "temperature"}},
    ),
    Variant(
        "joint-ratio",
        "train",
        "joint with instructions, ratio resampling (target share per task; default equal)",
        {**INSTRUCTED, "data": {"sampling": "ratio"}},
    ),
    Variant(
        "mote-static",
        "train",
        "MoTE with instructions, one training setting for all tasks (ablation)",
        {"model": {"mode": "mote", "instructions": "mote"}, "train": {"static": True}},
    ),
    Variant("mote", "train", "MoTE with instructions and task-aware training (the paper's setup)",
            {"model": {"mode": "mote", "instructions": "mote"}}, key=True, counterpart="joint-instr"),
    Variant("mote-temperature", "train", "MoTE with instructions and temperature resampling across datasets",
            {"model": {"mode": "mote", "instructions": "mote"}, "data": {"sampling": "temperature"}},
            counterpart="joint-temperature"),
    Variant("mote-noinstr", "train", "MoTE without instructions: the experts alone tell the tasks apart",
            {"model": {"mode": "mote", "instructions": "none"}}, counterpart="joint-noinstr"),
    Variant("mote-all", "train", "MoTE without instructions, experts in every block",
            {"model": {"mode": "mote", "instructions": "none", "layers": "all"}}, counterpart="joint-noinstr"),
    Variant("mote-frozen", "train", "MoTE without instructions, only the experts train (shared weights frozen)",
            {"model": {"mode": "mote", "instructions": "none"}, "train": {"freeze": "shared"}},
            counterpart="joint-noinstr"),
    Variant(
        "separate",
        "separate",
        "one dense model per task group (with instructions), the budget split between them",
        {"model": {"mode": "separate", "instructions": True}},
    ),
)

DERIVED: tuple[Variant, ...] = (
    Variant("mote-ea", "average", "Expert Averaging of the task-aware MoTE", source="mote", key=True),
    Variant("mote-sp", "merge", "Self Positioning over the MoTE's experts", source="mote",
            method="self_positioning", key=True),
    Variant("mote-sp-layer", "merge", "Self Positioning over the MoTE's experts, task weights per block",
            source="mote", method="self_positioning", parameters={"per_layer": True}),
    Variant("mote-regmean", "merge", "the MoTE's experts folded by RegMean", source="mote", method="regmean"),
    Variant("mote-fisher", "merge", "the MoTE's experts folded by Fisher merging", source="mote", method="fisher"),
    Variant("separate-average", "merge", "separate models, weighted average", source="separate", method="linear"),
    Variant("separate-ta", "merge", "separate models, task arithmetic", source="separate", method="task_arithmetic"),
    Variant("separate-ties", "merge", "separate models, TIES", source="separate", method="ties"),
    # SLERP of the task vectors (theta_0 + slerp(tau_1, ..., tau_N)), the form merging papers compare with;
    # weight-space `slerp` is the plain average on fine-tunes of one base (nearly parallel weights).
    Variant("separate-slerp", "merge", "separate models, iterative SLERP of the task vectors", source="separate",
            method="slerp_task_vector"),
    Variant("separate-fisher", "merge", "separate models, Fisher merging", source="separate", method="fisher"),
    Variant("separate-regmean", "merge", "separate models, RegMean", source="separate", method="regmean"),
    Variant("separate-sp", "merge", "separate models, Self Positioning", source="separate",
            method="self_positioning", key=True),
    Variant("separate-sp-layer", "merge", "separate models, Self Positioning with task weights per block",
            source="separate", method="self_positioning", parameters={"per_layer": True}),
)

# Parameters of the merge variants unless the config's merge.parameters says otherwise.
DEFAULT_PARAMETERS: dict[str, dict[str, Any]] = {
    "task_arithmetic": {"lambda": 0.4},
    "ties": {"density": 0.2, "lambda": 1.0},
    # normalize: each task's probe loss divided by its value at the start. The faithful probe scores every task
    # with its own loss (CoSENT on scored pairs, InfoNCE elsewhere), whose scales differ by 10x or more; summed
    # raw, the task with the largest loss decided the merge (measured: SP fell 0.7-1.2 below joint training).
    "self_positioning": {"steps": 100, "batch_size": 32, "lr": 0.05, "normalize": True},
}


def trained(mode: str) -> tuple[str, ...]:
    """The matrix's trained variants of one mode, in matrix order (a variant added there is included)."""
    return tuple(v.name for v in all_variants().values() if v.mode == mode)


def all_variants() -> dict[str, Variant]:
    return {v.name: v for v in (*TRAINING, *DERIVED)}


def available_variants() -> list[str]:
    return list(all_variants())

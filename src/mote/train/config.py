"""The training config: one validated schema (unknown keys rejected), loaded from YAML with overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from mote._errors import unknown_name, validation_message
from mote._yaml import StrictModel, apply_overrides, read_yaml_mapping, resolve_inputs
from mote.losses.settings import LossSettings
from mote.runtime import DeviceName, Precision, migrate_bf16_key
from mote.tasks import TaskSet


class TaskTraining(LossSettings):
    """Task-aware hyperparameters of one task: its loss settings (shared with the merge probe) and batching."""

    hard_negatives: int = Field(1, ge=0, description="Hard negatives per anchor (when the data has them).")
    weight: float = Field(1.0, ge=0, description="Loss weight of this task's batches.")
    batching: Literal["single", "mixed"] = Field(
        "single", description="single: every batch from one dataset of this task; mixed: this task's datasets mixed."
    )


# Defaults in the spirit of the MoTE paper's task-aware training: retrieval sharper, STS softer.
DEFAULT_TASK_TRAINING: dict[str, dict[str, Any]] = {
    "query": {"temperature": 0.02, "hard_negatives": 1},
    "document": {"temperature": 0.02, "hard_negatives": 1},
    "similarity": {"temperature": 0.05, "scored_loss": "cosent"},
    "classification": {"temperature": 0.05, "hard_negatives": 1},
    "clustering": {"temperature": 0.05, "hard_negatives": 1},
}


class ModelSection(StrictModel):
    base: str = Field(
        "sentence-transformers/all-MiniLM-L6-v2", description="Dense base: path, packaged model or hub id."
    )
    mode: Literal["mote", "joint", "separate"] = Field(
        "mote", description="mote: experts; joint: one dense model; separate: one dense model per task."
    )
    instructions: bool | str | dict[str, str] = Field(
        "auto",
        description="Instruction set: auto (the base's declared prompts; none when it declares none), none, a "
        "named set (mote, e5), or a mapping task -> prefix. true/false: mote/none (the earlier boolean).",
    )
    layers: str | list[int] = Field("every-other", description="Blocks to up-cycle (mode mote).")
    tasks: list[str] = Field(default_factory=lambda: TaskSet().names, description="Task set (route keys).")
    instruction_overrides: dict[str, str] = Field(default_factory=dict, description="Task -> instruction prefix.")
    serves: dict[str, list[str]] = Field(
        default_factory=dict,
        description="Task -> extra MTEB task types it serves (out-of-scope types, e.g. classification: [STS]).",
    )
    max_seq_length: int = Field(128, ge=8, description="Training truncation length.")

    @field_validator("instructions")
    @classmethod
    def _known_set(cls, v: bool | str | dict[str, str]) -> bool | str | dict[str, str]:
        from mote.tasks import INSTRUCTION_SETS, instruction_set_names

        if isinstance(v, str) and v != "auto" and v not in INSTRUCTION_SETS:
            raise unknown_name("instruction set", v, instruction_set_names(), "Or give a mapping task -> prefix.")
        return v


class DataSection(StrictModel):
    recipe: str = Field(..., description="Data recipe YAML (see recipes/).")
    data_root: str | None = Field(None, description="Folder the recipe's paths are relative to (default: recipe's).")
    sampling: Literal["proportional", "round-robin", "temperature", "ratio"] = Field("proportional")
    alpha: float = Field(0.5, ge=0, le=1, description="Temperature sampling: P(dataset) ~ size**alpha.")
    ratios: dict[str, float] | None = Field(
        None, description="Ratio sampling: target share per dataset or task name (empty: equal per task)."
    )
    tasks: list[str] | None = Field(
        None, description="Train only on the recipe's datasets of these tasks (default: all; each must be in "
        "model.tasks)."
    )
    max_examples_per_dataset: int | None = Field(None, ge=1, description="Cap per dataset (after the recipe).")


# name -> the packages that provide it (any one); tensorboardX writes the same event files as tensorboard
REPORT_BACKENDS: dict[str, tuple[str, ...]] = {
    "none": (), "tensorboard": ("tensorboard", "tensorboardX"), "wandb": ("wandb",), "mlflow": ("mlflow",),
    "trackio": ("trackio",), "codecarbon": ("codecarbon",)}


class EvalDuringTraining(StrictModel):
    """Evaluation every ``steps`` on MTEB tasks (sentence-transformers evaluator; :mod:`mote.train.evaluator`)."""

    tasks: list[str] = Field(..., min_length=1, description="Task names of mote's evaluation suites (mote evaluate "
                             "--help); choose tasks the final report does not score.")
    suite: str = Field("extended", description="The suite the task names come from.")
    data_root: str | None = Field(None, description="Folder with the evaluation datasets (default: $MOTE_DATA_ROOT).")
    steps: int = Field(50, ge=1, description="Evaluate every N optimizer steps (and at the end).")
    select_best: bool = Field(
        True, description="Keep the checkpoint with the best mean score as the final model (train.save_steps must "
        "be a multiple of eval.steps).")
    batch_size: int = Field(64, ge=1)


class TrainSection(StrictModel):
    output_dir: str = Field(..., description="Run folder: checkpoints, metrics.jsonl, final model.")
    batch_size: int = Field(32, ge=2)
    mini_batch_size: int | None = Field(None, ge=1, description="Gradient caching mini-batch (None: off).")
    max_steps: int = Field(300, ge=1, description="Optimizer steps (the training budget).")
    learning_rate: float = Field(2e-5, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    seed: int = 42
    precision: Precision = Field(
        "auto", description="auto (bf16 only where this device runs it natively fast, else fp32) | fp32 | bf16 | fp16."
    )
    device: DeviceName = Field("auto", description="auto (CUDA when present) | cpu | cuda | mps.")
    threads: int | None = Field(
        None, ge=1, description="torch intra-op threads (None: the cores this process may use)."
    )
    save_steps: int = Field(50, ge=1, description="Checkpoint every N steps (atomic).")
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(5, ge=1)
    static: bool = Field(False, description="Ablation: one setting (the 'default' task's) for all tasks.")
    freeze: Literal["none", "shared"] = Field(
        "none", description="shared (mode mote): only the experts train; every shared weight keeps the base's value."
    )
    split_budget: bool = Field(
        False, description="Mode separate: max_steps is the TOTAL budget, split exactly over the task models "
        "(default: each task model trains max_steps)."
    )
    dataloader_drop_last: bool = True
    report_to: list[str] = Field(
        default_factory=lambda: ["none"],
        description="Where the trainer logs: none, tensorboard (offline, in output_dir/runs), wandb, mlflow, "
        "trackio, codecarbon; one or a list. metrics.jsonl is written either way.")
    eval: EvalDuringTraining | None = Field(None, description="Evaluation during training (None: off).")

    @model_validator(mode="before")
    @classmethod
    def _deprecated_bf16(cls, data: Any) -> Any:
        return migrate_bf16_key(data, "train")

    @field_validator("report_to", mode="before")
    @classmethod
    def _one_or_many(cls, v: Any) -> Any:
        return [v] if isinstance(v, str) else v

    @field_validator("report_to")
    @classmethod
    def _known_backends(cls, v: list[str]) -> list[str]:
        import importlib.util

        for name in v:
            if name not in REPORT_BACKENDS:
                raise unknown_name("train.report_to backend", name, list(REPORT_BACKENDS))
            packages = REPORT_BACKENDS[name]
            if packages and not any(importlib.util.find_spec(p) is not None for p in packages):
                raise ValueError(f"train.report_to: {name!r} needs the {packages[0]!r} package, which is not "
                                 f"installed. pip install {packages[0]}, or choose another backend (none, tensorboard, "
                                 "...).")
        if "none" in v and len(v) > 1:
            raise ValueError(f"train.report_to: 'none' cannot be combined with other backends (got {v}).")
        return v

    @model_validator(mode="after")
    def _eval_fits_checkpoints(self) -> TrainSection:
        if self.eval is not None and self.eval.select_best and self.save_steps % self.eval.steps:
            raise ValueError(
                f"train.eval.select_best keeps the best evaluated checkpoint, so train.save_steps ({self.save_steps}) "
                f"must be a multiple of train.eval.steps ({self.eval.steps}). Set save_steps to {self.eval.steps} "
                "(or a multiple), or select_best: false.")
        return self


class TrainConfig(StrictModel):
    model: ModelSection = Field(default_factory=ModelSection)  # type: ignore[arg-type]
    data: DataSection
    train: TrainSection
    tasks: dict[str, TaskTraining] = Field(default_factory=dict, description="Per-task hyperparameters.")
    default: TaskTraining = Field(
        default_factory=TaskTraining,  # type: ignore[arg-type]
        description="Settings for tasks not listed, and for every task when static.",
    )

    @model_validator(mode="after")
    def _check(self) -> TrainConfig:
        for name in self.tasks:
            if name not in self.model.tasks:
                raise unknown_name("task in 'tasks'", name, self.model.tasks)
        if self.data.ratios and self.data.sampling != "ratio":
            raise ValueError(f"data.ratios is set but data.sampling is {self.data.sampling!r}: the ratios would be "
                             "ignored. Set data.sampling: ratio, or remove data.ratios.")
        for name in self.data.tasks or []:
            if name not in self.model.tasks:
                raise unknown_name("task in data.tasks", name, self.model.tasks)
        for name in self.model.serves:
            if name not in self.model.tasks:
                raise unknown_name("task in model.serves", name, self.model.tasks)
        if self.train.mini_batch_size and self.train.mini_batch_size > self.train.batch_size:
            raise ValueError(
                f"train.mini_batch_size ({self.train.mini_batch_size}) must be <= train.batch_size "
                f"({self.train.batch_size})."
            )
        if self.train.freeze == "shared" and self.model.mode != "mote":
            raise ValueError(f"train.freeze: 'shared' freezes everything but the experts, so it needs model.mode "
                             f"'mote' (got {self.model.mode!r}). Use freeze: none for a dense model.")
        return self

    def task_training(self, task: str) -> TaskTraining:
        """The hyperparameters used for ``task`` (the shared default when ``static``)."""
        if self.train.static:
            return self.default
        if task in self.tasks:
            return self.tasks[task]
        defaults = DEFAULT_TASK_TRAINING.get(task, {})
        return self.default.model_copy(update=defaults)


def load_config(path: str | Path, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config, apply ``key.sub=value`` overrides (values parsed as YAML), validate."""
    path = Path(path)
    data = read_yaml_mapping(path, "Config", None)
    if "datasets" in data and "train" not in data:  # a data recipe: train a MoTE model with the defaults
        data = {"data": {"recipe": str(path)}, "train": {"output_dir": str(Path("runs") / path.stem)}}
    apply_overrides(data, overrides, example="--set train.max_steps=20")
    resolve_inputs(path, data, ["model.base", "data.recipe", "data.data_root", "train.eval.data_root"])
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"Invalid config {str(path)!r}:\n{validation_message(e, TrainConfig)}") from None

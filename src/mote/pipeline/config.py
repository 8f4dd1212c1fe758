"""The pipeline config: one experiment matrix (variants x seeds) on one recipe, budget and evaluation."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, model_validator

from mote._errors import unknown_name, validation_message
from mote._yaml import StrictModel, read_yaml_mapping, resolve_inputs
from mote.runtime import DeviceName, Precision, migrate_bf16_key
from mote.train.config import TaskTraining


class Budget(StrictModel):
    """The same training budget for every trained variant (examples seen = max_steps x batch_size)."""

    max_steps: int = Field(100, ge=1)
    batch_size: int = Field(32, ge=2)
    learning_rate: float = Field(5e-5, gt=0)
    warmup_ratio: float = Field(0.1, ge=0, le=1)
    max_seq_length: int = Field(128, ge=8, description="Training truncation; evaluation uses the base's length.")
    precision: Precision = Field("auto", description="Training precision (see mote.runtime): auto|fp32|bf16|fp16.")
    mini_batch_size: int | None = Field(None, ge=1, description="Gradient caching for large batches.")

    @model_validator(mode="before")
    @classmethod
    def _deprecated_bf16(cls, data: Any) -> Any:
        return migrate_bf16_key(data, "budget")


class EvalSection(StrictModel):
    suite: str = "mteb-lite"
    tasks: list[str] | None = None
    task_types: list[str] | None = None
    data_root: str | None = Field(None, description="Evaluation data (default: ../shared/data).")
    precision: Precision = Field("auto", description="Evaluation precision (see mote.runtime): auto|fp32|bf16|fp16.")
    batch_size: int = 64

    @model_validator(mode="before")
    @classmethod
    def _deprecated_bf16(cls, data: Any) -> Any:
        return migrate_bf16_key(data, "eval")


class MergeSection(StrictModel):
    """How the merge variants are made: the probe set (from the recipe's training data) and parameters."""

    probe_size: int = Field(256, ge=4, description="Probe examples sampled from the training data, split over tasks.")
    probe_seed: int = Field(0, ge=0)
    parameters: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="Per method, parameters replacing the defaults (mote.pipeline.variants.DEFAULT_PARAMETERS).",
    )


class AnalysisSection(StrictModel):
    """Sizes of the analyses a report embeds (mote.analyze; defaults sized for 2 CPU cores and MiniLM)."""

    texts: int = Field(256, ge=2, description="spaces: probe texts every route embeds.")
    conflict_batches: int = Field(4, ge=1, description="conflict: probe batches per task.")
    grid_points: int = Field(7, ge=2, description="landscape: grid points per axis (from -0.5 to 1.5).")
    landscape_batches: int = Field(1, ge=1, description="landscape: probe batches per task at each grid point.")
    sp_steps: int = Field(100, ge=0, description="landscape: Self Positioning steps for its point (0: none).")
    peak_memory: bool = Field(True, description="memory: measure peak encode memory (a process per model).")


class PipelineConfig(StrictModel):
    name: str = "pipeline"
    base: str = "sentence-transformers/all-MiniLM-L6-v2"
    recipe: str = Field(..., description="Data recipe (see recipes/).")
    data_root: str | None = Field(None, description="Training data root (default: the recipe's).")
    output_dir: str = Field(..., description="Pipeline folder: one sub-folder per variant and seed, REPORT.md.")
    archive: str | None = Field(
        None, description="Folder of finished jobs' scores and per-item records (no models; small enough to "
        "commit): archived jobs are restored instead of run again, new ones added (mote.pipeline.archive)."
    )
    variants: list[str] = Field(default_factory=list, description="Variants to run (empty: all available).")
    seeds: list[int] = Field(default_factory=lambda: [42])
    key_seeds: list[int] = Field(default_factory=list, description="Extra seeds for the key variants.")
    key_variants: list[str] | None = Field(
        None, description="Variants run with key_seeds too (default: base, joint-instr, mote, mote-ea, mote-sp, "
        "separate-sp)."
    )
    baseline: str = Field("joint-instr", description="Deltas in the report are taken against this variant.")
    device: DeviceName = Field("auto", description="Device for training, merging and evaluation: auto|cpu|cuda|mps.")
    budget: Budget = Field(default_factory=Budget)  # type: ignore[arg-type]
    task_set: list[str] | None = Field(
        None, description="Tasks (experts / instructions) of every trained variant; the recipe's datasets of other "
        "tasks are left out (default: the 5 standard tasks, all datasets)."
    )
    serves: dict[str, list[str]] = Field(
        default_factory=dict, description="Task -> out-of-scope MTEB task types it serves (e.g. classification: "
        "[STS, PairClassification] when the task set has no similarity task)."
    )
    tasks: dict[str, TaskTraining] = Field(default_factory=dict, description="Task-aware training settings.")
    temperature_alpha: float = Field(0.5, ge=0, le=1, description="joint-temperature: P(dataset) ~ n**alpha.")
    ratios: dict[str, float] | None = Field(
        None, description="joint-ratio: target share per task or dataset (default: an equal share per task)."
    )
    merge: MergeSection = Field(default_factory=MergeSection)  # type: ignore[arg-type]
    analyses: Literal["auto"] | list[Literal["memory", "conflict", "spaces", "task-vectors", "landscape"]] = Field(
        "auto", description="Analyses the report embeds (mote.analyze, on the first seed's models): auto = every "
        "one that applies to the variants run; [] = none.")
    analysis: AnalysisSection = Field(default_factory=AnalysisSection)  # type: ignore[arg-type]
    eval: EvalSection = Field(default_factory=EvalSection)  # type: ignore[arg-type]

    @model_validator(mode="after")
    def _check(self) -> PipelineConfig:
        from mote.pipeline.variants import available_variants

        known = available_variants()
        for v in [*self.variants, self.baseline, *(self.key_variants or [])]:
            if v not in known:
                raise unknown_name("variant", v, known)
        from mote.merge.registry import available_methods
        from mote.tasks import TaskSet

        names = self.task_set or TaskSet().names
        TaskSet.from_names(names, serves=self.serves)  # unknown tasks / clashing MTEB mappings fail here
        for t in self.tasks:
            if t not in names:
                raise unknown_name("task in 'tasks'", t, names)
        methods = available_methods()
        for m in self.merge.parameters:
            if m not in methods:
                raise unknown_name("merge method in merge.parameters", m, methods)
        return self

    def is_key(self, variant: str) -> bool:
        from mote.pipeline.variants import all_variants

        if self.key_variants is not None:
            return variant in self.key_variants
        return all_variants()[variant].key

    def merge_parameters(self, method: str, variant: Any = None) -> dict[str, Any]:
        """The method's defaults, this config's merge.parameters for it, then what defines ``variant``."""
        from mote.pipeline.variants import DEFAULT_PARAMETERS

        own = dict(getattr(variant, "parameters", None) or {})
        return {**DEFAULT_PARAMETERS.get(method, {}), **self.merge.parameters.get(method, {}), **own}

    def selected(self) -> list[str]:
        from mote.pipeline.variants import available_variants

        return self.variants or available_variants()


def load_pipeline_config(path: str | Path, overrides: list[str] | None = None) -> PipelineConfig:
    path = Path(path)
    data: dict[str, Any] = read_yaml_mapping(path, "Pipeline config", overrides, example="budget.max_steps=20")
    resolve_inputs(path, data, ["base", "recipe", "data_root", "eval.data_root"])
    try:
        return PipelineConfig.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"Invalid pipeline config {str(path)!r}:\n{validation_message(e, PipelineConfig)}") from None

"""A data recipe: YAML validated by pydantic (unknown keys rejected) naming datasets, their source, task
and loader options; loading it applies the leakage rules of the data README and reports what each removed.

    data_root: ../../shared/data     # relative to the recipe file; overridable
    evaluate_scifact: true           # SciFact's train qrels are evaluated: no SciFact training
    datasets:
      pubmedqa: {max_examples: 400}                    # source defaults to the key
      trec-questions: {source: trec, hard_negatives: 2, options: {labels: fine}}

``load_recipe(path, overrides, data_root=...)`` returns ``{name: Dataset}`` with a ``.report``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Literal

from datasets import Dataset
from pydantic import Field, ValidationError, model_validator

from mote._errors import unknown_name, validation_message
from mote._yaml import StrictModel, read_yaml_mapping
from mote.data.build import DatasetPlan, build_dataset
from mote.data.leakage import build_eval_index
from mote.data.report import RecipeReport
from mote.data.sources import SOURCES, Source, get_source
from mote.tasks import DEFAULT_TASKS

log = logging.getLogger(__name__)

EXCLUSION_FLAGS = ("evaluate_scifact", "evaluate_sick", "evaluate_stc2", "evaluate_senteval_cv")

# What a recipe yields from the shared data, as one number: bump it whenever a reader, a cleaning step or the
# leakage pool changes the rows a recipe builds (tests/test_data_version.py holds the fingerprint of each
# version and fails on a change without a bump). Pipeline jobs hash it: models trained on other rows are
# never reused as if trained on these.
# 2: the leakage pool holds every text each evaluation task scores (STS12 train lost 213 MSRpar pairs whose
#    sentences MRPC's test scores: the training reader of MRPC had kept only its paraphrase pairs).
DATA_VERSION = 2


class DatasetSpec(StrictModel):
    """One dataset of the recipe: a source, its task and loader options."""

    source: str | None = Field(None, description="Registered source name (default: this dataset's key).")
    task: str | None = Field(None, description="The anchor's task (default: the source's).")
    positive_task: str | None = Field(
        None, description="Route of positives/negatives (default: the source's; 'document' when task is 'query')."
    )
    split: str | list[str] | None = Field(None, description="Split(s) to train on (default: the source's first).")
    path: str | None = Field(None, description="Location relative to data_root (default: the source's folder).")
    max_examples: int | None = Field(None, ge=1, description="Keep at most this many examples (seeded sample).")
    hard_negatives: int | None = Field(None, ge=0, le=64, description="Hard negatives per row (default: source's).")
    seed: int | None = Field(None, description="Sampling seed (default: the recipe's).")
    options: dict[str, Any] = Field(default_factory=dict, description="Source-specific reader options.")
    enabled: bool = Field(True, description="False: leave this dataset out.")


class Recipe(StrictModel):
    """Datasets -> task -> loader options, plus the leakage rules to apply."""

    data_root: str = Field(".", description="Folder the dataset paths are relative to (relative: to the recipe).")
    seed: int = Field(42, description="Default sampling seed.")
    tasks: list[str] = Field(default_factory=lambda: [t.name for t in DEFAULT_TASKS], description="Valid routes.")
    evaluate_scifact: bool = Field(True, description="SciFact (its train qrels) is evaluated: no SciFact training.")
    evaluate_sick: bool = Field(True, description="SICK-R is evaluated (it reads all 9,927 pairs): no SICK training.")
    evaluate_stc2: bool = Field(True, description="STC2 StackOverflow/SearchSnippets (unsplit) are evaluated.")
    evaluate_senteval_cv: bool = Field(
        False, description="SentEval MR/CR/SUBJ/MPQA (unsplit, 10-fold CV) are evaluated: no training on them."
    )
    dedupe_against_eval: bool = Field(True, description="Drop training rows whose text an evaluation reads.")
    sts_overlap: Literal["drop", "report"] = Field(
        "drop", description="STS-B rows matching only STS12-16 test (its sources): drop, or keep as 'seen source'."
    )
    datasets: dict[str, DatasetSpec] = Field(..., min_length=1, description="Dataset name -> spec.")

    @model_validator(mode="after")
    def _check(self) -> Recipe:
        for name, spec in self.datasets.items():
            source = get_source(spec.source or name)
            for task in (self.task_of(name), self.positive_task_of(name)):
                if task not in self.tasks:
                    raise unknown_name(f"task (dataset {name!r})", task, self.tasks)
            for split in self.splits_of(name):
                source.check_split(split)
            source.check_options(spec.options)
            if source.scored and spec.hard_negatives:
                raise ValueError(f"Dataset {name!r}: {source.name!r} gives scored pairs; set hard_negatives: 0.")
            if source.name == "generic" and ((spec.path is None and "hub" not in spec.options) or spec.task is None):
                raise ValueError(f"Dataset {name!r}: a generic source needs path (or options.hub) and task.")
        return self

    def source_of(self, name: str) -> Source:
        return SOURCES[self.datasets[name].source or name]

    def task_of(self, name: str) -> str:
        return self.datasets[name].task or self.source_of(name).task

    def positive_task_of(self, name: str) -> str:
        spec, source = self.datasets[name], self.source_of(name)
        if spec.positive_task:
            return spec.positive_task
        if spec.task is None:
            return source.default_positive_task
        return "document" if spec.task == "query" and "document" in self.tasks else spec.task

    def splits_of(self, name: str) -> tuple[str, ...]:
        split, source = self.datasets[name].split, self.source_of(name)
        if split is None:
            if not source.splits:
                raise ValueError(f"Source {source.name!r} has no trainable split (evaluation only).")
            return (source.splits[0],)
        return (split,) if isinstance(split, str) else tuple(split)

    def exclusion(self, name: str) -> str | None:
        """Why dataset ``name`` is not trained on (its source is evaluated), or None."""
        flag = self.source_of(name).excluded_by
        if flag is not None and getattr(self, flag):
            return f"{flag}: true ({self.source_of(name).evaluation} reads this data); set it false to train on it"
        return None

    def plan(self, name: str, data_root: Path) -> DatasetPlan:
        spec, source = self.datasets[name], self.source_of(name)
        return DatasetPlan(
            name=name,
            source=source,
            location=data_root / (spec.path or source.path),
            splits=self.splits_of(name),
            task=self.task_of(name),
            positive_task=self.positive_task_of(name),
            max_examples=spec.max_examples,
            hard_negatives=source.hard_negatives if spec.hard_negatives is None else spec.hard_negatives,
            seed=self.seed if spec.seed is None else spec.seed,
            options=spec.options,
        )


class RecipeDatasets(dict[str, Dataset]):
    """``{dataset name: Dataset}`` as the trainer takes it, with the loading ``report`` attached."""

    def __init__(self, datasets: dict[str, Dataset], report: RecipeReport) -> None:
        super().__init__(datasets)
        self.report = report


def read_recipe(
    path: str | Path, overrides: list[str] | None = None, *, data_root: str | Path | None = None
) -> tuple[Recipe, Path]:
    """Validate a recipe file with ``key.sub=value`` overrides; returns it with its resolved data root.

    ``data_root`` (relative: to the working directory) replaces the recipe's own, which is relative to
    the recipe file.
    """
    path = Path(path)
    data = read_yaml_mapping(path, "Recipe", overrides, example="datasets.stsb.max_examples=100")
    try:
        recipe = Recipe.model_validate(data)
    except ValidationError as e:
        raise ValueError(f"Invalid recipe {str(path)!r}:\n{validation_message(e, Recipe)}") from None
    root = Path(data_root) if data_root is not None else path.parent / recipe.data_root
    return recipe, root.resolve()


def build_recipe(recipe: Recipe, data_root: Path, name: str = "<recipe>") -> RecipeDatasets:
    """Build every enabled dataset of ``recipe`` under ``data_root``, applying the leakage rules."""
    if not data_root.is_dir():
        raise FileNotFoundError(f"data_root {str(data_root)!r} does not exist; pass data_root=... or fix the recipe.")
    flags = {f: bool(getattr(recipe, f)) for f in EXCLUSION_FLAGS}
    index = build_eval_index(data_root, flags) if recipe.dedupe_against_eval else None
    report = RecipeReport(name, str(data_root))
    if index is not None:
        report.checked_evaluations, report.missing_evaluations = list(index.checked), list(index.missing)
    out: dict[str, Dataset] = {}
    for ds_name, spec in recipe.datasets.items():
        if not spec.enabled:
            continue
        plan = recipe.plan(ds_name, data_root)
        reason = recipe.exclusion(ds_name)
        if reason:
            log.warning("Dataset %r excluded: %s.", ds_name, reason)
            report.datasets.append(plan.new_report())
            report.datasets[-1].excluded = reason
            continue
        report_only = plan.source.reuses if recipe.sts_overlap == "report" else ()
        out[ds_name], ds_report = build_dataset(plan, index, report_only)
        ds_report.same_source = sorted({e for names in plan.source.held_out().values() for e in names})
        report.datasets.append(ds_report)
    return RecipeDatasets(out, report)


def load_recipe(
    path: str | Path, overrides: list[str] | None = None, *, data_root: str | Path | None = None
) -> RecipeDatasets:
    """The recipe's datasets (``{name: Dataset}``, one per entry) with ``.report`` of what was removed."""
    recipe, root = read_recipe(path, overrides, data_root=data_root)
    datasets = build_recipe(recipe, root, name=str(path))
    log.info("%s", datasets.report.format())
    return datasets

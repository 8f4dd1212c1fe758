"""The merge config: one YAML file is one merge (``mote merge CONFIG.yaml --set key=value``).

.. code-block:: yaml

    base: models/base                 # dense base model (theta_0)
    models: [models/sts, models/retrieval]   # fine-tunes of the base ...
    # mote_model: models/mote         # ... or a MoTE model whose experts are merged
    method: ties
    parameters: {density: 0.5, lambda: 1.0}
    probe: {jsonl: probe.jsonl, size: 256}    # self_positioning, fisher, regmean
    out: merged/ties

Everything is checked at load time: unknown keys, an unknown method (did-you-mean), parameters against
the method's signature and ranges, the model count, a missing probe.

A mergekit-style YAML (``merge_method``, ``base_model``, ``models: [{model, parameters}]``, ...) is translated
by :mod:`mote.merge.mergekit_config` into this config first, then validated the same way; what mote cannot
honour is refused in one error listing every such key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from mote._errors import unknown_name, validation_message
from mote._yaml import StrictModel, read_yaml_mapping, resolve_inputs
from mote.merge.mergekit_config import from_mergekit, is_mergekit_config
from mote.merge.probe import ProbeTaskSettings
from mote.merge.registry import available_methods, get_method
from mote.runtime import DeviceName, Precision


class ProbeConfig(StrictModel):
    jsonl: str = Field(
        ..., description='JSONL of {"anchor", "positive", "task"} rows (optional anchor_task, positive_task).'
    )
    size: int | None = Field(default=256, ge=2, description="Examples sampled from the file (null: all).")
    seed: int = Field(default=0, ge=0, description="Seed of the sample.")
    tasks: list[str] | None = Field(default=None, description="Keep only these tasks (default: all).")
    prompts: bool = Field(
        default=True,
        description="Prepend the model's saved prompt named like the anchor's task (anchor_task or task) to the "
        "anchor and like positive_task (or task) to the positive, when the model has such a prompt.",
    )
    task_settings: dict[str, ProbeTaskSettings] | None = Field(
        default=None,
        description="Task -> the loss it was trained with ({loss, scored_loss, temperature}), used as its probe "
        "loss. Tasks not listed: the settings saved with the model (mote_train_config.yaml), else infonce at "
        "0.05 on unscored rows and cosent on scored rows.",
    )


class MergeConfig(StrictModel):
    """One merge: inputs, method, parameters, probe set and output folder."""

    base: str | None = Field(
        default=None,
        description="Dense base model (theta_0); required with `models`. With `mote_model`: overrides the MoTE "
        "config's base_model as the origin of the experts' task vectors.",
    )
    models: list[str] | None = Field(default=None, description="Dense fine-tunes of `base` (folders or references).")
    mote_model: str | None = Field(default=None, description="A MoTE model whose experts are merged into one.")
    model_tasks: list[str] | None = Field(
        default=None,
        description="Task of each entry of `models`: fisher/regmean measure model i on its task's probe examples "
        "(default: on all of them).",
    )
    method: str = Field(..., description="Merge method: a registered one (mote.merge.available_methods()).")
    parameters: dict[str, Any] = Field(default_factory=dict, description="The method's parameters.")
    probe: ProbeConfig | None = Field(default=None, description="Probe set; required by the methods that learn from "
                                      "examples (statistics or a learned fit: mote.merge.probe_methods()).")
    out: str = Field(..., description="Output folder: a dense sentence-transformers model + merge_report.json.")
    device: DeviceName = Field(
        default="auto",
        description="Where probe forward passes run (self_positioning, fisher, regmean): auto|cpu|cuda|mps.",
    )
    precision: Precision = Field(
        default="auto",
        description="Self Positioning's probe passes (see mote.runtime): auto|fp32|bf16|fp16; statistics stay fp32.",
    )
    overwrite: bool = Field(default=False, description="Replace an existing output folder.")
    progress: bool = Field(default=True, description="Show progress bars.")

    @model_validator(mode="after")
    def _check(self) -> MergeConfig:
        if (self.models is None) == (self.mote_model is None):
            raise ValueError("Give exactly one of `models` (dense fine-tunes) or `mote_model` (merge its experts).")
        if self.models is not None:
            if self.base is None:
                raise ValueError("`models` needs `base`: the dense model they were fine-tuned from (theta_0).")
            if not self.models:
                raise ValueError("`models` is empty; list the fine-tuned model folders to merge.")
            if self.model_tasks is not None and len(self.model_tasks) != len(self.models):
                raise ValueError(f"`model_tasks` has {len(self.model_tasks)} entries for {len(self.models)} models; "
                                 "give one task per model.")
        elif self.model_tasks is not None:
            raise ValueError("`model_tasks` is for `models`; a MoTE model's experts already know their tasks.")
        self._check_method()
        if get_method(self.method).needs_probe and self.probe is None:
            raise ValueError(f"Method {self.method!r} learns from examples: add probe: {{jsonl: PATH, size: 256}}.")
        return self

    def _check_method(self) -> None:
        known = available_methods()
        if self.method not in known:
            raise unknown_name("merge method", self.method, known)
        try:
            get_method(self.method).validate(self.parameters, self.n_models())
        except ValidationError as e:
            raise ValueError(f"parameters of {self.method}:\n{e}") from None
        except TypeError as e:
            raise ValueError(str(e)) from None

    def n_models(self) -> int | None:
        return len(self.models) if self.models is not None else None


def load_merge_config(path: str | Path, overrides: list[str] | None = None) -> MergeConfig:
    """Read and validate a merge YAML; ``overrides`` are ``key.sub=value`` strings (values parsed as YAML).

    Relative input paths (base, models, mote_model, probe.jsonl) that exist next to the config file are
    taken from there; ``out`` is relative to the working directory. A mergekit-style YAML (``merge_method``
    ...) is translated first (:func:`mote.merge.mergekit_config.from_mergekit`; overrides use its own keys,
    e.g. ``out=merged`` or ``parameters.density=0.5``), then validated like a native config.
    """
    path = Path(path)
    data = read_yaml_mapping(path, "Merge config", overrides, example="parameters.density=0.5")
    mergekit = is_mergekit_config(data)
    if mergekit:
        data = from_mergekit(data, f"Merge config {str(path)!r}")
    resolve_inputs(path, data, ["base", "mote_model", "models", "probe.jsonl"])
    try:
        return MergeConfig(**data)
    except ValidationError as e:
        read_as = (f" (a mergekit YAML, read as mote's method: {data.get('method')}, parameters: "
                   f"{data.get('parameters')})" if mergekit else "")
        message = validation_message(e, MergeConfig)
        raise ValueError(f"Invalid merge config {str(path)!r}{read_as}:\n{message}") from None

"""MoTE as a sentence-transformers model: up-cycle a dense ST model, load, encode, average, describe.

A MoTE folder is a standard sentence-transformers folder whose first module is sentence-transformers'
own ``Transformer`` holding a :class:`~mote.model.hf.MoteModel` (``config.json`` has
``model_type="mote"``); ``modules.json`` declares that module takes the ``task`` keyword, and every task's
instruction is stored as the sentence-transformers prompt of the same name. On a MoTE model,
``SentenceTransformer.encode(texts, task=t)`` applies task ``t``'s instruction unless ``prompt``/``prompt_name``
is given (hook installed by :mod:`mote.model.hf`), so every entry point runs expert and instruction together.
"""

from __future__ import annotations

import copy
import logging
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from mote import __version__
from mote._errors import unknown_name
from mote.model.architectures import get_arch
from mote.model.card import add_mote_section, use_card
from mote.model.hf import MoteConfig, MoteModel, task_instruction
from mote.model.io import WEIGHTS, ModelFolderError, atomic_dir, check_finite, inspect_folder
from mote.model.resolve import display_name, resolve_model
from mote.model.routing import TaskExperts
from mote.model.upcycle import average_backbone, select_layers
from mote.model.weights import INDEX, LazyStateDict, weights_dir
from mote.tasks import AUTO, InstructionChoice, TaskSet

log = logging.getLogger(__name__)


def _transformer(model: SentenceTransformer) -> Any:
    first = model[0]
    if not hasattr(first, "model"):
        raise TypeError(f"The first module of this model is {type(first).__name__}, not a Transformer.")
    return first


def is_mote(model: SentenceTransformer) -> bool:
    return isinstance(_transformer(model).model, MoteModel)


def mote_model(model: SentenceTransformer) -> MoteModel:
    inner = _transformer(model).model
    if not isinstance(inner, MoteModel):
        raise TypeError(f"This is a dense {type(inner).__name__} model, not a MoTE model; up-cycle it first.")
    return inner


def expand_state_dict(dense: dict[str, torch.Tensor], target: MoteModel) -> dict[str, torch.Tensor]:
    """Map a dense backbone state dict onto the MoTE model's keys: every expert gets the dense FFN.

    Strict: every target key must come from exactly one dense key of the same shape, and every dense key
    must be used.
    """
    out: dict[str, torch.Tensor] = {}
    used: set[str] = set()
    for key, ref in target.state_dict().items():
        src = _dense_key(key.removeprefix("backbone."))
        if src not in dense:
            raise KeyError(f"Up-cycling: MoTE tensor {key!r} has no dense source {src!r} in the base model.")
        if tuple(dense[src].shape) != tuple(ref.shape):
            raise ValueError(
                f"Up-cycling: shape mismatch for {key!r}: base {tuple(dense[src].shape)} vs MoTE {tuple(ref.shape)}."
            )
        out[key] = dense[src].clone()
        used.add(src)
    unused = sorted(set(dense) - used)
    if unused:
        raise KeyError(f"Up-cycling: base tensors not mapped into the MoTE model: {unused[:5]}.")
    return out


def _dense_key(key: str) -> str:
    parts = key.split(".")
    while "experts" in parts:
        i = parts.index("experts")
        del parts[i : i + 2]
    return ".".join(parts)


def upcycle(
    base: str | os.PathLike[str] | SentenceTransformer,
    tasks: TaskSet | Sequence[str] | None = None,
    layers: str | Sequence[int] = "every-other",
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    instructions: InstructionChoice | None = None,
) -> SentenceTransformer:
    """Up-cycle a dense sentence-transformers model into a MoTE model.

    Each selected block's FFN is copied into one expert per task, so right after up-cycling every task's
    embeddings equal the base model's. Saved to ``out`` when given (atomically), and returned loaded.

    ``instructions``: the prefix of each task when ``tasks`` are names (or None: the five standard tasks):
    ``"auto"`` (default: the base's own prompts where its sentence-transformers config declares them, none
    otherwise), ``"none"``, a named set (``mote``, ``e5``; :data:`mote.tasks.INSTRUCTION_SETS`) or a mapping
    task -> prefix. A :class:`~mote.tasks.TaskSet` carries its own prefixes.
    """
    if isinstance(tasks, str):  # "query" would otherwise be read as the tasks q, u, e, r, y
        tasks = [t.strip() for t in tasks.split(",") if t.strip()]
    if isinstance(tasks, TaskSet) and instructions is not None:
        raise ValueError("upcycle: pass `instructions` with task names, or a TaskSet carrying its own prefixes, "
                         f"not both (got instructions={instructions!r} and a TaskSet).")
    # a folder goes through the same checks as every load (config, safetensors only, complete and finite weights)
    dense = base if isinstance(base, SentenceTransformer) else load(base)
    declared = {k: v or "" for k, v in (dense.prompts or {}).items()}
    task_set = tasks if isinstance(tasks, TaskSet) else TaskSet.from_names(
        tasks, instruction_set=instructions or AUTO, base_prompts=declared)
    if any(t.instruction for t in task_set.tasks) and not any(declared.values()):
        log.warning(
            "The base declares no prompts, so it was probably never trained with prefixes: until this model is "
            "trained, the prefixes of its tasks lower its scores (all-MiniLM-L6-v2 lost 1.4 points on STS Benchmark "
            "and 11.5 on WikiQA with the `mote` set, before training). instructions='auto' (the default) adds "
            "none for such a base; see docs/training.md, \"Instruction sets\".")
    module = _transformer(dense)
    if isinstance(module.model, MoteModel):
        raise ValueError("This model is already a MoTE model; up-cycle a dense model.")
    backbone = module.model
    arch = get_arch(backbone.config.model_type)
    n_layers = len(backbone.get_submodule(arch.layers))
    config = MoteConfig(
        base_config=backbone.config,
        task_set=task_set.to_json(),
        upcycled_layers=select_layers(layers, n_layers),
        base_model=str(base) if not isinstance(base, SentenceTransformer) else base.model_card_data.base_model,
        mote_version=__version__,
    )
    moe = MoteModel(config)
    moe.load_state_dict(expand_state_dict(backbone.state_dict(), moe))
    moe.to(next(backbone.parameters()).dtype).eval()

    st = copy.copy(dense)  # shallow: share the other modules, swap the first module's model only
    module = _shallow_module_copy(module)
    module.model = moe
    st._modules = dict(dense._modules)  # type: ignore[assignment]
    st._modules[next(iter(dense._modules))] = module
    st.module_kwargs = {next(iter(dense._modules)): ["task"]}
    st.prompts = dict(task_set.prompts())
    st.default_prompt_name = None
    facts = card_facts(st)
    facts["title"] = f"MoTE ({len(task_set.names)} task experts) up-cycled from {facts['base_model']}"
    return _save_and_reload(st, out, overwrite, facts)


def card_facts(model: SentenceTransformer, **extra: Any) -> dict[str, Any]:
    """What a model card says about ``model`` (see :mod:`mote.model.card`): for a MoTE model its tasks,
    instructions, experts, blocks and parameters; for a dense one its prompts."""
    facts: dict[str, Any] = {"mote_version": __version__}
    if is_mote(model):
        moe = mote_model(model)
        summary = info(model)
        facts.update(
            kind="mote",
            tasks=[{"name": n, "instruction": task_instruction(model, n)} for n in moe.config.tasks.names],
            default_task=moe.config.tasks.default_task,
            upcycled_layers=summary.upcycled_layers,
            num_layers=summary.num_layers,
            total_params=summary.total_params,
            active_params=summary.active_params,
            base_model=display_name(moe.config.base_model),
            tags=["mixture-of-task-experts"],
        )
    else:
        facts.update(kind="dense", prompts={k: v for k, v in (model.prompts or {}).items() if v})
    facts.update(extra)
    return facts


def _shallow_module_copy(module: Any) -> Any:
    """A shallow copy whose child-module dict is its own, so swapping a child leaves the original intact."""
    clone = copy.copy(module)
    clone._modules = dict(module._modules)
    return clone


def _save_and_reload(
    st: SentenceTransformer, out: str | os.PathLike[str] | None, overwrite: bool,
    facts: dict[str, Any] | None = None,
) -> SentenceTransformer:
    check_finite(st.named_parameters(), "Refusing to save a model", "Its input weights are damaged (NaN/inf).")
    if out is None:
        with tempfile.TemporaryDirectory(prefix="mote-") as tmp:
            save(st, tmp, facts)
            return load(tmp)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        save(st, tmp, facts)
    return load(out)


def save(st: SentenceTransformer, folder: str | os.PathLike[str], facts: dict[str, Any] | None = None) -> None:
    """``st.save(folder)`` with mote's model card (sentence-transformers' card plus the mote section)."""
    if facts is not None:
        use_card(st, facts)
    st.save(str(folder))
    if facts is not None:
        add_mote_section(folder, facts)


def load(path: str | os.PathLike[str], device: str | None = "cpu") -> SentenceTransformer:
    """Load a MoTE or dense model folder (or a resolvable reference) after validating its files."""
    folder = resolve_model(path)
    if Path(folder).is_dir():
        inspect_folder(folder)
    try:
        st = SentenceTransformer(folder, device=device)
    except (OSError, RuntimeError) as e:
        raise ModelFolderError(f"Could not load model from {folder!r}: {e}") from e
    except (ValueError, IndexError) as e:  # e.g. a config naming a block the model lacks
        raise ModelFolderError(
            f"Could not build the model described by {folder!r}/config.json: {e} If the config was edited, restore "
            "the one saved with these weights; if it names a model type this transformers does not know, upgrade "
            "transformers."
        ) from e
    _check_loaded(st, Path(folder))
    return st


def _check_loaded(st: SentenceTransformer, folder: Path) -> None:
    """Weights must cover every expert the config declares, and hold finite values only."""
    if is_mote(st):
        moe = mote_model(st)
        wdir = weights_dir(folder)
        on_disk = set(LazyStateDict(wdir)) if (wdir / WEIGHTS).is_file() or (wdir / INDEX).is_file() else None
        if on_disk is not None:
            missing = sorted(k for k in moe.state_dict() if k not in on_disk)
            if missing:
                tasks = moe.config.tasks.names
                raise ModelFolderError(
                    f"{str(wdir / 'config.json')!r} declares {len(tasks)} tasks {tasks} on blocks "
                    f"{moe.config.upcycled_layers}, but {str(wdir / WEIGHTS)!r} has no weights for {len(missing)} "
                    f"of its tensors (first: {missing[0]!r}); they would be random. The config does not match the "
                    "weights: restore the config saved with these weights, or up-cycle again with these tasks."
                )
    check_finite(st.named_parameters(), f"Damaged weights in {str(folder)!r}",
                 "The file is damaged or came from a diverged run: restore or re-save the model.")


def saved_prompts(model: SentenceTransformer) -> dict[str, str]:
    """The model's prompts that hold text: a dense model's tasks (sentence-transformers adds empty ones)."""
    return {k: v for k, v in (model.prompts or {}).items() if isinstance(v, str) and v}


def encode(
    model: SentenceTransformer,
    texts: Sequence[str],
    task: str | None = None,
    batch_size: int = 64,
    show_progress_bar: bool = False,
    normalize: bool = False,
    instruction: bool = True,
) -> np.ndarray:
    """Encode with the task's expert AND (unless ``instruction=False``) its instruction prompt.

    On a MoTE model this is ``model.encode(texts, task=task)``, which applies the task's instruction (the
    saved prompt of that name; ``task=None`` means the model's ``default_task``); ``instruction=False``
    passes ``prompt=""``. Dense models (no experts) get the prompt named ``task`` when they have one, else
    the raw text.
    """
    if isinstance(texts, str):  # one text, not one text per character
        texts = [texts]
    kwargs: dict[str, Any] = {}
    if is_mote(model):
        kwargs["task"] = mote_model(model).config.tasks.resolve(task)
        if not instruction:
            kwargs["prompt"] = ""
    elif task is not None and instruction:
        prompts = saved_prompts(model)
        if task in prompts:
            kwargs["prompt_name"] = task
        elif prompts:  # a dense model trained with instructions: a mistyped task must not drop the prompt
            raise unknown_name(
                "task", task, prompts, "This dense model's tasks are its saved prompts; pass --no-instruction "
                "(instruction=False) to encode the raw text."
            )
        else:
            log.warning("%s has no prompts (tasks): task %r has no effect; encoding the raw text.",
                        type(model).__name__, task)
    emb = model.encode(
        list(texts),
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
        convert_to_numpy=True,
        normalize_embeddings=normalize,
        **kwargs,
    )
    return np.asarray(emb)


def average(
    model: SentenceTransformer,
    weights: Sequence[float] | dict[int, Sequence[float]] | dict[str, float] | None = None,
    out: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> SentenceTransformer:
    """Expert Averaging: fold the experts into one dense model in the standard format.

    ``weights``: None (uniform), a list with one weight per task, ``{task name: weight}``, or
    ``{block index: per-task list}``. The result loads with plain ``SentenceTransformer`` and
    ``transformers.AutoModel`` without mote installed; prompts are kept.
    """
    moe = mote_model(model)
    names = moe.config.tasks.names
    per_block: Sequence[float] | dict[int, Sequence[float]] | None
    if isinstance(weights, dict) and weights and all(isinstance(k, str) for k in weights):
        by_task = {str(k): float(v) for k, v in weights.items()}  # type: ignore[arg-type]
        unknown = sorted(set(by_task) - set(names))
        if unknown:
            raise unknown_name("task", unknown[0], names, "Weights are keyed by task name.")
        per_block = [by_task.get(n, 0.0) for n in names]
    else:
        per_block = weights  # type: ignore[assignment]
    backbone = copy.deepcopy(moe.backbone)
    average_backbone(backbone, moe.arch, per_block)
    first = next(iter(model._modules))
    module = _shallow_module_copy(_transformer(model))
    module.model = backbone
    st = copy.copy(model)
    st._modules = dict(model._modules)  # type: ignore[assignment]
    st._modules[first] = module
    st.module_kwargs = {}
    facts = card_facts(
        st, kind="averaged", method="Expert Averaging (each up-cycled block's experts folded into one FFN)",
        sources=[f"the {len(names)} task experts ({', '.join(names)}) of a MoTE model"],
        weights=_weights_by_task(per_block, names), base_model=display_name(moe.config.base_model),
        tags=["expert-averaging"],
    )
    facts["title"] = f"Expert-averaged dense model ({len(names)} tasks) of {facts['base_model']}"
    return _save_and_reload(st, out, overwrite, facts)


def _weights_by_task(weights: Sequence[float] | dict[int, Sequence[float]] | None, names: list[str]
                     ) -> dict[str, Any]:
    """The Expert Averaging weights as the card shows them: normalised, by task (per block when they differ)."""
    def named(ws: Sequence[float]) -> dict[str, float]:
        total = float(sum(ws)) or 1.0
        return {n: round(float(w) / total, 4) for n, w in zip(names, ws, strict=True)}

    if weights is None:
        return {"uniform": named([1.0] * len(names))}
    if isinstance(weights, dict):
        return {f"block {b}": named(ws) for b, ws in weights.items()}
    return named(weights)


@dataclass(frozen=True)
class ModelInfo:
    architecture: str
    tasks: list[str]
    upcycled_layers: list[int]
    num_layers: int
    total_params: int
    active_params: int
    disk_bytes: int | None
    base_model: str | None

    def as_text(self) -> str:
        lines = [
            f"architecture      {self.architecture}",
            f"tasks             {len(self.tasks)}: {', '.join(self.tasks) if self.tasks else '(dense model)'}",
            f"up-cycled layers  {len(self.upcycled_layers)} of {self.num_layers}: {self.upcycled_layers}",
            f"total parameters  {self.total_params:,}",
            f"active parameters {self.active_params:,} (per input)",
        ]
        if self.disk_bytes is not None:
            lines.append(f"size on disk      {self.disk_bytes / 2**20:.1f} MiB")
        if self.base_model:
            lines.append(f"base model        {self.base_model}")
        return "\n".join(lines)


def info(model: SentenceTransformer, path: str | os.PathLike[str] | None = None) -> ModelInfo:
    """Architecture, tasks, up-cycled layers, total/active parameters and size on disk."""
    inner = _transformer(model).model
    total = sum(p.numel() for p in model.parameters())
    disk = sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file()) if path else None
    if isinstance(inner, MoteModel):
        idle = 0
        for bank in inner.modules():
            if isinstance(bank, TaskExperts):
                per_expert = sum(p.numel() for p in bank.experts[0].parameters())
                idle += per_expert * (len(bank.experts) - 1)
        cfg = inner.config
        return ModelInfo(
            architecture=cfg.base_config.model_type,
            tasks=cfg.tasks.names,
            upcycled_layers=list(cfg.upcycled_layers or []),
            num_layers=len(inner.backbone.get_submodule(inner.arch.layers)),
            total_params=total,
            active_params=total - idle,
            disk_bytes=disk,
            base_model=cfg.base_model,
        )
    arch = inner.config.model_type
    n_layers = int(getattr(inner.config, "num_hidden_layers", 0))
    return ModelInfo(arch, [], [], n_layers, total, total, disk, None)

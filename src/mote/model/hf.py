"""The MoTE encoder as a Hugging Face model: ``model_type="mote"``, registered with the Auto classes.

A :class:`MoteModel` wraps the dense backbone of any supported architecture (``base_config``) whose
selected FFNs are banks of task experts. ``forward`` takes the usual encoder inputs plus ``task`` (one
name, or one per input) or ``task_ids`` (a tensor of expert indices), and returns the backbone output.
Saved with ``save_pretrained`` (safetensors) it is loaded by ``AutoModel`` and by sentence-transformers'
own ``Transformer`` module once ``mote`` is imported; no ``trust_remote_code`` is involved.

Importing this module also makes ``SentenceTransformer.encode(texts, task=...)`` on a MoTE model pair the
task's expert with the task's instruction (see :func:`install_encode_hook`); other models are untouched.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from transformers import AutoConfig, AutoModel, PretrainedConfig, PreTrainedModel
from transformers.configuration_utils import SubConfigSpec

from mote.model.architectures import get_arch
from mote.model.routing import routed
from mote.model.upcycle import upcycle_backbone
from mote.tasks import TaskSet


class MoteConfig(PretrainedConfig):  # type: ignore[misc]
    """Config of a MoTE encoder: the dense base config plus tasks and up-cycled blocks."""

    model_type = "mote"
    sub_configs_defaults = {"base_config": SubConfigSpec(config_class=AutoConfig, model_type="bert")}  # noqa: RUF012

    base_config: PretrainedConfig | dict[str, Any] | None = None
    task_set: dict[str, Any] | None = None
    upcycled_layers: list[int] | None = None
    base_model: str | None = None
    mote_version: str | None = None

    @property
    def tasks(self) -> TaskSet:
        return TaskSet.model_validate(self.task_set) if self.task_set else TaskSet()


class MoteModel(PreTrainedModel):  # type: ignore[misc]
    """Dense backbone + per-task expert banks; routes each example to its task's expert."""

    config_class = MoteConfig
    base_model_prefix = "mote"
    supports_gradient_checkpointing = False
    _supports_sdpa = True
    _supports_attention_backend = True

    def __init__(self, config: MoteConfig) -> None:
        super().__init__(config)
        base_config = config.base_config
        if not isinstance(base_config, PretrainedConfig):
            raise ValueError("MoteConfig.base_config is missing: the dense model's config is required.")
        self.arch = get_arch(base_config.model_type)
        self.backbone = AutoModel.from_config(base_config)
        self.tasks = config.tasks  # validated once; forward passes read it on every call
        upcycle_backbone(self.backbone, self.arch, len(self.tasks), config.upcycled_layers or [])
        self.post_init()

    # Weights come from the backbone's own initialisation or from a checkpoint; nothing to init here.
    def _init_weights(self, module: torch.nn.Module) -> None:
        init = getattr(self.backbone, "_init_weights", None)
        if init is not None:
            init(module)

    def get_input_embeddings(self) -> torch.nn.Module:
        emb: torch.nn.Module = self.backbone.get_input_embeddings()
        return emb

    def task_ids_for(self, task: str | Sequence[str] | None, batch_size: int, device: torch.device) -> torch.Tensor:
        idx = self.tasks.indices(task, batch_size)
        return torch.tensor(idx, dtype=torch.long, device=device)

    def forward(
        self,
        input_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        token_type_ids: torch.Tensor | None = None,
        position_ids: torch.Tensor | None = None,
        inputs_embeds: torch.Tensor | None = None,
        task: str | Sequence[str] | None = None,
        task_ids: torch.Tensor | None = None,
        return_dict: bool | None = None,
        output_hidden_states: bool | None = None,
        output_attentions: bool | None = None,
    ) -> Any:
        ref = input_ids if input_ids is not None else inputs_embeds
        if ref is None:
            raise ValueError("MoteModel.forward needs input_ids or inputs_embeds.")
        if task_ids is None:
            task_ids = self.task_ids_for(task, ref.shape[0], ref.device)
        elif task is not None:
            raise ValueError("Give either task or task_ids, not both.")
        ids: torch.Tensor = task_ids.reshape(-1).to(ref.device)
        given: dict[str, torch.Tensor | None] = {
            "input_ids": input_ids,
            "inputs_embeds": inputs_embeds,
            "attention_mask": attention_mask,
            "token_type_ids": token_type_ids,
            "position_ids": position_ids,
        }
        inputs = {k: v for k, v in given.items() if v is not None}
        flags = {"output_hidden_states": output_hidden_states, "output_attentions": output_attentions}
        flags = {k: v for k, v in flags.items() if v is not None}
        order = None
        if bool((ids[1:] < ids[:-1]).any()):  # mixed and not grouped: group rows by task
            order = torch.argsort(ids, stable=True)
            ids = ids[order]
            inputs = {k: v[order] for k, v in inputs.items()}
        with routed(ids):
            out = self.backbone(**inputs, **flags, return_dict=True)
        return out if order is None else _unpermute(out, order)


def _unpermute(out: Any, order: torch.Tensor) -> Any:
    """Restore the caller's row order on every batch-first tensor of a model output."""
    inverse = torch.empty_like(order)
    inverse[order] = torch.arange(order.numel(), device=order.device)
    for key, value in out.items():
        if isinstance(value, torch.Tensor) and value.shape[:1] == order.shape:
            out[key] = value[inverse]
        elif isinstance(value, tuple):
            out[key] = tuple(v[inverse] if isinstance(v, torch.Tensor) else v for v in value)
    return out


# -- sentence-transformers: encode(task=...) = the task's expert + the task's instruction ------------------
def mote_of(st: Any) -> MoteModel | None:
    """The :class:`MoteModel` inside a sentence-transformers model (first module's ``model``), else None."""
    first = next(iter(getattr(st, "_modules", {}).values()), None)
    inner = getattr(first, "model", None)
    return inner if isinstance(inner, MoteModel) else None


def task_instruction(st: Any, task: str) -> str:
    """The instruction of ``task`` on a MoTE sentence-transformers model.

    The sentence-transformers prompt of the same name (saved in the model folder, and what a user edits in
    ``model.prompts``); the task table's instruction when there is no such prompt.
    """
    moe = mote_of(st)
    if moe is None:
        raise TypeError("task_instruction() needs a MoTE model.")
    prompts = getattr(st, "prompts", None) or {}
    value = prompts.get(task)
    return value if isinstance(value, str) else moe.tasks.instruction(task)


def install_encode_hook() -> None:
    """Wrap ``SentenceTransformer.encode`` (once) so that on a MoTE model the task brings its instruction.

    sentence-transformers applies a prompt only when given ``prompt``/``prompt_name`` (or, in
    ``encode_query``/``encode_document``, the "query"/"document" prompt); it has no per-task prompt table,
    and a module class of our own would need ``trust_remote_code``. So the rule lives here, for every
    loaded MoTE model, saved or not:

    * no ``prompt`` and no ``prompt_name``: the task's instruction (:func:`task_instruction`) is applied;
      ``task=None`` means the model's ``default_task``. An explicit ``prompt`` (``""`` included) or
      ``prompt_name`` wins, as in ``encode_query``.
    * ``task`` a list (one task per input): each task's rows are encoded as one call with that task's
      expert and instruction, and the rows are put back in input order (sentence-transformers sorts inputs
      by length, so a per-input task list passed through would reach the wrong rows).

    Models without experts (dense, averaged, merged) go straight to sentence-transformers.
    """
    from sentence_transformers import SentenceTransformer

    original = SentenceTransformer.encode
    if getattr(original, "__mote_hook__", False):
        return
    signature = inspect.signature(original)

    @functools.wraps(original)
    def encode(self: Any, *args: Any, **kwargs: Any) -> Any:
        moe = mote_of(self)
        if moe is None:
            return original(self, *args, **kwargs)
        if "sentences" in kwargs and not args:  # the deprecated name of ``inputs``
            kwargs["inputs"] = kwargs.pop("sentences")
        try:
            bound = signature.bind(self, *args, **kwargs)
        except TypeError:
            return original(self, *args, **kwargs)  # let sentence-transformers report the bad call
        call = {k: v for k, v in bound.arguments.items() if k not in ("self", "kwargs")}
        call.update(bound.arguments.get("kwargs", {}))
        return _encode_with_instruction(original, self, moe, call)

    encode.__mote_hook__ = True  # type: ignore[attr-defined]
    SentenceTransformer.encode = encode  # type: ignore[method-assign]


def _encode_with_instruction(original: Callable[..., Any], st: Any, moe: MoteModel, call: dict[str, Any]) -> Any:
    task = call.get("task")
    explicit = call.get("prompt") is not None or call.get("prompt_name") is not None
    if task is None or isinstance(task, str):
        if not explicit:
            try:
                name = moe.tasks.resolve(task)
            except ValueError:  # no/unknown task: the model raises its own error (or there is nothing to encode)
                return original(st, **call)
            call["prompt"] = task_instruction(st, name)
        return original(st, **call)

    inputs = call["inputs"]
    rows = (
        [inputs]
        if st.is_singular_input(inputs)
        else (inputs.tolist() if isinstance(inputs, np.ndarray) else list(inputs))
    )
    names = [moe.tasks.resolve(t) for t in task]
    if len(names) != len(rows):
        raise ValueError(f"Got {len(names)} tasks for {len(rows)} inputs; give one task, or one per input.")
    groups: dict[str, list[int]] = {}
    for i, name in enumerate(names):
        groups.setdefault(name, []).append(i)
    if len(groups) <= 1:
        return _encode_with_instruction(original, st, moe, {**call, "task": names[0] if names else None})

    precision = call.get("precision", "float32")
    embeddings = call.get("output_value", "sentence_embedding") == "sentence_embedding"
    quantize = embeddings and precision not in (None, "float32")  # quantize all rows at once, as one call does
    parts, order = [], []
    for name, idx in groups.items():
        sub = {**call, "inputs": [rows[i] for i in idx], "task": name}
        if not explicit:
            sub["prompt"] = task_instruction(st, name)
        if quantize:
            sub.update(precision="float32", convert_to_numpy=True, convert_to_tensor=False)
        parts.append(original(st, **sub))
        order.extend(idx)
    inverse = np.argsort(np.asarray(order))  # row i of the input is row inverse[i] of the concatenation
    out: Any
    if isinstance(parts[0], torch.Tensor):
        out = torch.cat(parts)[torch.as_tensor(inverse, device=parts[0].device)]
    elif isinstance(parts[0], np.ndarray):
        out = np.concatenate(parts)[inverse]
    else:
        flat = [x for p in parts for x in p]
        out = [flat[i] for i in inverse]
    if quantize:
        from sentence_transformers.util import quantize_embeddings

        out = quantize_embeddings(out, precision=precision)
        if call.get("convert_to_tensor", False):
            out = torch.as_tensor(out)
        elif not call.get("convert_to_numpy", True):
            out = list(torch.from_numpy(out))
    return out


def register_auto_classes() -> None:
    """Register ``model_type="mote"`` with transformers' AutoConfig and AutoModel (idempotent)."""
    with contextlib.suppress(ValueError):  # already registered
        AutoConfig.register("mote", MoteConfig)
    with contextlib.suppress(ValueError):
        AutoModel.register(MoteConfig, MoteModel)


def register() -> None:
    """Register with the Auto classes and hook ``SentenceTransformer.encode`` (idempotent)."""
    register_auto_classes()
    install_encode_hook()


# Importing this module registers: the Auto classes now, the encode hook as soon as sentence-transformers is
# imported (see mote._autoload; importing it here, while it may be half-initialised, would fail).
from mote import _autoload  # noqa: E402

register_auto_classes()
if _autoload.ready("sentence_transformers"):
    install_encode_hook()
_autoload.install()

"""The MoTE encoder as a Hugging Face model: ``model_type="mote"``, registered with the Auto classes.

A :class:`MoteModel` wraps the dense backbone of any supported architecture (``base_config``) whose
selected FFNs are banks of task experts. ``forward`` takes the usual encoder inputs plus ``task`` (one
name, or one per input) or ``task_ids`` (a tensor of expert indices), and returns the backbone output.
Saved with ``save_pretrained`` (safetensors) it is loaded by ``AutoModel`` and by sentence-transformers'
own ``Transformer`` module once ``mote`` is imported; no ``trust_remote_code`` is involved.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

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


def register() -> None:
    """Register ``model_type="mote"`` with transformers' Auto classes (idempotent)."""
    with contextlib.suppress(ValueError):  # already registered
        AutoConfig.register("mote", MoteConfig)
    with contextlib.suppress(ValueError):
        AutoModel.register(MoteConfig, MoteModel)


register()

"""Merging a MoTE model's experts into one dense sentence-transformers model.

Each task's expert FFN weights are treated as a "model"; shared weights (attention, embeddings, norms)
are kept as they are. Task vectors are measured from an *origin*: the dense base model's FFN (the MoTE
config's ``base_model``, resolved with :func:`mote.model.resolve.resolve_model`), or, when that cannot
be resolved, the mean of the experts (the report says which and why).

- ``linear`` with uniform weights is Expert Averaging, equal to :func:`mote.model.sentence.average`;
- any registered method (``ties``, ``dare_ties``...) merges the expert tensors with the origin as base;
  ``fisher``/``regmean`` measure each expert on the probe examples routed to it;
- ``self_positioning`` learns per-task weights (optionally per layer) and a scale on the dense model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from sentence_transformers import SentenceTransformer
from torch import Tensor, nn

from mote.merge.engine import merge_state_dicts
from mote.merge.linear import linear
from mote.merge.probe import ProbeExample, backbone, check_probe, module_prefix
from mote.merge.registry import LearnedMethod, MergeMethod, get_method
from mote.merge.stats import diagonal_fisher, gram_matrices
from mote.model.hf import MoteModel
from mote.model.resolve import resolve_model
from mote.model.sentence import average, mote_model
from mote.model.weights import LazyStateDict


@dataclass
class ExpertBanks:
    """A MoTE backbone split by dense tensor name: shared tensors and one FFN state per task."""

    shared: dict[str, Tensor]
    experts: list[dict[str, Tensor]]
    tasks: list[str]
    source: dict[tuple[str, int], str] = field(default_factory=dict)  # (dense name, expert) -> MoTE key

    @property
    def ffn_names(self) -> list[str]:
        return sorted(self.experts[0])


def expert_key(key: str) -> tuple[str, int] | None:
    """``"encoder.layer.1.output.dense.experts.2.weight"`` -> ``("encoder.layer.1.output.dense.weight", 2)``."""
    parts = key.split(".")
    if "experts" not in parts:
        return None
    i = parts.index("experts")
    index = int(parts[i + 1])
    del parts[i : i + 2]
    return ".".join(parts), index


def split_experts(moe: MoteModel) -> ExpertBanks:
    tasks = moe.config.tasks.names
    shared: dict[str, Tensor] = {}
    experts: list[dict[str, Tensor]] = [{} for _ in tasks]
    source: dict[tuple[str, int], str] = {}
    for key, tensor in moe.backbone.state_dict().items():
        parsed = expert_key(key)
        if parsed is None:
            shared[key] = tensor.detach()
        else:
            experts[parsed[1]][parsed[0]] = tensor.detach()
            source[parsed] = key
    if not experts[0]:
        raise ValueError("This MoTE model has no expert banks (no up-cycled layers): nothing to merge.")
    return ExpertBanks(shared, experts, tasks, source)


def expert_origin(banks: ExpertBanks, base_ref: str | None) -> tuple[dict[str, Tensor], str]:
    """The origin FFN tensors and a sentence saying where they came from."""
    names = banks.ffn_names
    reason = "the MoTE config names no base_model"
    if base_ref:
        try:
            weights = LazyStateDict(resolve_model(base_ref))
            origin = {n: weights[n].to(banks.experts[0][n].device) for n in names}
            bad = [n for n in names if origin[n].shape != banks.experts[0][n].shape]
            if not bad:
                return origin, f"base model {base_ref!r}"
            reason = f"tensor {bad[0]!r} has shape {tuple(origin[bad[0]].shape)} in it"
        except (OSError, KeyError, ValueError) as e:
            reason = f"{type(e).__name__}: {e}"
    mean = {n: linear([e[n] for e in banks.experts], None) for n in names}
    return mean, f"mean of the experts (the base model {base_ref!r} could not be used: {reason})"


@dataclass
class ExpertMergeResult:
    model: SentenceTransformer
    report: dict[str, Any]


def merge_experts(
    model: SentenceTransformer,
    method: str,
    parameters: Mapping[str, Any] | None = None,
    probe: Sequence[ProbeExample] | None = None,
    base_ref: str | None = None,
) -> ExpertMergeResult:
    """Fold a MoTE model's experts into a dense sentence-transformers model with ``method``.

    ``method``: a registered method name (per tensor, or learned such as ``"self_positioning"``);
    ``parameters`` as in a merge config (validated here; ``weights`` are per task). ``probe``: examples for
    the methods that need one (learned, fisher, regmean). ``base_ref`` overrides the MoTE config's
    ``base_model`` as the origin. ``model`` is unchanged.
    """
    moe = mote_model(model)
    banks = split_experts(moe)
    params = dict(parameters or {})
    spec = get_method(method)
    checked = spec.validate(params, len(banks.tasks))  # keyword arguments, or a learned method's options
    origin, origin_note = expert_origin(banks, base_ref or moe.config.base_model)
    dense = _dense_skeleton(model)
    report: dict[str, Any] = {"tasks": banks.tasks, "origin": origin_note, "expert_tensors": banks.ffn_names}
    if isinstance(spec, LearnedMethod):
        ffn = _learned(spec, dense, banks, origin, probe, checked, report)
    else:
        stats = _expert_stats(model, moe, banks, spec, probe) if spec.stats else None
        assert isinstance(checked, dict)
        ffn, _ = merge_state_dicts(spec, checked, banks.experts, origin, banks.ffn_names, stats)
    backbone(dense).load_state_dict({**banks.shared, **ffn}, strict=True)
    return ExpertMergeResult(dense.to("cpu"), report)


def _dense_skeleton(model: SentenceTransformer) -> SentenceTransformer:
    """A dense copy of ``model`` (same modules and prompts; uniform-average FFN) on its device; ``model`` stays
    intact (``average`` works on copies of the modules it swaps)."""
    return average(model).to(next(model.parameters()).device)


def _learned(
    spec: LearnedMethod, dense: SentenceTransformer, banks: ExpertBanks, origin: Mapping[str, Tensor],
    probe: Sequence[ProbeExample] | None, options: Any, report: dict[str, Any],
) -> dict[str, Tensor]:
    """A learned method over the experts' task vectors (expert minus origin), fitted through the dense skeleton."""
    vectors = {n: torch.stack([e[n].float() - origin[n].float() for e in banks.experts]) for n in banks.ffn_names}
    base = {n: origin[n].to(banks.experts[0][n].dtype) for n in banks.ffn_names}
    result = spec.fn(dense, base, vectors, probe or [], options, module_prefix(dense, backbone(dense)))
    report[spec.name] = result.report()
    return dict(result.state)


def _expert_stats(
    model: SentenceTransformer, moe: MoteModel, banks: ExpertBanks, method: MergeMethod,
    probe: Sequence[ProbeExample] | None,
) -> list[dict[str, Tensor]]:
    examples = check_probe(probe or [])
    prefix = module_prefix(model, moe.backbone)
    out = []
    for i, task in enumerate(banks.tasks):
        mine = [ex for ex in examples if task in (ex["task"], ex.get("anchor_task"), ex.get("positive_task"))]
        if not mine:
            raise ValueError(f"{method.name}: no probe example routes through expert {task!r}; add examples of it.")
        if method.stats == "fisher":
            names = {prefix + banks.source[(n, i)]: n for n in banks.ffn_names}
            out.append(diagonal_fisher(model, mine, names, route=True))
        else:
            out.append(gram_matrices(model, mine, _expert_linears(moe, banks, i, prefix), route=True))
    return out


def _expert_linears(moe: MoteModel, banks: ExpertBanks, i: int, prefix: str) -> dict[str, str]:
    modules = dict(moe.backbone.named_modules())
    linears = {}
    for n in banks.ffn_names:
        key = banks.source[(n, i)]
        if key.endswith(".weight") and isinstance(modules.get(key[: -len(".weight")]), nn.Linear):
            linears[prefix + key[: -len(".weight")]] = n
    return linears

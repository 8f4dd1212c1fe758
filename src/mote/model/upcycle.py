"""Dense -> MoTE and back: copy each selected block's FFN into one expert per task; average them again.

These functions change an HF backbone (``BertModel``, ``ModernBertModel`` ...) in place and do no I/O.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence

import torch
from torch import nn

from mote.model.architectures import ArchSpec
from mote.model.routing import TaskExperts

LAYER_PRESETS = ("every-other", "all")


def select_layers(spec: str | Sequence[int], num_layers: int) -> list[int]:
    """Indices of the blocks to up-cycle.

    ``every-other`` (default): the odd indices 1, 3, 5, ... counted from the input, so the last block is
    included for an even depth (MiniLM-L6: 1, 3, 5). The paper up-cycles every other block (EOB) without
    saying which half; the odd half is mote's choice. ``all``; ``top-K``: the last K blocks;
    or an explicit list / comma-separated string of indices from 0 (negative indices are refused: ``-1``
    silently meaning the last block surprised users; use ``top-1``).
    """
    if isinstance(spec, str):
        s = spec.strip().lower()
        if s == "every-other":
            return list(range(1, num_layers, 2))
        if s == "all":
            return list(range(num_layers))
        if s.startswith("top-"):
            k = _parse_int(s[4:], spec)
            if not 1 <= k <= num_layers:
                raise ValueError(
                    f"Layer spec {spec!r}: K must be in 1..{num_layers} for this model "
                    "(or use 'every-other', 'all', or indices)."
                )
            return list(range(num_layers - k, num_layers))
        items: Sequence[int] = [_parse_int(p, spec) for p in s.split(",") if p.strip()]
    else:
        items = list(spec)
    negative = [i for i in items if i < 0]
    if negative:
        raise ValueError(
            f"Layer spec {spec!r} has negative block index {negative[0]}: blocks are counted from 0 at the input "
            f"(this model: 0..{num_layers - 1}). Name the block ({num_layers + negative[0]}), or use 'top-K' "
            "for the last K blocks."
        )
    out = sorted(set(items))
    if not out or any(not 0 <= i < num_layers for i in out):
        raise ValueError(
            f"Layer spec {spec!r} selects {list(items)}, but the model has blocks 0..{num_layers - 1}. "
            "Use 'every-other', 'all', 'top-K' or a list of indices in range."
        )
    return out


def _parse_int(text: str, spec: object) -> int:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(
            f"Cannot read layer spec {spec!r}: use 'every-other', 'all', 'top-K' (e.g. 'top-2') or "
            "indices such as '1,3,5'."
        ) from None


def _get(root: nn.Module, path: str) -> nn.Module:
    return root.get_submodule(path)


def _set(root: nn.Module, path: str, module: nn.Module) -> None:
    parent, _, name = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, name, module)


def blocks(backbone: nn.Module, arch: ArchSpec) -> nn.ModuleList:
    layers = _get(backbone, arch.layers)
    if not isinstance(layers, nn.ModuleList):
        raise TypeError(f"Expected a ModuleList of blocks at {arch.layers!r}, found {type(layers).__name__}.")
    return layers


def upcycle_backbone(backbone: nn.Module, arch: ArchSpec, num_tasks: int, layers: Sequence[int]) -> None:
    """Replace the FFN parts of ``layers`` by banks of ``num_tasks`` exact copies (in place)."""
    if num_tasks < 1:
        raise ValueError(f"num_tasks must be >= 1, got {num_tasks}.")
    layer_list = blocks(backbone, arch)
    bad = [i for i in layers if not 0 <= int(i) < len(layer_list)]
    if bad:
        raise ValueError(
            f"upcycled_layers {list(layers)} names block(s) {bad}, but the model has blocks 0..{len(layer_list) - 1}."
        )
    for i in layers:
        for path in arch.ffn:
            dense = _get(layer_list[i], path)
            if isinstance(dense, TaskExperts):
                raise ValueError(f"Block {i} ({path}) is already up-cycled.")
            _set(layer_list[i], path, TaskExperts([copy.deepcopy(dense) for _ in range(num_tasks)]))


def upcycled_layers(backbone: nn.Module, arch: ArchSpec) -> list[int]:
    layer_list = blocks(backbone, arch)
    return [i for i, b in enumerate(layer_list) if isinstance(_get(b, arch.ffn[0]), TaskExperts)]


def check_weights(weights: Sequence[float] | None, num_tasks: int) -> list[float]:
    """Normalised averaging weights; ``None`` is uniform."""
    if weights is None:
        return [1.0 / num_tasks] * num_tasks
    w = [float(x) for x in weights]
    if any(not math.isfinite(x) for x in w):
        raise ValueError(f"Expert weights must be finite numbers; got {w}. Give one finite weight >= 0 per task.")
    if len(w) != num_tasks:
        raise ValueError(f"Got {len(w)} expert weights for {num_tasks} experts; give one weight per task.")
    if any(x < 0 for x in w) or sum(w) <= 0:
        raise ValueError(f"Expert weights must be >= 0 with a positive sum; got {w}.")
    total = sum(w)
    return [x / total for x in w]


def average_bank(bank: TaskExperts, weights: Sequence[float]) -> nn.Module:
    """One dense module whose every parameter and buffer is the weighted mean over the bank's experts."""
    dense = copy.deepcopy(bank.experts[0])
    states = [e.state_dict() for e in bank.experts]
    merged = {}
    for key, ref in states[0].items():
        if ref.is_floating_point():
            acc = sum(w * s[key].double() for w, s in zip(weights, states, strict=True))
            merged[key] = torch.as_tensor(acc).to(ref.dtype)
        else:
            merged[key] = ref.clone()
    dense.load_state_dict(merged)
    return dense


def average_backbone(
    backbone: nn.Module,
    arch: ArchSpec,
    weights: Sequence[float] | dict[int, Sequence[float]] | None = None,
) -> None:
    """Expert Averaging in place: fold every bank back into one dense FFN.

    ``weights``: None (uniform), one weight per task for all blocks, or ``{block index: weights}``.
    """
    layer_list = blocks(backbone, arch)
    banks = upcycled_layers(backbone, arch)
    if isinstance(weights, dict):
        unknown = sorted(set(weights) - set(banks))
        if unknown:
            raise ValueError(f"Expert weights name block(s) {unknown}, but the up-cycled blocks are {banks}: "
                             "key the weights by one of those blocks.")
    for i in banks:
        for path in arch.ffn:
            bank = _get(layer_list[i], path)
            assert isinstance(bank, TaskExperts)
            w = weights.get(i) if isinstance(weights, dict) else weights
            _set(layer_list[i], path, average_bank(bank, check_weights(w, len(bank.experts))))

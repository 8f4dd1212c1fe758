"""Run a per-tensor merge method over whole state dicts, one tensor name at a time.

Tensors are visited in sorted name order and read from the (possibly lazy) inputs only when merged, so a
merge holds the output plus one tensor per model. One ``torch.Generator`` seeded with the method's
``seed`` serves every tensor: DARE's masks are reproducible and match mergekit's stream.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from tqdm.auto import tqdm

from mote.merge.registry import MergeMethod, check_model_count
from mote.merge.task_vector import StateDict, is_mergeable


def merge_state_dicts(
    method: MergeMethod,
    kwargs: Mapping[str, Any],
    models: Sequence[Mapping[str, Tensor]],
    base: Mapping[str, Tensor] | None,
    names: Sequence[str] | None = None,
    stats: Sequence[Mapping[str, Tensor]] | None = None,
    progress: bool = False,
) -> tuple[StateDict, list[str]]:
    """Merge ``names`` (default: all of the first model's) and return ``(merged, copied)``.

    ``kwargs`` are validated method arguments (:meth:`MergeMethod.validate`). Tensors that must not merge
    (integer buffers, :data:`~mote.merge.task_vector.NEVER_MERGE`) are copied from the base (else from the
    first model) and listed in ``copied``. Outputs keep the reference tensor's dtype.
    """
    check_model_count(method, len(models))
    if method.needs_base and base is None:
        raise ValueError(f"Method {method.name!r} merges task vectors: give the base model.")
    seed = int(kwargs.get("seed", 0))
    generator = torch.Generator().manual_seed(seed) if "generator" in method.injected else None
    merged: StateDict = {}
    copied: list[str] = []
    for name in tqdm(sorted(names if names is not None else models[0]), desc=f"merge:{method.name}",
                     disable=not progress):
        ref = base[name] if base is not None and name in base else models[0][name]
        if not is_mergeable(name, ref):
            merged[name] = ref.clone()
            copied.append(name)
            continue
        per_model = _stats_for(stats, name)
        out = method([m[name] for m in models], base[name] if base is not None else None,
                     stats=per_model, generator=generator, **kwargs)
        merged[name] = out.to(ref.dtype)
    return merged, copied


def _stats_for(stats: Sequence[Mapping[str, Tensor]] | None, name: str) -> list[Tensor] | None:
    if stats is None or any(name not in s for s in stats):
        return None
    return [s[name] for s in stats]

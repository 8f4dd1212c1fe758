"""Model merging: classic per-tensor methods, Self Positioning, and folding a MoTE model's experts.

>>> from mote.merge import get_method, run_merge
>>> get_method("ties").validate({"density": 0.5}, n_models=2)
{'density': 0.5}

See docs/merging.md for each method's exact semantics.
"""

from __future__ import annotations

from mote.merge.config import MergeConfig, ProbeConfig, load_merge_config
from mote.merge.engine import merge_state_dicts
from mote.merge.experts import ExpertMergeResult, expert_origin, merge_experts, split_experts
from mote.merge.mergekit_config import from_mergekit, is_mergekit_config
from mote.merge.registry import (
    LearnedMethod,
    MergeMethod,
    available_methods,
    get_method,
    learned_method,
    merge_method,
    probe_methods,
)
from mote.merge.run import merge_models, run_merge
from mote.merge.self_positioning import SelfPositioningOptions, SelfPositioningResult, self_position
from mote.merge.task_vector import (
    IncompatibleModelsError,
    apply_task_vector,
    check_compatible,
    is_mergeable,
    task_vector,
)

__all__ = [
    "ExpertMergeResult",
    "IncompatibleModelsError",
    "LearnedMethod",
    "MergeConfig",
    "MergeMethod",
    "ProbeConfig",
    "SelfPositioningOptions",
    "SelfPositioningResult",
    "apply_task_vector",
    "available_methods",
    "check_compatible",
    "expert_origin",
    "from_mergekit",
    "get_method",
    "is_mergeable",
    "is_mergekit_config",
    "learned_method",
    "load_merge_config",
    "merge_experts",
    "merge_method",
    "merge_models",
    "merge_state_dicts",
    "probe_methods",
    "run_merge",
    "self_position",
    "split_experts",
    "task_vector",
]

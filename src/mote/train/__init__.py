"""Training: config, dataset adaptation, samplers, a thin trainer subclass, callbacks, evaluation during training.

``train(config)`` (:mod:`mote.train.run`) runs sentence-transformers' trainer with one dataset and one loss per
source; ``load_config(path, overrides)`` (:mod:`mote.train.config`) reads and validates a training YAML. The
names below load on first use (importing this package does not load torch or the trainer).
"""

from __future__ import annotations

import importlib

_API = {"train": "run", "TrainConfig": "config", "load_config": "config", "MtebEvaluator": "evaluator"}
__all__ = sorted(_API)


def __getattr__(name: str) -> object:
    if name in _API:
        return getattr(importlib.import_module(f"mote.train.{_API[name]}"), name)
    raise AttributeError(f"module 'mote.train' has no attribute {name!r}")

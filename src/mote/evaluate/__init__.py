"""Evaluation through MTEB on local data: suites, a routing encoder for all our model kinds, summaries.

Needs the ``eval`` extra (mteb, matplotlib). Public API::

    evaluate(model_path, suite="mteb-lite", tasks=None, task_types=None, data_root=..., out=...) -> dict
    compare(result_dirs, baseline, png="compare.png") -> str
"""

from __future__ import annotations

from mote.evaluate.compare import compare
from mote.evaluate.encoder import MoteEncoder, load_encoder
from mote.evaluate.route import Router, TaskRoute
from mote.evaluate.run import evaluate
from mote.evaluate.suites import SUITES, TASKS, select_tasks

__all__ = ["SUITES", "TASKS", "MoteEncoder", "Router", "TaskRoute", "compare", "evaluate", "load_encoder",
           "select_tasks"]

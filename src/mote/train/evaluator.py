"""Evaluation during training: MTEB tasks scored by mote's evaluation, as a sentence-transformers evaluator.

sentence-transformers' trainer runs an evaluator every ``eval_steps``, logs its metrics (to every
``report_to`` backend and the trainer's log history), writes them into the model card and, with
``load_best_model_at_end``, keeps the checkpoint with the best primary metric. :class:`MtebEvaluator` is that
evaluator for any task of mote's suites: the model in training is wrapped exactly as ``mote evaluate`` wraps a
saved one (expert and instruction chosen by MTEB's task type and role), and MTEB's own evaluator scores it.
The primary metric is the mean main score (x100) over the chosen tasks.

Choose tasks the final report does not score (a dev split, or a task held out of the comparison): selecting
a checkpoint on a task and then reporting that task overstates the model.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any

from sentence_transformers.base.evaluation.evaluator import BaseEvaluator

log = logging.getLogger(__name__)


class MtebEvaluator(BaseEvaluator):  # type: ignore[misc]
    """Score the model on ``tasks`` (names from mote's evaluation suites) through MTEB."""

    def __init__(
        self,
        tasks: Sequence[str],
        data_root: str | os.PathLike[str] | None = None,
        suite: str = "extended",
        batch_size: int = 64,
        name: str = "mteb",
    ) -> None:
        super().__init__()
        from mote.evaluate.run import resolve_data_root
        from mote.evaluate.suites import select_tasks

        self.defs = select_tasks(suite, list(tasks))  # unknown names: an error with "did you mean", before training
        self.data_root = resolve_data_root(data_root, self.defs)
        self.batch_size = batch_size
        self.name = name
        self.primary_metric = "mean"
        self.greater_is_better = True

    def __call__(self, model: Any, output_path: str | None = None, epoch: Any = -1, steps: int = -1
                 ) -> dict[str, float]:
        from mote.evaluate.encoder import MoteEncoder
        from mote.evaluate.run import run_task

        was_training = model.training
        # fp32 scores (as the report's): under the trainer's bf16 autocast too, the encoder sets its own precision;
        # the model stays on the device (and rank) the trainer put it on
        encoder = MoteEncoder(model, name="in-training", cache_dir=None, precision="fp32", batch_size=self.batch_size,
                              in_place=True)
        scores: dict[str, float] = {}
        try:
            for defn in self.defs:
                row, _, _ = run_task(encoder, defn, self.data_root, records=False)
                scores[defn.name] = round(row.score, 4)
        finally:
            model.train(was_training)
        scores["mean"] = round(sum(scores.values()) / len(scores), 4)
        log.info("evaluation at step %s: %s", steps, scores)
        metrics = self.prefix_name_to_metrics(scores, self.name)
        self.store_metrics_in_model_card_data(model, metrics, epoch, steps)
        return metrics

    @property
    def description(self) -> str:
        return "MTEB (mote evaluate)"

    def get_config_dict(self) -> dict[str, Any]:
        return {"tasks": [d.name for d in self.defs]}

"""A thin subclass of sentence-transformers' trainer: per-task loss logging, a finite-loss guard, and
atomic checkpoints. Losses, samplers, prompts and routing all come from sentence-transformers."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from collections import defaultdict
from typing import Any

import torch
from sentence_transformers import SentenceTransformerTrainer
from transformers.trainer_utils import rotate_checkpoints

BATCHES_FILE = "batches.jsonl"


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite; training stops and the last good checkpoint is kept."""


def batch_fingerprint(inputs: dict[str, Any]) -> str:
    """Short hash of a batch's token ids: lets tests check that no example is skipped or repeated."""
    h = hashlib.sha1()
    for key in sorted(inputs):
        value = inputs[key]
        if key.endswith("input_ids") and isinstance(value, torch.Tensor):
            h.update(value.detach().cpu().numpy().tobytes())
    return h.hexdigest()[:12]


def _drop_zero_grads(optimizer: torch.optim.Optimizer, *_: Any) -> None:
    """Under DDP, unrouted experts carry exactly-zero gradients (see TaskExperts._unused_zero); make them
    ``None`` so the optimizer skips them, as in single-process training."""
    for group in optimizer.param_groups:
        for p in group["params"]:
            if p.grad is not None and not bool(p.grad.any()):
                p.grad = None


class MoteTrainer(SentenceTransformerTrainer):  # type: ignore[misc]
    def __init__(self, *args: Any, task_of: dict[str, str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.task_of = task_of or {}
        self._task_losses: dict[str, list[float]] = defaultdict(list)
        self._examples = 0
        self._last_log = time.perf_counter()

    def compute_loss(
        self, model: Any, inputs: dict[str, Any], return_outputs: bool = False, num_items_in_batch: Any = None
    ) -> Any:
        dataset = inputs.get("dataset_name")
        task = self.task_of.get(str(dataset), str(dataset))
        fingerprint = batch_fingerprint(inputs)
        n = next((v.shape[0] for k, v in inputs.items() if k.endswith("input_ids")), 0)
        self._examples += int(n)
        out = super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
        loss = out[0] if return_outputs else out
        value = float(loss.detach())  # type: ignore[union-attr]
        if not torch.isfinite(torch.tensor(value)):
            raise NonFiniteLossError(self._non_finite_message(value, dataset, task))
        self._task_losses[task].append(value)
        self._record_batch(str(dataset), task, fingerprint, value)
        return out

    def _non_finite_message(self, value: float, dataset: Any, task: str) -> str:
        """What happened, what is kept (only a checkpoint that exists), and what to do next."""
        from transformers.trainer_utils import get_last_checkpoint

        out = str(self.args.output_dir)
        last = get_last_checkpoint(out) if os.path.isdir(out) else None
        kept = (f"The last checkpoint, {last!r}, is kept." if last else
                f"No checkpoint was saved yet (train.save_steps={self.args.save_steps}): nothing to resume.")
        half = self.args.bf16 or self.args.fp16
        fixes = ["lower train.learning_rate or this task's temperature and start a new run (another "
                 "train.output_dir: --resume keeps a run's settings)"]
        if half:
            fixes.insert(0, "resume with --resume --precision fp32 (this run used half precision)" if last else
                         "rerun with --precision fp32 (this run used half precision)")
        return (f"Loss is {value} at step {self.state.global_step + 1} (dataset {dataset!r}, task {task!r}); "
                f"training stopped. {kept} To go on: {'; or '.join(fixes)}.")

    def create_optimizer(self, *args: Any, **kwargs: Any) -> Any:
        optimizer = super().create_optimizer(*args, **kwargs)
        if self.args.world_size > 1:
            optimizer.register_step_pre_hook(_drop_zero_grads)
        return optimizer

    def _record_batch(self, dataset: str, task: str, fingerprint: str, loss: float) -> None:
        """One line per optimizer step in ``batches.jsonl``: dataset, task, a content hash of the batch
        (so a resumed run can be compared batch by batch) and the loss (per-dataset curves)."""
        if self.args.process_index != 0 or self.model.training is False:
            return
        row = {"step": self.state.global_step + 1, "dataset": dataset, "task": task, "batch": fingerprint, "loss": loss}
        with open(os.path.join(str(self.args.output_dir), BATCHES_FILE), "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")

    def log(self, logs: dict[str, float], *args: Any, **kwargs: Any) -> None:
        if "loss" in logs:
            for task, values in sorted(self._task_losses.items()):
                logs[f"loss/{task}"] = round(sum(values) / len(values), 5)
            now = time.perf_counter()
            logs["examples_per_s"] = round(self._examples / max(now - self._last_log, 1e-9), 2)
            self._task_losses.clear()
            self._examples = 0
            self._last_log = now
        super().log(logs, *args, **kwargs)

    def _save_checkpoint(self, model: Any, trial: Any) -> None:
        """Write the checkpoint into ``.staging/`` and rename it into place once complete."""
        run_dir = self._get_output_dir(trial=trial)
        staging = os.path.join(run_dir, ".staging")
        name = f"checkpoint-{self.state.global_step}"
        if self.args.should_save:  # a save killed earlier may have left files here: never mix them in
            shutil.rmtree(os.path.join(staging, name), ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self._get_output_dir = lambda trial=None: staging  # type: ignore[method-assign,misc]
        try:
            super()._save_checkpoint(model, trial)
        finally:
            del self._get_output_dir
        # the trainer recorded the best checkpoint (evaluation with select_best) where it wrote it, in staging:
        # point it (and the checkpoint's own state, which a resume reads) at the place it is renamed to
        best = self.state.best_model_checkpoint
        if best and os.path.dirname(os.path.normpath(best)) == os.path.normpath(staging):
            self.state.best_model_checkpoint = os.path.join(run_dir, os.path.basename(os.path.normpath(best)))
            if self.args.should_save:
                self.state.save_to_json(os.path.join(staging, name, "trainer_state.json"))
        self.accelerator.wait_for_everyone()
        if self.args.should_save:
            final = os.path.join(run_dir, name)
            if os.path.exists(final):
                shutil.rmtree(final)
            os.replace(os.path.join(staging, name), final)
            with contextlib.suppress(OSError):
                os.rmdir(staging)  # only when empty
        if self.args.should_save:
            rotate_checkpoints(
                output_dir=run_dir,
                save_total_limit=self.args.save_total_limit,
                best_model_checkpoint=self.state.best_model_checkpoint,
                use_mtime=False,
            )
        self.accelerator.wait_for_everyone()

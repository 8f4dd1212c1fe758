"""Training callbacks: metrics per logging step to ``metrics.jsonl`` (resume-safe).

``metrics.jsonl`` holds the entries of the Trainer's own ``state.log_history`` (same keys, same values, plus the
wall-clock ``time``), written as each one is logged. ``log_history`` reaches disk only inside checkpoints
(``checkpoint-N/trainer_state.json``, every ``save_steps``, pruned by ``save_total_limit``; mote writes no final
trainer state), so a run killed between checkpoints would lose its last curve, and nothing can be followed
while a run is going. See docs/design.md ("Libraries used, and what mote writes by hand").
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from mote.model.io import atomic_write_text

log = logging.getLogger(__name__)


class JsonlMetrics(TrainerCallback):  # type: ignore[misc]
    """Appends one JSON line per log event (the ``state.log_history`` entry, plus ``time``); on resume drops
    lines past the resumed step, so the file again matches the resumed ``log_history``."""

    def __init__(self, path: str | Path, also_truncate: tuple[str | Path, ...] = ()) -> None:
        self.path = Path(path)
        self.also_truncate = [Path(p) for p in also_truncate]

    def on_train_begin(self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **_: Any) -> None:
        if state.is_world_process_zero:
            for path in (self.path, *self.also_truncate):
                truncate_after(path, state.global_step)

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **_: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps({"step": state.global_step, "time": time.time(), **logs}) + "\n")


def truncate_after(path: Path, step: int) -> None:
    """Drop JSONL lines whose ``step`` is past ``step`` (work redone after a resume is logged again).

    A line that is not a JSON object (the half-written last line of a killed run) is dropped with a warning;
    the file is rewritten atomically, and only when something changes."""
    if not path.exists():
        return
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    kept, damaged = [], 0
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            row = None
        if not isinstance(row, dict):
            damaged += 1
        elif row.get("step", 0) <= step:
            kept.append(line)
    if damaged:
        log.warning("%s: dropped %d damaged line(s) (a write cut short when the run was killed).", path, damaged)
    if len(kept) != len(lines):
        atomic_write_text(path, "".join(f"{line}\n" for line in kept))


def loss_curve_summary(batches_jsonl: Path, fraction: float = 0.25) -> dict[str, dict[str, float]]:
    """Mean loss per dataset (and per task) over the first and the last ``fraction`` of its steps."""
    if not batches_jsonl.exists():
        return {}
    rows = [json.loads(line) for line in batches_jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
    groups: dict[str, list[float]] = {}
    for r in rows:
        if "loss" in r:
            groups.setdefault(f"dataset/{r['dataset']}", []).append(float(r["loss"]))
            groups.setdefault(f"task/{r.get('task', r['dataset'])}", []).append(float(r["loss"]))
    out = {}
    for key, values in sorted(groups.items()):
        k = max(1, int(len(values) * fraction))
        first, last = values[:k], values[-k:]
        out[key] = {"steps": len(values), "first": sum(first) / len(first), "last": sum(last) / len(last)}
    return out

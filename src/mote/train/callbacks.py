"""Training callbacks: metrics per logging step to ``metrics.jsonl`` (resume-safe)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments


class JsonlMetrics(TrainerCallback):  # type: ignore[misc]
    """Appends one JSON line per log event; on resume drops lines past the resumed step."""

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
    """Drop JSONL lines whose ``step`` is past ``step`` (work redone after a resume is logged again)."""
    if not path.exists():
        return
    kept = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and json.loads(line).get("step", 0) <= step
    ]
    path.write_text("".join(f"{line}\n" for line in kept), encoding="utf-8")


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

"""Summaries of an evaluation run: main score per task, averages per task type and overall, as JSON and markdown.

Scores are MTEB main scores x 100. ``mean_over_types`` averages the per-type averages (each type counts
once, as MTEB's leaderboard does); ``mean_over_tasks`` averages all tasks (each task counts once).
"""

from __future__ import annotations

import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from statistics import fmean
from typing import Any


@dataclass(frozen=True)
class TaskScore:
    """One task's outcome in a run."""

    task: str
    type: str
    split: str
    metric: str
    score: float  # main score x 100
    seconds: float
    mteb_identical: bool
    source: str  # data folder under data_root


def type_averages(rows: Sequence[TaskScore]) -> dict[str, float]:
    """Mean score per task type, types in first-seen order."""
    by_type: dict[str, list[float]] = {}
    for r in rows:
        by_type.setdefault(r.type, []).append(r.score)
    return {t: fmean(v) for t, v in by_type.items()}


def mean_over_types(per_task: Mapping[str, Any], types: Mapping[str, str]) -> Any:
    """Mean over task types of the per-type mean of ``per_task`` (task -> a number, or an array of numbers:
    resamples): each type counts once, as MTEB's leaderboard averages. ``types``: task -> type."""
    by_type: dict[str, list[Any]] = {}
    for task, value in per_task.items():
        by_type.setdefault(types[task], []).append(value)
    type_means = [sum(v) / len(v) for v in by_type.values()]
    return sum(type_means) / len(type_means)


def summarize(rows: Sequence[TaskScore], **info: Any) -> dict[str, Any]:
    """The ``summary.json`` payload: per-task rows, type averages, both overall means, timing, ``info``."""
    if not rows:
        raise ValueError("No task results to summarise.")
    types = type_averages(rows)
    return {
        **info,
        "tasks": {r.task: asdict(r) for r in rows},
        "type_averages": types,
        "mean_over_types": fmean(types.values()),
        "mean_over_tasks": fmean(r.score for r in rows),
        "timing": {"tasks_seconds": sum(r.seconds for r in rows)},
    }


def machine_info() -> dict[str, Any]:
    """Cores, platform and library versions, recorded with every run."""
    import mteb
    import sentence_transformers
    import torch
    import transformers

    from mote.runtime import available_cores, cpu_info

    cpu = cpu_info()
    return {
        "cpu": cpu.model,
        "cpu_kind": cpu.kind,
        "cpu_flags": [f for f, on in cpu.flags_of_interest().items() if on],
        "cores_available": available_cores(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "processor": platform.processor() or platform.machine(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "mteb": getattr(mteb, "__version__", "unknown"),
        "sentence_transformers": sentence_transformers.__version__,
        "transformers": transformers.__version__,
    }


def _fmt(x: float) -> str:
    return f"{x:.2f}"


def to_markdown(summary: dict[str, Any]) -> str:
    """Human-readable ``summary.md``: task table, type averages, overall means, timing and machine."""
    lines = [f"# Evaluation: {summary.get('model_name', 'model')} on {summary.get('suite', '?')}", ""]
    lines += ["| task | type | split | metric | score | seconds |", "|---|---|---|---|---:|---:|"]
    for r in summary["tasks"].values():
        star = " ★" if r["mteb_identical"] else ""
        cells = [r["task"] + star, r["type"], r["split"], r["metric"], _fmt(r["score"]), f"{r['seconds']:.1f}"]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", "| task type | average |", "|---|---:|"]
    lines += [f"| {t} | {_fmt(v)} |" for t, v in summary["type_averages"].items()]
    lines += [
        f"| **mean over task types** | **{_fmt(summary['mean_over_types'])}** |",
        f"| **mean over tasks** | **{_fmt(summary['mean_over_tasks'])}** |",
        "",
        "★ = MTEB's own dataset (score comparable with the MTEB leaderboard). Scores are MTEB main scores x 100.",
    ]
    timing = summary.get("timing", {})
    if "total_seconds" in timing:
        lines.append(f"Wall time {timing['total_seconds']:.1f} s (tasks {timing['tasks_seconds']:.1f} s).")
    cache = summary.get("cache")
    if cache:
        lines.append(
            f"Embedding cache: {cache['hits']} hits, {cache['misses']} misses, {cache['encoded_texts']} texts encoded."
        )
    settings = summary.get("settings")
    if settings:
        lines.append("Settings: " + ", ".join(f"{k}={v}" for k, v in settings.items()) + ".")
    machine = summary.get("machine")
    if machine:
        lines.append("Machine: " + ", ".join(f"{k}={v}" for k, v in machine.items()) + ".")
    return "\n".join(lines) + "\n"

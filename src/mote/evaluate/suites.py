"""Choosing evaluation tasks: a suite, restricted by task names and types. The tasks and suites themselves are
declared once, in :mod:`mote.data.evaluations.tasks`."""

from __future__ import annotations

from collections.abc import Sequence

from mote._errors import unknown_name
from mote.data.evaluations.tasks import SUITES, TASKS, TaskDef

__all__ = ["SUITES", "TASKS", "TaskDef", "select_tasks"]


def _lookup(kind: str, value: str, allowed: Sequence[str], fix: str) -> str:
    if value in allowed:
        return value
    folded = {a.lower(): a for a in allowed}
    if value.lower() in folded:
        return folded[value.lower()]
    raise unknown_name(kind, value, allowed, fix)


def select_tasks(
    suite: str, tasks: Sequence[str] | None = None, task_types: Sequence[str] | None = None
) -> list[TaskDef]:
    """Tasks of ``suite`` in suite order, restricted to ``tasks`` names and/or ``task_types``.

    Unknown names raise ``ValueError`` listing the valid ones with a did-you-mean suggestion.
    """
    if suite not in SUITES:
        raise unknown_name("suite", suite, SUITES, "Pass one of these as suite (--suite).")
    members = [TASKS[n] for n in SUITES[suite]]
    names = [t.name for t in members]
    types = list(dict.fromkeys(t.type for t in members))
    keep = set(names)
    if tasks:
        fix = f"Restrict to tasks of suite {suite!r}; use suite 'extended' for the others."
        keep &= {_lookup("task", n, names, fix) for n in tasks}
    if task_types:
        wanted = {
            _lookup("task type", t, types, f"Task types of suite {suite!r} are listed above.") for t in task_types
        }
        keep &= {t.name for t in members if t.type in wanted}
    chosen = [t for t in members if t.name in keep]
    if not chosen:
        raise ValueError(
            f"No task of suite {suite!r} matches tasks={list(tasks or [])} and task_types={list(task_types or [])}; "
            "drop one of the filters or make them agree."
        )
    return chosen

"""Error helpers: every message names the value received, what was allowed, and the fix."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError


def did_you_mean(value: str, allowed: Iterable[str]) -> str:
    """Return ' Did you mean "x"?' for the closest allowed name, or '' when nothing is close."""
    close = difflib.get_close_matches(str(value), list(allowed), n=1, cutoff=0.5)
    return f' Did you mean "{close[0]}"?' if close else ""


def plural(kind: str) -> str:
    """'task' -> 'tasks', 'loss' -> 'losses', 'task in instructions' -> 'tasks in instructions'."""
    m = re.search(r" (in|of) ", kind)
    head, rest = (kind[: m.start()], kind[m.start():]) if m else (kind, "")
    head = head + "es" if head.endswith(("s", "x", "sh", "ch")) else head + "s"
    return head + rest


def unknown_name(kind: str, value: str, allowed: Iterable[str], fix: str = "") -> ValueError:
    """Build the ValueError raised for an unknown registered name (task, method, suite, ...)."""
    allowed = sorted(allowed)
    msg = f"Unknown {kind} {value!r}. Valid {plural(kind)}: {', '.join(allowed)}.{did_you_mean(value, allowed)}"
    if fix:
        msg += f" {fix}"
    return ValueError(msg)


def _as_model(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model class inside ``annotation`` (itself, or the model of an Optional/Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return next((m for a in typing.get_args(annotation) if (m := _as_model(a)) is not None), None)
    return None


def _fields_at(root: type[BaseModel], loc: tuple[Any, ...]) -> list[str] | None:
    """The valid keys of the section at ``loc`` (through nested models, dicts and lists), None when unknown."""
    t: Any = root
    for part in loc:
        model = _as_model(t)
        if model is not None and isinstance(part, str) and part in model.model_fields:
            t = model.model_fields[part].annotation
            continue
        args = [a for a in typing.get_args(t) if a is not type(None)]
        if len(args) == 1 and typing.get_origin(args[0]) in (dict, list):  # Optional[dict[...]]
            args = list(typing.get_args(args[0]))
        if typing.get_origin(t) in (dict, list) or args:
            t = args[-1] if args else None
            continue
        return None
    model = _as_model(t)
    return list(model.model_fields) if model is not None else None


def validation_message(error: ValidationError, root: type[BaseModel]) -> str:
    """pydantic's report, with every unknown key turned into 'Unknown key ...; valid keys ...; did you mean'."""
    lines = []
    for e in error.errors():
        loc = tuple(e["loc"])
        where = ".".join(str(p) for p in loc)
        if e["type"] == "extra_forbidden" and loc:
            allowed = _fields_at(root, loc[:-1])
            if allowed:
                section = ".".join(str(p) for p in loc[:-1]) or "the top level"
                lines.append(f"Unknown key {where!r}. Valid keys in {section}: {', '.join(allowed)}."
                             f"{did_you_mean(str(loc[-1]), allowed)}")
                continue
        if e["type"] == "missing":
            lines.append(f"{where}: missing; this key is required: add it to the config.")
            continue
        got = f" (got {e['input']!r})" if e["type"] not in ("missing", "value_error") and "input" in e else ""
        lines.append(f"{where}: {e['msg']}{got}" if where else f"{e['msg']}{got}")
    return "\n".join(f"  {line}" for line in lines)

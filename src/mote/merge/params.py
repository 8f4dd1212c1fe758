"""Parameters of merge methods: kinds read from annotations, value coercion and shared range checks.

Range rules are keyed by the parameter's config name, so every method that takes ``density``, ``lambda``,
``t``, ``weights``... is checked the same way. Every message names the value, what is allowed and the fix.
"""

from __future__ import annotations

import inspect
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

REQUIRED = inspect.Parameter.empty
SCALARS: tuple[type, ...] = (float, int, bool, str, list)
CHOICES: dict[str, tuple[str, ...]] = {"rescale": ("l1", "inverse", "none"), "accumulate": ("sum", "mean")}


@dataclass(frozen=True)
class ParamSpec:
    """One configurable parameter: config ``name``, Python ``arg``, scalar ``kind``, default."""

    name: str
    arg: str
    kind: type
    default: Any
    optional: bool

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def scalar_kind(hint: Any) -> tuple[type | None, bool]:
    """``(kind, optional)`` of an annotation: float, int, bool, str or list, possibly ``| None``."""
    args = typing.get_args(hint)
    optional = False
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        rest = [a for a in args if a is not type(None)]
        optional = len(rest) < len(args)
        if len(rest) != 1:
            return None, optional
        hint = rest[0]
    origin = typing.get_origin(hint) or hint
    return (origin if origin in SCALARS else None), optional


def coerce(method: str, p: ParamSpec, value: Any) -> Any:
    """``value`` checked against the parameter's kind (ints become floats for float parameters)."""
    if value is None and p.optional:
        return None
    ok = {
        bool: isinstance(value, bool),
        int: isinstance(value, int) and not isinstance(value, bool),
        float: isinstance(value, int | float) and not isinstance(value, bool),
        str: isinstance(value, str),
        list: isinstance(value, list | tuple)
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value),
    }[p.kind]
    if not ok:
        raise TypeError(
            f"Parameter {p.name!r} of method {method!r} must be {_kind_text(p)}; got {value!r}. "
            f"Example: {p.name}: {example(p.name)}.{_choice_hint(p.name, value)}"
        )
    if p.kind is float:
        return float(value)
    if p.kind is list:
        return [float(v) for v in value]
    return value


def _kind_text(p: ParamSpec) -> str:
    text = {list: "a list of numbers", float: "a number", int: "an integer", bool: "true or false", str: "a string"}
    return text[p.kind] + (" or null" if p.optional else "")


def example(name: str) -> str:
    return {"density": "0.5", "lambda": "1.0", "weights": "[1.0, 1.0]", "t": "0.5", "seed": "0"}.get(name, "...")


def check_value(method: str, name: str, value: Any, n_models: int | None) -> None:
    """Range checks shared by every method, keyed by the parameter's config name."""
    if value is None:
        return
    bad = _range_problem(name, value, n_models)
    if bad:
        raise ValueError(f"Method {method!r}: {name}={value!r} is not allowed: {bad}")


def _range_problem(name: str, value: Any, n: int | None) -> str:
    finite = not isinstance(value, float) or math.isfinite(value)
    if not finite:
        return "it must be a finite number."
    if name == "density" and not 0 < value <= 1:
        return "density is the fraction of each task vector kept, in (0, 1]; drop rate p = 1 - density (e.g. 0.5)."
    if name in ("t", "alpha") and not 0 <= value <= 1:
        return f"{name} is in [0, 1]; e.g. {name}: 0.5."
    if name == "lambda" and value < 0:
        return "lambda scales the merged task vector and must be >= 0; to subtract a model, give it a negative weight."
    if name in ("eps",) and value <= 0:
        return "it must be > 0, e.g. 1e-8."
    if name == "seed" and value < 0:
        return "seeds are integers >= 0."
    if name in CHOICES and value not in CHOICES[name]:
        return f"choose one of {', '.join(map(repr, CHOICES[name]))}.{_choice_hint(name, value)}"
    if name == "weights":
        if any(not math.isfinite(w) for w in value):
            return "every weight must be finite."
        if n is not None and len(value) != n:
            return f"give one weight per model: {n} models but {len(value)} weights."
    return ""


def _choice_hint(name: str, value: Any) -> str:
    if name == "rescale" and isinstance(value, bool):
        return " (mergekit's rescale: true is 'l1', false is 'none'.)"
    return ""

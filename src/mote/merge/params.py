"""Parameters of merge methods: kinds read from annotations, value coercion, and the constraints each method
declares on its own parameters.

A method declares a parameter's constraint in its signature (``density: Annotated[float, DENSITY]``); the
constraints below are the shared vocabulary (a fraction kept, a value in [0, 1], a non-negative scale, a
positive epsilon, a seed, a choice). Two checks hold for every parameter: numbers are finite, and ``weights``
has one entry per model. Every message names the value, what is allowed and the fix.
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


@dataclass(frozen=True)
class Range:
    """``low <= value <= high`` (``low_open``: ``low < value``); ``why`` says what the parameter is."""

    low: float | None = None
    high: float | None = None
    low_open: bool = False
    why: str = ""

    def problem(self, name: str, value: Any) -> str:
        below = self.low is not None and (value <= self.low if self.low_open else value < self.low)
        above = self.high is not None and value > self.high
        return self.why.format(name=name) if below or above else ""


@dataclass(frozen=True)
class OneOf:
    """One of ``choices``; ``hints`` maps a received value to an extra word of help."""

    choices: tuple[str, ...]
    hint: str = ""

    def problem(self, name: str, value: Any) -> str:
        if value in self.choices:
            return ""
        return f"choose one of {', '.join(map(repr, self.choices))}.{self.hint if isinstance(value, bool) else ''}"


Constraint = Range | OneOf
DENSITY = Range(0, 1, low_open=True, why="density is the fraction of each task vector kept, in (0, 1]; drop rate "
                "p = 1 - density (e.g. 0.5).")
UNIT = Range(0, 1, why="{name} is in [0, 1]; e.g. {name}: 0.5.")
SCALE = Range(0, why="lambda scales the merged task vector and must be >= 0; to subtract a model, give it a negative "
              "weight.")
POSITIVE = Range(0, low_open=True, why="it must be > 0, e.g. 1e-8.")
SEED = Range(0, why="seeds are integers >= 0.")
RESCALE = OneOf(("l1", "inverse", "none"), hint=" (mergekit's rescale: true is 'l1', false is 'none'.)")
ACCUMULATE = OneOf(("sum", "mean"))


@dataclass(frozen=True)
class ParamSpec:
    """One configurable parameter: config ``name``, Python ``arg``, scalar ``kind``, default."""

    name: str
    arg: str
    kind: type
    default: Any
    optional: bool
    constraint: Constraint | None = None

    @property
    def required(self) -> bool:
        return self.default is REQUIRED


def constraint_of(hint: Any) -> tuple[Any, Constraint | None]:
    """An ``Annotated[kind, constraint]`` annotation split into the kind and its constraint."""
    if typing.get_origin(hint) is typing.Annotated:
        kind, *meta = typing.get_args(hint)
        found = [m for m in meta if isinstance(m, Range | OneOf)]
        return kind, (found[0] if found else None)
    return hint, None


def scalar_kind(hint: Any) -> tuple[type | None, bool]:
    """``(kind, optional)`` of an annotation: float, int, bool, str or list, possibly ``| None``."""
    hint, _ = constraint_of(hint)
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
            f"Example: {p.name}: {example(p.name)}.{p.constraint.hint if isinstance(p.constraint, OneOf) else ''}"
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


def check_value(method: str, p: ParamSpec, value: Any, n_models: int | None) -> None:
    """The parameter's own constraint, and the checks every parameter gets (finite numbers, one weight a model)."""
    if value is None:
        return
    bad = _problem(p, value, n_models)
    if bad:
        raise ValueError(f"Method {method!r}: {p.name}={value!r} is not allowed: {bad}")


def _problem(p: ParamSpec, value: Any, n: int | None) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return "it must be a finite number."
    if p.kind is list:
        if any(not math.isfinite(w) for w in value):
            return "every weight must be finite."
        if p.name == "weights" and n is not None and len(value) != n:
            return f"give one weight per model: {n} models but {len(value)} weights."
    return p.constraint.problem(p.name, value) if p.constraint is not None else ""

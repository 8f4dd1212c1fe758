"""The merge-method registry: one interface for every method, each declaring what it needs.

Two kinds, one registry (``get_method``, ``available_methods``) and one ``validate``:

* per-tensor methods (``@merge_method``): a typed, pure function of the same tensor from N models (linear,
  task arithmetic, TIES, DARE, SLERP), optionally with per-model statistics measured on a probe set
  (``stats="fisher"`` / ``"gram"``: Fisher, RegMean);
* learned whole-model methods (``@learned_method``): fitted on a probe set over the whole model (Self
  Positioning), with a pydantic options model as their parameters.

Each method declares ``needs_base``, ``stats`` and ``needs_probe``; the engines (:mod:`mote.merge.run` for
fine-tunes, :mod:`mote.merge.experts` for a MoTE model's experts) provide what it declares. Adding a method
is one file (plus its test): the registration lives beside the function; a built-in one is also named in
``BUILTIN_MODULES`` (a user's method registers by importing its module).

A method is ``fn(tensors: list[Tensor], base: Tensor | None, **scalars) -> Tensor``: the same tensor from N
models (and the base), merged into one. Its configurable parameters are read from the signature (every
one must be annotated ``float``, ``int``, ``bool``, ``str``, ``list[float]`` or ``X | None`` and have a
config name: the argument name without a trailing ``_``, so ``lambda_`` is configured as ``lambda``).
Two keyword arguments are injected by the caller, never configured: ``stats`` (per-model statistics for
the tensor, for methods registered with ``stats="fisher"`` or ``stats="gram"``) and ``generator`` (the
``torch.Generator`` of a seeded random method, so one stream can run over every tensor of a model).

Registration rejects duplicate and badly formed names and unannotated parameters; :func:`get_method`
answers unknown names with "did you mean". :meth:`MergeMethod.validate` checks parameter values (ranges
of ``lambda``, ``density``, ``t``...; one weight per model; at least ``min_models`` models) and every
error names the value received, what is allowed and the fix.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import torch
from pydantic import BaseModel, ValidationError
from torch import Tensor

from mote._errors import did_you_mean, unknown_name, validation_message
from mote.merge.params import ParamSpec, check_value, coerce, constraint_of, example, scalar_kind

MethodFn = Callable[..., Tensor]
StatsKind = Literal["fisher", "gram"]

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_INJECTED = ("stats", "generator")
BUILTIN_MODULES = ("linear", "task_arithmetic", "ties", "dare", "slerp", "fisher", "regmean", "self_positioning")


@dataclass(frozen=True)
class MergeMethod:
    """A registered merge method; call it like the function (``method(tensors, base, **kwargs)``)."""

    name: str
    fn: MethodFn
    reference_url: str
    min_models: int
    max_models: int | None
    needs_base: bool
    stats: StatsKind | None
    params: tuple[ParamSpec, ...]
    injected: tuple[str, ...]
    description: str = ""  # a family member's own doc (its function is the family's, configured)

    learned = False  # a per-tensor method

    @property
    def doc(self) -> str:
        return self.description or inspect.getdoc(self.fn) or ""

    @property
    def needs_probe(self) -> bool:
        """Probe examples are needed to measure the method's statistics."""
        return self.stats is not None

    def param(self, name: str) -> ParamSpec:
        for p in self.params:
            if p.name == name:
                return p
        raise unknown_name(f"parameter of {self.name}", name, [p.name for p in self.params])

    def validate(self, parameters: Mapping[str, Any], n_models: int | None = None) -> dict[str, Any]:
        """Check ``parameters`` (config names) and return the keyword arguments for :meth:`__call__`."""
        if n_models is not None:
            check_model_count(self, n_models)
        known = [p.name for p in self.params]
        for key in parameters:
            if key not in known:
                raise ValueError(
                    f"Method {self.name!r} has no parameter {key!r}. Its parameters: {_describe(self)}."
                    f"{did_you_mean(key, known)}"
                )
        kwargs: dict[str, Any] = {}
        for p in self.params:
            if p.name in parameters:
                value = coerce(self.name, p, parameters[p.name])
                check_value(self.name, p, value, n_models)
                kwargs[p.arg] = value
            elif p.required:
                raise ValueError(
                    f"Method {self.name!r} needs parameter {p.name!r} ({p.kind.__name__}); it was not given. "
                    f"Add it under parameters, e.g. parameters: {{{p.name}: {example(p.name)}}}."
                )
        return kwargs

    def __call__(
        self,
        tensors: Sequence[Tensor],
        base: Tensor | None = None,
        *,
        stats: Sequence[Tensor] | None = None,
        generator: torch.Generator | None = None,
        **kwargs: Any,
    ) -> Tensor:
        if len(tensors) < 1:
            raise ValueError(f"Method {self.name!r} got no tensors to merge.")
        if self.needs_base and base is None:
            raise ValueError(f"Method {self.name!r} merges task vectors and needs the base tensor; got base=None.")
        extra: dict[str, Any] = {}
        if "stats" in self.injected:
            extra["stats"] = None if stats is None else list(stats)
        if "generator" in self.injected:
            extra["generator"] = generator
        return self.fn(list(tensors), base, **extra, **kwargs)


@dataclass(frozen=True)
class LearnedMethod:
    """A registered whole-model method fitted on a probe set (``learned``): ``fn(model, base, vectors, probe,
    options, prefix)`` returns an object with ``state`` (the merged tensors) and ``report()``.

    ``base``/``vectors``: the mergeable tensors of the origin and, per tensor, the N task vectors stacked;
    ``model``: a dense sentence-transformers model whose module ``prefix`` holds those tensors (the probe's
    forward passes run through it); ``options``: the validated parameters.
    """

    name: str
    fn: Callable[..., Any]
    reference_url: str
    options: type[BaseModel]
    min_models: int = 1
    max_models: int | None = None
    learned = True
    needs_base = True  # task vectors: the origin is part of the method
    needs_probe = True
    stats: StatsKind | None = None

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.fn) or ""

    def validate(self, parameters: Mapping[str, Any], n_models: int | None = None) -> BaseModel:
        """Check ``parameters`` against the options model; return the options."""
        if n_models is not None:
            check_model_count(self, n_models)  # type: ignore[arg-type]
        try:
            return self.options.model_validate(dict(parameters))
        except ValidationError as e:
            raise ValueError(f"parameters of {self.name}:\n{validation_message(e, self.options)}") from None


Method = MergeMethod | LearnedMethod
_METHODS: dict[str, Method] = {}


def _check_new_name(name: str) -> None:
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"Merge method name {name!r} is badly formed: use a lower-case identifier (letters, digits, '_'), "
            "e.g. 'ties'."
        )
    if name in _METHODS:
        fn = _METHODS[name].fn
        where = getattr(fn, "func", fn).__module__
        raise ValueError(f"Merge method {name!r} is already registered (by {where}); pick a new name.")


def learned_method(name: str, reference_url: str, options: type[BaseModel], min_models: int = 1
                   ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a learned whole-model merge (see :class:`LearnedMethod`) under ``name``."""
    _check_new_name(name)

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _METHODS[name] = LearnedMethod(name, fn, reference_url, options, min_models)
        return fn

    return register


def merge_method(
    name: str,
    reference_url: str,
    min_models: int = 1,
    max_models: int | None = None,
    needs_base: bool = False,
    stats: StatsKind | None = None,
    fixed: Mapping[str, Any] | None = None,
    doc: str = "",
) -> Callable[[MethodFn], MethodFn]:
    """Register a per-tensor merge function under ``name`` (lower-case identifier, unique).

    ``fixed``: arguments this method sets for the function, so one function serves a family of methods
    (DARE's drop then a linear or a TIES merge: ``fixed={"consensus": False}`` / ``True``); they are not
    configurable, and ``doc`` describes the member. Stack the decorator once per member.
    """
    _check_new_name(name)
    if min_models < 1 or (max_models is not None and max_models < min_models):
        raise ValueError(f"Method {name!r}: need 1 <= min_models <= max_models, got {min_models}, {max_models}.")

    def register(fn: MethodFn) -> MethodFn:
        params, injected = _read_signature(name, fn, stats, set(fixed or {}))
        call = functools.partial(fn, **fixed) if fixed else fn
        _METHODS[name] = MergeMethod(
            name, call, reference_url, min_models, max_models, needs_base, stats, params, injected, doc
        )
        return fn

    return register


def _read_signature(name: str, fn: MethodFn, stats: StatsKind | None, fixed: set[str] | None = None
                    ) -> tuple[tuple[ParamSpec, ...], tuple[str, ...]]:
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn, include_extras=True)
    args = list(sig.parameters.values())
    if [a.name for a in args[:2]] != ["tensors", "base"]:
        raise TypeError(f"Merge method {name!r}: the first two arguments must be (tensors, base).")
    if hints.get("return") is not Tensor:
        raise TypeError(f"Merge method {name!r}: annotate the return type as torch.Tensor.")
    params: list[ParamSpec] = []
    injected: list[str] = []
    for a in args[2:]:
        if a.kind in (a.VAR_POSITIONAL, a.VAR_KEYWORD):
            raise TypeError(f"Merge method {name!r}: *args/**kwargs are not allowed; declare every parameter.")
        if a.name in _INJECTED:
            injected.append(a.name)
            continue
        if a.name in (fixed or set()):
            continue
        if a.name not in hints:
            raise TypeError(f"Merge method {name!r}: parameter {a.name!r} has no type annotation.")
        kind, optional = scalar_kind(hints[a.name])
        if kind is None:
            raise TypeError(
                f"Merge method {name!r}: parameter {a.name!r} is {hints[a.name]}; use float, int, bool, str, "
                "list[float] or one of these | None."
            )
        params.append(ParamSpec(a.name.rstrip("_"), a.name, kind, a.default, optional, constraint_of(hints[a.name])[1]))
    if (stats is None) == ("stats" in injected):
        raise TypeError(f"Merge method {name!r}: declare a 'stats' argument exactly when registered with stats=.")
    return tuple(params), tuple(injected)


def probe_methods() -> list[str]:
    """The registered methods that need a probe set (statistics or a learned fit)."""
    _load_builtins()
    return sorted(n for n, m in _METHODS.items() if m.needs_probe)


def _describe(method: MergeMethod) -> str:
    return ", ".join(f"{p.name} (default {p.default!r})" if not p.required else f"{p.name} (required)"
                     for p in method.params)


def check_model_count(method: Method, n: int) -> None:
    """N < min_models (or > max_models) raises, naming the count and the limits."""
    if n < method.min_models:
        raise ValueError(
            f"Method {method.name!r} needs at least {method.min_models} models; got {n}. "
            f"Add models, or pick a method that works with {n} (e.g. linear)."
        )
    if method.max_models is not None and n > method.max_models:
        raise ValueError(f"Method {method.name!r} takes at most {method.max_models} models; got {n}.")


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(f"mote.merge.{module}")


def available_methods() -> list[str]:
    """Names of every registered method (built-ins are registered on first use)."""
    _load_builtins()
    return sorted(_METHODS)


def get_method(name: str) -> Method:
    """The registered method ``name``; unknown names raise with a did-you-mean suggestion."""
    _load_builtins()
    if name not in _METHODS:
        raise unknown_name("merge method", name, _METHODS,
                           "Register new methods with @merge_method (per tensor) or @learned_method.")
    return _METHODS[name]


def unregister(name: str) -> None:
    """Remove a method (for tests and plugins that re-register)."""
    _METHODS.pop(name, None)

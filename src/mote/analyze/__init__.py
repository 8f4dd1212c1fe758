"""``mote analyze``: the papers' analyses on the user's own models: ``memory`` (what experts cost, from real
up-cycled models), ``conflict`` (task gradient cosines of the shared parameters), ``spaces`` (linear CKA between
the tasks' routes), ``task-vectors`` (norms and cosines of separate models' task vectors, norm vs examples seen)
and ``landscape`` (each task's loss over the plane of two task vectors, merges marked). Each analysis writes JSON
plus a PNG and is callable from Python."""

from __future__ import annotations

from typing import Any

__all__ = ["conflict", "landscape", "memory", "spaces", "task_vectors"]
_MODULES = {"conflict": "conflict", "landscape": "landscape", "memory": "memory", "spaces": "spaces",
            "task_vectors": "task_vectors"}


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        import importlib

        return getattr(importlib.import_module(f"mote.analyze.{_MODULES[name]}"), name)
    raise AttributeError(name)

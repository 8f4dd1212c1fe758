"""``mote analyze``: the papers' analyses on the user's own models. Implemented: ``memory`` (what experts cost,
from real up-cycled models) and ``conflict`` (task gradient cosines of the shared parameters). Each analysis
writes JSON plus a PNG and is callable from Python."""

from __future__ import annotations

from typing import Any

__all__ = ["conflict", "memory"]


def __getattr__(name: str) -> Any:
    if name == "conflict":
        from mote.analyze.conflict import conflict

        return conflict
    if name == "memory":
        from mote.analyze.memory import memory

        return memory
    raise AttributeError(name)

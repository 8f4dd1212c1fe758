"""``mote analyze``: the papers' analyses on the user's own models. Implemented: ``memory`` (what experts cost,
from real up-cycled models). Each analysis writes JSON plus a PNG and is callable from Python."""

from __future__ import annotations

from typing import Any

__all__ = ["memory"]


def __getattr__(name: str) -> Any:
    if name == "memory":
        from mote.analyze.memory import memory

        return memory
    raise AttributeError(name)

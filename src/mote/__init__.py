"""mote: task-specialised text embedding models.

Mixture of Task Experts (up-cycling, task routing, Expert Averaging) and Self Positioning model
merging, built on sentence-transformers and evaluated through MTEB.

``import mote`` is light (no torch, no transformers) and makes saved MoTE folders loadable by
``SentenceTransformer(path)`` and ``transformers.AutoModel``: the architecture registers as soon as those
libraries are imported (see :mod:`mote._autoload`).
"""

from __future__ import annotations

from mote import _autoload

__version__ = "0.1.0"

__all__ = ["DEFAULT_TASKS", "TaskSet", "TaskSpec", "__version__"]

_autoload.install()


def __getattr__(name: str) -> object:  # the task API on first use: pydantic is not needed to import mote
    if name in ("DEFAULT_TASKS", "TaskSet", "TaskSpec"):
        from mote import tasks

        return getattr(tasks, name)
    raise AttributeError(f"module 'mote' has no attribute {name!r}")

"""mote: task-specialised text embedding models.

Mixture of Task Experts (up-cycling, task routing, Expert Averaging) and Self Positioning model
merging, built on sentence-transformers and evaluated through MTEB.
"""

from __future__ import annotations

__version__ = "0.1.0"

from mote.tasks import DEFAULT_TASKS, TaskSet, TaskSpec

__all__ = ["DEFAULT_TASKS", "TaskSet", "TaskSpec", "__version__"]

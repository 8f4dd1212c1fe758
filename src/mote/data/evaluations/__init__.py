"""The evaluation tasks the shared data supports (:mod:`.tasks`: one ``TaskDef`` per task, the suites) and their
readers, one module per task family. The readers parse the files through the training sources' row parsers
(:mod:`mote.data.sources`) and return plain columns (or :class:`~mote.data.evaluations.retrieval.RetrievalData`)."""

from mote.data.evaluations.retrieval import RetrievalData
from mote.data.evaluations.tasks import SUITES, TASKS, TaskDef

__all__ = ["SUITES", "TASKS", "RetrievalData", "TaskDef"]

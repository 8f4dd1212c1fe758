"""MTEB task classes that read the shared local datasets instead of the Hugging Face hub.

A task is an MTEB ``AbsTask*`` subclass with ``load_data`` overridden, so MTEB's own evaluators,
subsampling and metrics run unchanged. Where our data is MTEB's dataset, the class derives from MTEB's
own task class: metadata (name, type, main score, split, languages) and evaluator settings (e.g.
EmotionClassification's 16 training examples per label) are inherited, and scores compare with the
published ones.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, cast

import mteb
import numpy as np
from datasets import Dataset, DatasetDict
from mteb.abstasks import (
    AbsTask,
    AbsTaskClassification,
    AbsTaskClustering,
    AbsTaskPairClassification,
    AbsTaskRetrieval,
    AbsTaskSTS,
)
from mteb.abstasks.retrieval_dataset_loaders import RetrievalSplitData
from mteb.abstasks.task_metadata import TaskMetadata

from mote.data.evaluations._columns import Columns
from mote.data.evaluations.retrieval import RetrievalData
from mote.data.evaluations.tasks import TaskDef

# base class of our own (non-MTEB-identical) tasks per MTEB task type
OWN_BASES: dict[str, type[AbsTask]] = {
    "STS": AbsTaskSTS,
    "Classification": AbsTaskClassification,
    "PairClassification": AbsTaskPairClassification,
    "Clustering": AbsTaskClustering,
    "Retrieval": AbsTaskRetrieval,
    "Reranking": AbsTaskRetrieval,
}
MAIN_SCORES = {
    "STS": "cosine_spearman",
    "Classification": "accuracy",
    "PairClassification": "max_ap",
    "Clustering": "v_measure",
    "Retrieval": "ndcg_at_10",
    "Reranking": "map_at_1000",
}


class LocalDataTask:
    """Mixin placed before an MTEB task class: ``load_data`` reads ``data_root`` with the task's reader."""

    task_def: ClassVar[TaskDef]
    data_loaded: bool
    dataset: Any

    def __init__(self, data_root: str | os.PathLike[str], seed: int = 42, **kwargs: Any) -> None:
        self.data_root = Path(data_root)
        super().__init__(seed=seed, **kwargs)  # type: ignore[call-arg]

    def check_if_dataset_is_superseded(self) -> None:
        """Silenced: the original (superseded) MTEB versions are run on purpose, to match published scores."""

    def load_data(self, num_proc: int | None = None, *, timer: Any = None, **kwargs: Any) -> None:
        if self.data_loaded:
            return
        self.dataset = to_mteb_dataset(self.task_def, self.task_def.reader(self.data_root))
        self.data_loaded = True


class _LabelsAsList:
    """A dataset whose label column reads as a Python list: ``datasets`` 4 returns a lazy ``Column`` that
    decodes one Arrow row per item access, which made MTEB's classification 3-5x slower than its classifier."""

    def __init__(self, dataset: Dataset, label_column: str) -> None:
        self._dataset, self._label_column = dataset, label_column

    def __getitem__(self, key: Any) -> Any:
        value = self._dataset[key]
        return list(value) if key == self._label_column else value

    def __len__(self) -> int:
        return len(self._dataset)

    def select(self, indices: Any) -> Dataset:
        return self._dataset.select(indices)


class FastClassificationLabels:
    """Mixin for classification tasks: MTEB's few-shot sampling and metrics get the labels as a list (the
    same values, read once) instead of a lazy column read item by item. Scores are unchanged (the fidelity
    test compares them with the published ones)."""

    label_column_name: str

    def _undersample_data(self, dataset: Dataset, experiment_num: int, idxs: list[int] | None = None) -> Any:
        return super()._undersample_data(  # type: ignore[misc]
            _LabelsAsList(dataset, self.label_column_name), experiment_num, idxs
        )

    def _calculate_scores(self, y_test: Any, y_pred: Any) -> Any:
        return super()._calculate_scores(np.asarray(list(y_test)), y_pred)  # type: ignore[misc]


def to_mteb_dataset(defn: TaskDef, data: Any) -> Any:
    """Reader output -> the structure MTEB's task type expects in ``task.dataset``."""
    if isinstance(data, RetrievalData):
        return {"default": {defn.split: retrieval_split(data)}}
    if isinstance(data, dict) and data and all(isinstance(v, dict) for v in data.values()):
        return DatasetDict({split: Dataset.from_dict(cols) for split, cols in cast(dict[str, Columns], data).items()})
    return DatasetDict({defn.split: Dataset.from_dict(cast(Columns, data))})


def retrieval_split(data: RetrievalData) -> RetrievalSplitData:
    ids = list(data.corpus)
    corpus = Dataset.from_dict(
        {"id": ids, "title": [data.corpus[i][0] for i in ids], "text": [data.corpus[i][1] for i in ids]}
    )
    queries = Dataset.from_dict({"id": list(data.queries), "text": list(data.queries.values())})
    return RetrievalSplitData(
        corpus=corpus,
        queries=queries,
        relevant_docs={q: dict(d) for q, d in data.qrels.items()},
        top_ranked={q: list(d) for q, d in data.top_ranked.items()} if data.top_ranked is not None else None,
    )


def _own_metadata(defn: TaskDef) -> TaskMetadata:
    return TaskMetadata(
        name=defn.name,
        description=defn.description or f"{defn.name}, read from the local folder {defn.source}/.",
        reference=defn.reference,
        dataset={"path": f"local/{defn.source}", "revision": "local"},
        type=defn.type,  # type: ignore[arg-type]
        category="t2c" if defn.type in {"Classification", "Clustering"} else "t2t",
        modalities=["text"],
        eval_splits=[defn.split],
        eval_langs=["eng-Latn"],
        main_score=MAIN_SCORES[defn.type],
    )


_CLASSES: dict[str, type[AbsTask]] = {}


def task_class(defn: TaskDef) -> type[AbsTask]:
    """The MTEB task class of ``defn`` (built once per task name)."""
    if defn.name not in _CLASSES:
        _CLASSES[defn.name] = _build_class(defn)
    return _CLASSES[defn.name]


def _build_class(defn: TaskDef) -> type[AbsTask]:
    if defn.mteb_name is not None:
        base: type[AbsTask] = type(mteb.get_task(defn.mteb_name))
        metadata = base.metadata
        if metadata.type != defn.type:
            raise ValueError(f"{defn.name}: MTEB task {defn.mteb_name} has type {metadata.type}, not {defn.type}.")
        if list(metadata.eval_splits) != [defn.split]:
            metadata = metadata.model_copy(update={"eval_splits": [defn.split]})
    else:
        base = OWN_BASES[defn.type]
        metadata = _own_metadata(defn)
    namespace = {"metadata": metadata, "task_def": defn, "__module__": __name__, **defn.attrs}
    cls_name = "Local" + "".join(c for c in defn.name if c.isalnum())
    mixins: tuple[type, ...] = (LocalDataTask,)
    if issubclass(base, AbsTaskClassification):
        mixins += (FastClassificationLabels,)
    return cast(type[AbsTask], type(cls_name, (*mixins, base), namespace))


def make_task(defn: TaskDef, data_root: str | os.PathLike[str], seed: int = 42) -> AbsTask:
    """An MTEB task instance for ``defn`` reading from ``data_root``."""
    return task_class(defn)(data_root=data_root, seed=seed)  # type: ignore[call-arg]

"""``evaluate``: run a model on a suite through MTEB and write per-task results plus a summary.

No printing: pass ``progress`` (e.g. ``print``) to get one line when each task starts and ends.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import datasets.utils.logging as hf_datasets_logging
import mteb
from mteb.abstasks import AbsTask
from mteb.results import ModelResult, TaskResult

from mote.data.evaluations.tasks import TaskDef
from mote.evaluate import items
from mote.evaluate.cache import DEFAULT_CACHE_DIR
from mote.evaluate.encoder import MoteEncoder, load_encoder
from mote.evaluate.local_tasks import make_task
from mote.evaluate.suites import select_tasks
from mote.evaluate.summary import TaskScore, machine_info, summarize, to_markdown
from mote.model.io import atomic_write_text, check_writable
from mote.runtime import precision_from_bf16
from mote.tasks import TaskSet

DATA_ROOT_ENV = "MOTE_DATA_ROOT"
log = logging.getLogger(__name__)


def resolve_data_root(data_root: str | os.PathLike[str] | None, needed: Sequence[TaskDef]) -> Path:
    """The data folder (argument, else ``$MOTE_DATA_ROOT``), checked to hold every needed dataset."""
    value = data_root if data_root is not None else os.environ.get(DATA_ROOT_ENV)
    if value is None:
        raise ValueError(
            f"No data_root given. Pass the folder holding the shared datasets (--data-root ../shared/data) "
            f"or set ${DATA_ROOT_ENV}."
        )
    root = Path(value)
    missing = sorted({d.source for d in needed if not (root / d.source).is_dir()})
    if missing:
        raise FileNotFoundError(
            f"data_root {str(root)!r} lacks the dataset folder(s) {missing} needed by the selected tasks. "
            "Point data_root at the shared data folder (its README.md lists the datasets), or restrict --tasks."
        )
    return root


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """Hide the datasets library's per-map progress bars during a run (restored afterwards)."""
    was_enabled = hf_datasets_logging.is_progress_bar_enabled()
    hf_datasets_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_datasets_logging.enable_progress_bar()


def run_task(
    encoder: MoteEncoder, defn: TaskDef, data_root: Path, seed: int = 42, records: bool = True
) -> tuple[TaskScore, TaskResult, dict[str, Any] | str]:
    """Evaluate one task with MTEB's own evaluator; return its score row, MTEB's result object and the task's
    per-item record (:mod:`mote.evaluate.items`; a string saying why when the task has none, or when
    ``records`` is False)."""
    task = make_task(defn, data_root, seed=seed)
    task.load_data()
    data = task.dataset  # MTEB unloads the task after scoring it; the record reads the gold labels from here
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="mote-predictions-") as folder, _quiet_datasets():
        result = _mteb_evaluate(encoder, task, Path(folder) if records else None)
        seconds = time.perf_counter() - start
        if result.exceptions or not result.task_results:
            raise RuntimeError(f"MTEB failed on {defn.name}: {result.exceptions}")
        task_result = result.task_results[0]
        scores = task_result.scores[defn.split][0]
        record = _record(task, data, defn, Path(folder), scores) if records else "not asked for"
    row = TaskScore(
        task=defn.name,
        type=defn.type,
        split=defn.split,
        metric=task.metadata.main_score,
        score=100.0 * float(scores["main_score"]),
        seconds=seconds,
        mteb_identical=defn.mteb_identical,
        source=defn.source,
    )
    return row, task_result, record


def _record(task: AbsTask, data: Any, defn: TaskDef, folder: Path, scores: Mapping[str, Any]) -> dict[str, Any] | str:
    """The per-item record made from MTEB's saved predictions, or why there is none. A record that cannot be
    made never fails the evaluation: the task's score stands, it only gets no confidence interval."""
    path = folder / f"{task.metadata.name}_predictions.json"
    task.dataset, task.data_loaded = data, True
    try:
        predictions = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        return items.make_record(task, defn.split, predictions, scores)
    except items.UnsupportedTask as e:
        return str(e)
    except (ValueError, KeyError, TypeError, IndexError) as e:  # an MTEB version whose predictions differ
        log.warning("%s: no per-item record (%s: %s); its score stands, without an interval", defn.name,
                    type(e).__name__, e)
        return f"{type(e).__name__}: {e}"


def _mteb_evaluate(encoder: MoteEncoder, task: AbsTask, prediction_folder: Path | None = None) -> ModelResult:
    return mteb.evaluate(
        encoder,
        task,
        cache=None,
        overwrite_strategy="always",
        show_progress_bar=False,
        co2_tracker=False,
        prediction_folder=prediction_folder,
        encode_kwargs={"batch_size": encoder.batch_size, "show_progress_bar": False},
    )


def evaluate(
    model_path: str | os.PathLike[str],
    suite: str = "mteb-lite",
    tasks: Sequence[str] | None = None,
    task_types: Sequence[str] | None = None,
    data_root: str | os.PathLike[str] | None = None,
    out: str | os.PathLike[str] | None = None,
    *,
    cache_dir: str | os.PathLike[str] | None = DEFAULT_CACHE_DIR,
    precision: str = "auto",
    device: str = "auto",
    batch_size: int = 64,
    task_set: TaskSet | None = None,
    seed: int = 42,
    progress: Callable[[str], None] | None = None,
    bf16: bool | None = None,
    overwrite: bool = False,
    show_progress_bar: bool = False,
) -> dict[str, Any]:
    """Evaluate the model at ``model_path`` on ``suite`` (optionally only ``tasks`` / ``task_types``).

    Writes MTEB's result file per task to ``out/tasks/{task}.json`` and ``out/summary.{json,md}`` when
    ``out`` is given; returns the summary dict (scores x 100, per-type and overall averages, timing,
    machine); an ``out`` holding an earlier evaluation is refused unless ``overwrite``.
    ``progress`` gets one line as each task starts and ends; ``show_progress_bar`` adds a bar over each
    encoding's batches (what takes the time: SciFact's 5,183 abstracts, for one). ``cache_dir=None`` disables
    the embedding cache. ``task_set`` routes a dense model derived
    from a MoTE model (averaged, merged) through that task table instead of its saved prompts.
    """
    precision = precision_from_bf16(bf16, precision, "evaluate()")  # deprecated keyword
    if out is not None:  # the one overwrite policy: an earlier evaluation is kept unless overwrite is asked for
        if (Path(out) / "summary.json").exists() and not overwrite:
            raise FileExistsError(f"{str(out)!r} already holds an evaluation (summary.json). Choose another --out, "
                                  "or pass --overwrite.")
        check_writable(Path(out), "results")
    chosen = select_tasks(suite, tasks, task_types)
    root = resolve_data_root(data_root, chosen)
    say = progress or (lambda _msg: None)
    wall = time.perf_counter()
    encoder = load_encoder(
        model_path, task_set=task_set, cache_dir=cache_dir, precision=precision, device=device, batch_size=batch_size,
        show_progress_bar=show_progress_bar,
    )
    out_dir = Path(out) if out is not None else None
    rows = []
    without_items: dict[str, str] = {}  # task -> why it has no per-item record (no intervals for it)
    for i, defn in enumerate(chosen, 1):
        say(f"[{i}/{len(chosen)}] {defn.name} ({defn.type}, {defn.split}) ...")
        row, result, record = run_task(encoder, defn, root, seed=seed, records=out_dir is not None)
        rows.append(row)
        if isinstance(record, str) and out_dir is not None:
            without_items[defn.name] = record
        if out_dir is not None:
            (out_dir / "tasks").mkdir(parents=True, exist_ok=True)
            result.to_disk(out_dir / "tasks" / f"{defn.name}.json")
            if not isinstance(record, str):
                atomic_write_text(out_dir / "items" / f"{defn.name}.json", json.dumps(record) + "\n")
        say(f"[{i}/{len(chosen)}] {defn.name}: {row.metric} {row.score:.2f} ({row.seconds:.1f} s)")
    summary = summarize(
        rows,
        model=str(model_path),
        model_name=encoder.name,
        fingerprint=encoder.fingerprint,
        suite=suite,
        settings={
            "precision": encoder.runtime.precision,
            "precision_requested": precision,
            "precision_reason": encoder.runtime.reason,
            "device": encoder.runtime.device,
            "batch_size": batch_size,
            "max_seq_length": encoder.model.max_seq_length,
            "seed": seed,
        },
        cache={
            "dir": str(cache_dir) if cache_dir is not None else None,
            "hits": encoder.cache.hits,
            "misses": encoder.cache.misses,
            "encoded_texts": encoder.encoded_texts,
        },
        machine=machine_info(),
        items={"format": items.FORMAT, "folder": "items", "without": without_items} if out_dir is not None else None,
    )
    summary["timing"]["total_seconds"] = time.perf_counter() - wall
    if out_dir is not None:
        atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=2) + "\n")
        atomic_write_text(out_dir / "summary.md", to_markdown(summary))
    return summary

"""Run an exported folder (``mote export``) without PyTorch models: tokenizer, graph, pooling, normalisation.

``ExportedModel(folder).encode(texts, task=...)`` gives what ``mote.model.sentence.encode`` gives for the source
model: the task's instruction prefixed, its own graph (a MoTE task's route), the model's pooling. ONNX graphs run
on ONNX Runtime, OpenVINO graphs on OpenVINO (bf16 inference where the CPU runs it natively, as mote.runtime
decides for PyTorch; ``precision="fp32"`` forces fp32). OpenVINO runs under its throughput hint by default
(``hint="throughput"``): the batches of one ``encode`` call go to parallel infer requests (one stream each, the
next batch tokenised while the streams compute); ``hint="latency"`` keeps one request on all cores
(faster for one text per call; ``mote serve`` uses it). Both are rows of ``benchmarks/export_speed.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mote._errors import unknown_name

METADATA = "mote_export.json"
HINTS = ("throughput", "latency")


class ExportedModel:
    """An exported model folder, loaded once; ``encode`` is thread-safe for concurrent calls."""

    def __init__(self, folder: str | os.PathLike[str], precision: str = "auto", threads: int | None = None,
                 hint: str = "throughput") -> None:
        from transformers import AutoTokenizer

        if hint not in HINTS:
            raise unknown_name("OpenVINO performance hint", hint, HINTS)
        self.hint = hint
        self.folder = Path(folder)
        meta_path = self.folder / METADATA
        if not meta_path.is_file():
            raise FileNotFoundError(f"{str(self.folder)!r} is not a mote export: it has no {METADATA}. Make one "
                                    "with `mote export MODEL --out DIR`.")
        self.meta: dict[str, Any] = json.loads(meta_path.read_text(encoding="utf-8"))
        self.tasks: dict[str, dict[str, str]] = self.meta["tasks"]
        self.default_task: str | None = self.meta.get("default_task")  # None: every call names its task
        self.max_seq_length = int(self.meta["max_seq_length"])
        self.tokenizer = AutoTokenizer.from_pretrained(str(self.folder / "tokenizer"))
        self._runners = {name: self._runner(self.folder / rel, precision, threads)
                         for name, rel in self.meta["graphs"].items()}

    def _runner(self, path: Path, precision: str, threads: int | None) -> _Runner:
        self.precision = self.meta.get("quantize") or "fp32"  # what the graphs compute in
        if self.meta["format"] == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            return _Runner(lambda feed: session.run(None, feed)[0])
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {"PERFORMANCE_HINT": self.hint.upper()}
        if precision == "fp32" or (precision == "auto" and not _native_bf16()):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        else:
            config["INFERENCE_PRECISION_HINT"] = "bf16"
            self.precision = "bf16"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        return _OpenVinoRunner(core.compile_model(str(path), "CPU", config))

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)

    def resolve(self, task: str | None) -> str:
        return resolve_task(task, self.task_names, self.default_task)

    def encode(self, texts: Sequence[str] | str, task: str | None = None, batch_size: int = 32,
               normalize: bool | None = None) -> np.ndarray:
        """Embeddings (float32, one row per text) of ``texts`` on ``task``'s route with its instruction.
        ``normalize``: None follows the model (a Normalize module), True/False forces it."""
        if isinstance(texts, str):
            texts = [texts]
        name = self.resolve(task)
        route = self.tasks[name]
        prefix = route.get("instruction") or ""
        runner = self._runners[route["graph"]]
        # at least one batch per parallel request when there are enough texts (a request computes on its stream)
        size = max(1, min(batch_size, -(-len(texts) // runner.parallel)))
        batches = length_batches(texts, size)

        def feed(idx: list[int]) -> dict[str, np.ndarray]:
            enc = self.tokenizer([prefix + texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=self.max_seq_length, return_tensors="np")
            return {k: np.asarray(enc[k], dtype=np.int64) for k in self.meta["inputs"]}

        def pool(f: dict[str, np.ndarray], hidden: Any) -> np.ndarray:
            return _pool(np.asarray(hidden, dtype=np.float32), f["attention_mask"], self.meta["pooling"])

        rows = runner.map((feed(idx) for idx in batches), pool)  # each batch pooled as it finishes
        out = assemble(len(texts), list(zip(batches, rows, strict=True)))
        if normalize if normalize is not None else self.meta["normalize"]:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def resolve_task(task: str | None, names: Sequence[str], default: str | None) -> str:
    """``task``, else ``default``; an error naming the valid tasks when there is neither or it is unknown."""
    name = task if task is not None else default
    if name is None:
        raise ValueError(f"No task given, and there is no default task: pass task=... (one of {', '.join(names)}).")
    if name not in names:
        raise unknown_name("task", str(name), list(names), "Pass one of these tasks.")
    return name


def length_batches(texts: Sequence[str], batch_size: int) -> list[list[int]]:
    """Indices of ``texts`` in batches of similar length, longest first (less padding)."""
    order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
    return [order[s:s + batch_size] for s in range(0, len(order), batch_size)]


def assemble(n: int, parts: Sequence[tuple[list[int], np.ndarray]]) -> np.ndarray:
    """The rows of each (indices, rows) part put back in the input order."""
    if not parts:
        return np.zeros((0, 0), dtype=np.float32)
    out = np.empty((n, parts[0][1].shape[1]), dtype=np.float32)
    for idx, rows in parts:
        out[idx] = rows
    return out


def by_length(texts: Sequence[str], batch_size: int, run: Any) -> np.ndarray:
    """``run(indices) -> rows`` over batches of texts of similar length (longest first: less padding), the rows
    put back in the input order."""
    return assemble(len(texts), [(idx, np.asarray(run(idx), dtype=np.float32))
                                 for idx in length_batches(texts, batch_size)])


Finish = Callable[[dict[str, np.ndarray], Any], np.ndarray]  # (feed, graph output) -> pooled rows


class _Runner:
    """A graph run one batch at a time: ``map(feeds, finish)`` gives ``finish(feed, output)`` per feed, in order
    (only the finished rows are kept, not the per-token outputs)."""

    parallel = 1

    def __init__(self, run: Callable[[dict[str, np.ndarray]], Any]) -> None:
        self.run = run

    def map(self, feeds: Iterable[dict[str, np.ndarray]], finish: Finish) -> list[np.ndarray]:
        return [finish(f, self.run(f)) for f in feeds]


class _OpenVinoRunner(_Runner):
    """A compiled OpenVINO graph with as many infer requests as its streams: the batches of one call run in
    parallel, the next batch tokenised while the streams compute, each finished in the request's callback. One
    call at a time uses the requests (a lock): concurrent ``encode`` calls stay correct and take turns. A call
    that fails (a bad input, an inference error) leaves the next call a fresh request queue."""

    def __init__(self, compiled: Any) -> None:
        self.compiled = compiled
        self.parallel = max(1, int(compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")))
        self.queue = self._queue()
        self.lock = threading.Lock()

    def _queue(self) -> Any:
        import openvino as ov

        return ov.AsyncInferQueue(self.compiled, self.parallel)

    def map(self, feeds: Iterable[dict[str, np.ndarray]], finish: Finish) -> list[np.ndarray]:
        with self.lock:
            rows: dict[int, np.ndarray] = {}
            errors: list[BaseException] = []

            def done(request: Any, job: tuple[int, dict[str, np.ndarray]]) -> None:
                try:  # an exception escaping an OpenVINO callback ends the process: keep it for the caller
                    rows[job[0]] = finish(job[1], request.get_output_tensor(0).data)
                except Exception as e:
                    errors.append(e)

            n = 0
            try:
                self.queue.set_callback(done)
                for n, f in enumerate(feeds, start=1):  # start_async waits for a free request
                    self.queue.start_async(f, (n - 1, f))
                self.queue.wait_all()
            except BaseException:
                with contextlib.suppress(Exception):  # the queue is replaced below either way
                    self.queue.wait_all()
                self.queue = self._queue()
                raise
            if errors:
                self.queue = self._queue()
                raise errors[0]
            if len(rows) != n:
                self.queue = self._queue()
                raise RuntimeError(f"OpenVINO returned {len(rows)} of {n} batches; the request queue was reset.")
            return [rows[i] for i in range(n)]


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    if mode == "mean":
        return np.asarray((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))
    if mode == "cls":
        return hidden[:, 0].copy()  # not a view: OpenVINO reuses a request's output buffer for its next batch
    return np.asarray(np.where(m > 0, hidden, -1e9).max(axis=1))


def _native_bf16() -> bool:
    from mote.runtime import cpu_info

    return bool(cpu_info().native_bf16_flags)

"""Run an exported folder (``mote export``) without PyTorch models: tokenizer, graph, pooling, normalisation.

``ExportedModel(folder).encode(texts, task=...)`` gives what ``mote.model.sentence.encode`` gives for the source
model: the task's instruction prefixed, its own graph (a MoTE task's route), the model's pooling. ONNX graphs run
on ONNX Runtime, OpenVINO graphs on OpenVINO (bf16 inference where the CPU runs it natively, as mote.runtime
decides for PyTorch; ``precision="fp32"`` forces fp32).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mote._errors import unknown_name

METADATA = "mote_export.json"


class ExportedModel:
    """An exported model folder, loaded once; ``encode`` is thread-safe for concurrent calls."""

    def __init__(self, folder: str | os.PathLike[str], precision: str = "auto", threads: int | None = None) -> None:
        from transformers import AutoTokenizer

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

    def _runner(self, path: Path, precision: str, threads: int | None) -> Any:
        self.precision = self.meta.get("quantize") or "fp32"  # what the graphs compute in
        if self.meta["format"] == "onnx":
            import onnxruntime as ort

            options = ort.SessionOptions()
            if threads:
                options.intra_op_num_threads = threads
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            return lambda feed: session.run(None, feed)[0]
        import openvino as ov

        core = ov.Core()
        config: dict[str, Any] = {}
        if precision == "fp32" or (precision == "auto" and not _native_bf16()):
            config["INFERENCE_PRECISION_HINT"] = "f32"
        else:
            config["INFERENCE_PRECISION_HINT"] = "bf16"
            self.precision = "bf16"
        if threads:
            config["INFERENCE_NUM_THREADS"] = threads
        compiled = core.compile_model(str(path), "CPU", config)
        return lambda feed: compiled(feed)[compiled.output(0)]

    @property
    def task_names(self) -> list[str]:
        return list(self.tasks)

    def resolve(self, task: str | None) -> str:
        name = task if task is not None else self.default_task
        if name is None:
            raise ValueError(f"No task given, and this export has no default task: pass task=... (one of "
                             f"{', '.join(self.task_names)}).")
        if name not in self.tasks:
            raise unknown_name("task", str(name), self.task_names, "Pass one of this export's tasks.")
        return name

    def encode(self, texts: Sequence[str] | str, task: str | None = None, batch_size: int = 32,
               normalize: bool | None = None) -> np.ndarray:
        """Embeddings (float32, one row per text) of ``texts`` on ``task``'s route with its instruction.
        ``normalize``: None follows the model (a Normalize module), True/False forces it."""
        if isinstance(texts, str):
            texts = [texts]
        name = self.resolve(task)
        route = self.tasks[name]
        prefix = route.get("instruction") or ""
        run = self._runners[route["graph"]]
        order = np.argsort([-len(t) for t in texts], kind="stable")  # similar lengths batched: less padding
        out = np.zeros((len(texts), 0), dtype=np.float32)
        rows: list[np.ndarray] = [np.empty(0)] * len(texts)
        for start in range(0, len(texts), batch_size):
            idx = order[start:start + batch_size]
            enc = self.tokenizer([prefix + texts[i] for i in idx], padding=True, truncation=True,
                                 max_length=self.max_seq_length, return_tensors="np")
            feed = {k: np.asarray(enc[k], dtype=np.int64) for k in self.meta["inputs"]}
            hidden = np.asarray(run(feed), dtype=np.float32)
            pooled = _pool(hidden, feed["attention_mask"], self.meta["pooling"])
            for j, i in enumerate(idx):
                rows[i] = pooled[j]
        out = np.stack(rows) if rows else out
        if normalize if normalize is not None else self.meta["normalize"]:
            out = out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


def _pool(hidden: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    m = mask[..., None].astype(np.float32)
    if mode == "mean":
        return np.asarray((hidden * m).sum(axis=1) / np.maximum(m.sum(axis=1), 1e-9))
    if mode == "cls":
        return hidden[:, 0]
    return np.asarray(np.where(m > 0, hidden, -1e9).max(axis=1))


def _native_bf16() -> bool:
    from mote.runtime import cpu_info

    return bool(cpu_info().native_bf16_flags)

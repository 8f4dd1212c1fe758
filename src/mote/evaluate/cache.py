"""On-disk embedding cache keyed by model fingerprint, task, split, route and the exact input texts.

Layout: ``{root}/{model fingerprint[:16]}-{variant}/{task}/{split}-{subset}-{route}-{texts digest}.npy``,
where ``variant`` names the numeric precision (``fp32``, ``bf16``). A key
covers everything that changes the vectors (weights and config files, instruction, expert, precision,
texts), so a stale hit cannot happen; a changed model gets a new folder.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from mote.model.io import atomic_write

DEFAULT_CACHE_DIR = ".mote-cache"


def _digest(parts: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(len(p).to_bytes(8, "little"))
        h.update(p)
    return h.hexdigest()


def fingerprint_folder(folder: str | os.PathLike[str]) -> str:
    """SHA-256 over every file of a model folder (relative path + bytes), in sorted order."""
    root = Path(folder)
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".") and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    if not files:
        raise FileNotFoundError(f"Model folder {str(root)!r} holds no files to fingerprint.")

    def parts() -> Iterable[bytes]:
        for p in files:
            yield p.relative_to(root).as_posix().encode()
            yield p.read_bytes()

    return _digest(parts())


def fingerprint_model(model: SentenceTransformer) -> str:
    """SHA-256 of an in-memory model: its weights, prompts and maximum sequence length."""

    def parts() -> Iterable[bytes]:
        for name, tensor in sorted(model.state_dict().items()):
            yield name.encode()
            yield tensor.detach().to(torch.float32).cpu().numpy().tobytes()
        yield repr(sorted((model.prompts or {}).items())).encode()
        yield str(model.max_seq_length).encode()

    return _digest(parts())


def texts_digest(texts: Sequence[str]) -> str:
    return _digest(t.encode("utf-8") for t in texts)[:20]


def _safe(part: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in part) or "_"


class EmbeddingCache:
    """Load/save embedding matrices; ``root=None`` disables caching. Counts hits and misses."""

    def __init__(self, root: str | os.PathLike[str] | None, model_fingerprint: str, variant: str = "fp32") -> None:
        self.root = Path(root) / f"{model_fingerprint[:16]}-{_safe(variant)}" if root is not None else None
        self.hits = 0
        self.misses = 0

    def path(self, *, task: str, split: str, subset: str, route: str, texts: Sequence[str]) -> Path | None:
        if self.root is None:
            return None
        name = f"{_safe(split)}-{_safe(subset)}-{_safe(route)}-{texts_digest(texts)}.npy"
        return self.root / _safe(task) / name

    def load(self, path: Path | None, n: int) -> np.ndarray | None:
        if path is None or not path.is_file():
            self.misses += 1
            return None
        try:
            arr = np.load(path, allow_pickle=False)
        except (OSError, ValueError):
            self.misses += 1  # a corrupt or partial file is recomputed and overwritten
            return None
        if arr.ndim != 2 or arr.shape[0] != n:
            self.misses += 1
            return None
        self.hits += 1
        return np.asarray(arr, dtype=np.float32)

    def save(self, path: Path | None, arr: np.ndarray) -> None:
        if path is None:
            return
        atomic_write(path, lambda f: np.save(f, arr, allow_pickle=False))

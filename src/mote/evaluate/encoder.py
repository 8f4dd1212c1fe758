"""MTEB encoder for every model we produce (dense base, MoTE, averaged, merged).

Implements mteb's ``EncoderProtocol``: each ``encode`` call is routed (expert + instruction, see
:mod:`mote.evaluate.route`), de-duplicated, looked up in the on-disk cache, and only the missing
texts are encoded. Similarity is the model's own (cosine for our models).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.models import ModelMeta
from mteb.models.abs_encoder import AbsEncoder
from mteb.types import Array, BatchedInput, EncodeKwargs, PromptType
from sentence_transformers import SentenceTransformer
from torch.utils.data import DataLoader
from typing_extensions import Unpack

from mote.evaluate.cache import EmbeddingCache, fingerprint_model
from mote.evaluate.route import Router, TaskRoute
from mote.runtime import resolve, setup
from mote.tasks import TaskSet

logger = logging.getLogger(__name__)


class MoteEncoder(AbsEncoder):
    """Wrap a loaded sentence-transformers model (MoTE or dense) for ``mteb.evaluate``.

    ``fingerprint`` identifies the weights for the cache (:func:`~mote.evaluate.cache.fingerprint_folder`
    of the model folder; computed from the weights when omitted and caching is on). ``precision`` is resolved by
    :func:`mote.runtime.resolve` (``auto``: bf16 autocast only where this device runs it natively fast; scores then
    drift slightly, so fidelity checks use ``fp32``); the model runs on ``device``.
    """

    mteb_model_meta: ModelMeta

    def __init__(
        self,
        model: SentenceTransformer,
        *,
        name: str = "mote/model",
        fingerprint: str | None = None,
        task_set: TaskSet | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        precision: str = "auto",
        device: str = "auto",
        batch_size: int = 64,
        show_progress_bar: bool = False,
        in_place: bool = False,
    ) -> None:
        # in_place: a model in training stays where the trainer put it (its device, threads and rank); only the
        # precision applies
        self.runtime = resolve(precision, model.device.type) if in_place else setup(precision, device, what="evaluate")
        self.show_progress_bar = show_progress_bar  # sentence-transformers' bar over each encoding's batches
        self.model = model if in_place else model.to(self.runtime.device)
        self.router = Router.for_model(model, task_set)
        # hashing the weights costs a pass over them: only needed when caching without a folder fingerprint
        self.fingerprint = fingerprint or (fingerprint_model(model) if cache_dir is not None else "in-memory")
        self.batch_size = batch_size
        self.cache = EmbeddingCache(cache_dir, self.fingerprint, self.runtime.precision)
        self.encoded_texts = 0  # texts actually run through the model (cache misses, de-duplicated)
        self.dim = int(model.get_embedding_dimension() or 0)
        self._memo: dict[str, dict[str, np.ndarray]] = {}  # route key -> text -> embedding
        self.name = name if "/" in name else f"mote/{name}"
        self.mteb_model_meta = ModelMeta.create_empty(
            overwrites={
                "name": self.name,
                "revision": self.fingerprint[:12],
                "max_tokens": model.max_seq_length,
                "embed_dim": self.dim,
                "framework": ["Sentence Transformers", "PyTorch"],
            }
        )

    # -- protocol ------------------------------------------------------------------------------
    def encode(
        self,
        inputs: DataLoader[BatchedInput],
        *,
        task_metadata: TaskMetadata,
        hf_split: str,
        hf_subset: str,
        prompt_type: PromptType | None = None,
        **kwargs: Unpack[EncodeKwargs],
    ) -> Array:
        texts = [str(t) for batch in inputs for t in batch["text"]]  # type: ignore[index]
        route = self.route(task_metadata, prompt_type)
        role = prompt_type.value if prompt_type is not None else "any"
        path = self.cache.path(
            task=task_metadata.name, split=hf_split, subset=hf_subset, route=f"{role}-{route.key}", texts=texts
        )
        cached = self.cache.load(path, len(texts))
        if cached is not None:
            return cached
        emb = self.encode_texts(texts, route)
        self.cache.save(path, emb)
        return emb

    # -- helpers -------------------------------------------------------------------------------
    def route(self, task_metadata: TaskMetadata, prompt_type: PromptType | None) -> TaskRoute:
        """Expert and instruction for an MTEB task type and role (raises for unmapped MoTE inputs)."""
        return self.router.route(task_metadata, prompt_type)

    def encode_texts(self, texts: Sequence[str], route: TaskRoute) -> np.ndarray:
        """Encode ``texts`` on ``route``. Each distinct text is run once per route for the encoder's
        lifetime (STS pairs, SICK and the STS years share many sentences); rows come back in input order."""
        memo = self._memo.setdefault(route.key, {})
        missing = [t for t in dict.fromkeys(texts) if t not in memo]
        if missing:
            kwargs: dict[str, Any] = {}
            if route.task is not None:  # the route's instruction, even an empty one (MoTE encode would add its own)
                kwargs["task"] = route.task
                kwargs["prompt"] = route.instruction
            elif route.instruction:
                kwargs["prompt"] = route.instruction
            with self.runtime.autocast(), torch.inference_mode():
                emb = self.model.encode(
                    missing,
                    batch_size=self.batch_size,
                    show_progress_bar=self.show_progress_bar,
                    convert_to_numpy=True,
                    **kwargs,
                )
            self.encoded_texts += len(missing)
            memo.update(zip(missing, np.asarray(emb, dtype=np.float32), strict=True))
        return np.stack([memo[t] for t in texts]) if texts else np.zeros((0, self.dim), dtype=np.float32)


def load_encoder(
    model_path: str | os.PathLike[str],
    *,
    task_set: TaskSet | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    precision: str = "auto",
    device: str = "auto",
    batch_size: int = 64,
    show_progress_bar: bool = False,
) -> MoteEncoder:
    """Load a model folder (or packaged model name) and wrap it, fingerprinting the folder's files."""
    from mote.evaluate.cache import fingerprint_folder
    from mote.model.resolve import resolve_model
    from mote.model.sentence import load

    folder = resolve_model(model_path)
    model = load(folder)
    fingerprint = fingerprint_folder(folder) if Path(folder).is_dir() else None
    # a folder the user named -> its name; a packaged/hub reference -> the reference (not "model")
    name = Path(model_path).name if Path(model_path).is_dir() else str(model_path)
    return MoteEncoder(
        model,
        name=name,
        fingerprint=fingerprint,
        task_set=task_set,
        cache_dir=cache_dir,
        precision=precision,
        device=device,
        batch_size=batch_size,
        show_progress_bar=show_progress_bar,
    )

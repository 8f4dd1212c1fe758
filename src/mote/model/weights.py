"""Model weights by tensor name, read lazily from safetensors: a merge holds one tensor per model at a time.

:func:`weights_dir` finds the folder holding a sentence-transformers model's transformer weights (the
``Transformer`` module's path in ``modules.json``; the folder itself for a plain Hugging Face folder).
:class:`LazyStateDict` maps tensor names to tensors loaded on access (single ``model.safetensors`` or a
sharded ``model.safetensors.index.json``); ``shapes()`` reads only the headers.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from safetensors import safe_open
from safetensors.torch import save_file
from torch import Tensor

from mote.model.io import WEIGHTS, ModelFolderError, check_finite, check_safetensors_header

INDEX = "model.safetensors.index.json"


def weights_dir(folder: str | os.PathLike[str]) -> Path:
    """The folder with the transformer's ``config.json`` and safetensors weights inside a model folder."""
    root = Path(folder)
    modules = root / "modules.json"
    if modules.is_file():
        for entry in json.loads(modules.read_text(encoding="utf-8")):
            if str(entry.get("type", "")).endswith("Transformer"):
                return root / str(entry.get("path", ""))
    return root


class LazyStateDict(Mapping[str, Tensor]):
    """Read-only ``{name: tensor}`` over a model folder's safetensors file(s); tensors load on access."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = weights_dir(folder)
        self._file_of = _index(self.folder)
        self._shapes: dict[str, tuple[int, ...]] | None = None

    def __getitem__(self, name: str) -> Tensor:
        path = self._file_of[name]
        with safe_open(str(path), framework="pt") as f:
            tensor: Tensor = f.get_tensor(name)
        check_finite([(name, tensor)], f"Damaged weights file {str(path)!r}",
                     "The file is damaged or came from a diverged run: restore or re-save this model.")
        return tensor

    def __iter__(self) -> Iterator[str]:
        return iter(self._file_of)

    def __len__(self) -> int:
        return len(self._file_of)

    def shapes(self) -> dict[str, tuple[int, ...]]:
        if self._shapes is None:
            shapes: dict[str, tuple[int, ...]] = {}
            for path in sorted(set(self._file_of.values())):
                with safe_open(str(path), framework="pt") as f:
                    for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                        shapes[name] = tuple(f.get_slice(name).get_shape())
            self._shapes = shapes
        return self._shapes

    def metadata(self) -> dict[str, str]:
        first = sorted(set(self._file_of.values()))[0]
        with safe_open(str(first), framework="pt") as f:
            meta: dict[str, str] = f.metadata() or {}
        return meta


def _index(folder: Path) -> dict[str, Path]:
    single = folder / WEIGHTS
    if single.is_file():
        return dict.fromkeys(check_safetensors_header(single), single)  # safe_open's names, or an error naming the file
    index = folder / INDEX
    if index.is_file():
        try:
            data: dict[str, Any] = json.loads(index.read_text(encoding="utf-8"))
            files = {name: folder / shard for name, shard in data["weight_map"].items()}
        except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError) as e:
            raise ModelFolderError(f"Corrupt shard index {str(index)!r} ({e}): re-save the model.") from None
        for shard in sorted(set(files.values())):
            if not shard.is_file():
                raise ModelFolderError(f"Missing weights shard {str(shard)!r} named in {str(index)!r}.")
            check_safetensors_header(shard)
        return files
    pickles = sorted(p.name for p in folder.glob("*.bin"))
    hint = f" Found {pickles}: re-save the model with safetensors (mote never loads pickle)." if pickles else ""
    raise FileNotFoundError(f"No {WEIGHTS} or {INDEX} in {str(folder)!r}.{hint}")


def save_state(path: str | os.PathLike[str], tensors: Mapping[str, Tensor]) -> None:
    """Write ``tensors`` as one safetensors file (contiguous copies only where needed); a NaN/inf tensor is
    an error and nothing is written."""
    check_finite(tensors.items(), f"Refusing to write {str(path)!r}",
                 "A merge input is damaged or the merge diverged; nothing was written.")
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"format": "pt"})

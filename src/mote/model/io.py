"""Saving and loading MoTE folders: safetensors only, atomic writes, errors that name the file."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from mote import __version__

WEIGHTS = "model.safetensors"


class ModelFolderError(ValueError):
    """A model folder is missing a file, has a corrupt one, or comes from a newer mote."""


@contextmanager
def atomic_dir(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    On error the temporary folder is removed and an existing ``out`` is left untouched.
    """
    out = Path(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"Output folder {str(out)!r} already exists. Choose another --out, or pass --overwrite.")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            old = out.with_name(f".{out.name}.old-{os.getpid()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFolderError(f"Missing file {str(path)!r}: this folder is not a complete model.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"Corrupt JSON in {str(path)!r}: {e}. Re-save the model or restore the file.") from e
    if not isinstance(data, dict):
        raise ModelFolderError(f"{str(path)!r} should hold a JSON object, found {type(data).__name__}.")
    return data


def _version_tuple(v: str) -> tuple[int, ...]:
    parts = []
    for p in v.split(".")[:3]:
        digits = "".join(c for c in p if c.isdigit())
        parts.append(int(digits) if digits else 0)
    return tuple(parts)


def inspect_folder(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate a saved model folder and return its ``config.json``.

    Raises :class:`ModelFolderError` naming the file for a missing/corrupt file, pickle-only weights,
    or a MoTE config written by a newer mote than the one installed.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFolderError(f"Model folder {str(folder)!r} does not exist.")
    config = read_json(folder / "config.json")
    weights = folder / WEIGHTS
    if not weights.is_file():
        pickles = [p.name for p in folder.glob("*.bin")]
        hint = f" Found {pickles}: mote loads safetensors only, never pickle." if pickles else ""
        raise ModelFolderError(f"Missing weights file {str(weights)!r}.{hint}")
    _check_safetensors_header(weights)
    saved = config.get("mote_version")
    if config.get("model_type") == "mote" and saved and _version_tuple(saved) > _version_tuple(__version__):
        raise ModelFolderError(
            f"{str(folder / 'config.json')!r} was written by mote {saved}, newer than the installed mote "
            f"{__version__}. Upgrade: pip install -U mote-embeddings."
        )
    return config


def _check_safetensors_header(path: Path) -> None:
    """Read the safetensors header (8-byte length + JSON) to catch truncated or foreign files early."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        ok = 0 < n <= size - 8
        if ok:
            try:
                header = json.loads(f.read(n))
                ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
                ok = 8 + n + max(ends, default=0) <= size
            except (ValueError, KeyError, TypeError):
                ok = False
    if not ok:
        raise ModelFolderError(
            f"Corrupt weights file {str(path)!r}: not a complete safetensors file (truncated or damaged). "
            "Re-save or re-download the model."
        )


def update_json(path: Path, update: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    atomic_write_text(path, json.dumps(update(data), indent=2) + "\n")

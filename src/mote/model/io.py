"""Saving and loading MoTE folders: safetensors only, atomic writes, errors that name the file."""

from __future__ import annotations

import contextlib
import glob
import json
import logging
import os
import re
import shutil
import socket
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from packaging.version import InvalidVersion, Version
from safetensors import SafetensorError, safe_open

from mote import __version__

WEIGHTS = "model.safetensors"
log = logging.getLogger(__name__)


class ModelFolderError(ValueError):
    """A model folder is missing a file, has a corrupt one, or comes from a newer mote."""


def _read_umask() -> int:
    mask = os.umask(0)  # read once, at import (single-threaded): os.umask has no read-only form
    os.umask(mask)
    return mask


UMASK = _read_umask()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _owner() -> str:
    """``PID@HOST`` of this process: temporary names carry it, so only a dead writer *of this host* is cleaned
    (a writer on another machine sharing the folder cannot be checked)."""
    host = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] or "host"
    return f"{os.getpid()}@{host}"


def _stale(name: str, marker: str) -> bool:
    """Whether a temporary ``name`` (``...{marker}PID@HOST-...``) belongs to a dead process of this host."""
    owner = name.rsplit(marker, 1)[-1].split("-", 1)[0]
    pid, _, host = owner.partition("@")
    here = _owner().partition("@")[2]
    return pid.isdigit() and host == here and int(pid) != os.getpid() and not _alive(int(pid))


def clean_stale_temps(out: Path) -> list[Path]:
    """Tidy what killed earlier writes of ``out`` left beside it (only a dead writer's, of this host).

    ``.NAME.tmp-PID@HOST-*`` (a half-written new version) is removed. ``.NAME.old-PID@HOST`` is the previous
    version, renamed away just before the new one was to take its place: if ``out`` is missing (killed between
    the two renames) it is put back, never deleted; if ``out`` exists it is the superseded copy and is removed.
    """
    removed: list[Path] = []
    if not out.parent.is_dir():
        return removed
    name = glob.escape(out.name)
    for stale in sorted(out.parent.glob(f".{name}.old-*")):
        if _stale(stale.name, ".old-"):
            if not out.exists():
                stale.rename(out)
                log.warning("Restored %s from %s (a write of it was killed before it finished).", out, stale.name)
            else:
                shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
                removed.append(stale)
    for stale in out.parent.glob(f".{name}.tmp-*"):
        if _stale(stale.name, ".tmp-"):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
            removed.append(stale)
    return removed


def check_writable(folder: Path, what: str = "output") -> None:
    """Fail early, naming the folder, when ``folder`` (or its nearest existing parent) cannot be written.

    A real write probe (a temporary file, removed at once): permission bits say nothing for root, or on a
    read-only file system.
    """
    probe = Path(folder)
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise NotADirectoryError(
            f"Cannot write the {what} under {str(folder)!r}: {str(probe)!r} exists as a file, not a folder. "
            "Choose another path."
        )
    try:
        fd, name = tempfile.mkstemp(prefix=".mote-write-probe-", dir=probe)
    except OSError as e:
        raise PermissionError(
            f"Cannot write the {what} under {str(probe)!r}: {e.strerror or e}. Choose a location you can write "
            "to (another --out / --output), or fix the folder's permissions."
        ) from None
    os.close(fd)
    os.unlink(name)


@contextmanager
def atomic_dir(out: str | os.PathLike[str], overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; on success it replaces ``out`` in one rename.

    On error the temporary folder is removed and an existing ``out`` is left untouched. What killed earlier
    writes left is tidied first (:func:`clean_stale_temps`). The result gets the usual permissions (umask),
    not the private 0700 of a temporary folder.
    """
    out = Path(out)
    with contextlib.suppress(OSError):  # first: a previous version a killed write left renamed away comes back
        clean_stale_temps(out)
    if out.exists() and not overwrite:
        raise FileExistsError(f"Output folder {str(out)!r} already exists. Choose another --out, or pass --overwrite.")
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"Output {str(out)!r} is a file, not a folder. Choose another --out.")
    check_writable(out.parent)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{_owner()}-", dir=out.parent))
    try:
        yield tmp
        _publish_permissions(tmp)
        if out.exists():
            old = out.with_name(f".{out.name}.old-{_owner()}")
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _publish_permissions(folder: Path) -> None:
    """Folders 0777 and files 0666 minus the umask, as a plain ``mkdir``/``open`` would make them."""
    mask = UMASK
    folder.chmod(0o777 & ~mask)
    for p in folder.rglob("*"):
        p.chmod((0o777 if p.is_dir() else 0o666) & ~mask)


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], Any]) -> None:
    """Write a file through ``write(binary file)`` into ``.NAME.tmp-PID-*`` beside it, then one rename.

    A killed earlier write's temporary file is removed first; the file gets the usual permissions (umask).
    """
    path = Path(path)
    check_writable(path.parent)
    path.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.tmp-{_owner()}-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def check_finite(tensors: Iterable[tuple[str, Any]], where: str, fix: str) -> None:
    """Raise :class:`ModelFolderError` naming the first floating tensor holding NaN or inf."""
    import torch

    for name, t in tensors:
        if isinstance(t, torch.Tensor) and t.is_floating_point() and not bool(torch.isfinite(t).all()):
            bad = int((~torch.isfinite(t)).sum())
            raise ModelFolderError(f"{where}: tensor {name!r} holds {bad} NaN/inf value(s) of {t.numel()}. {fix}")


def _where_hint(path: Path) -> str:
    """What to check for a path that does not exist (relative paths start at the current folder)."""
    if Path(path).is_absolute():
        return "Check the path."
    return f"Check the path: relative paths start at the current folder ({os.getcwd()})."


def missing(what: str, path: str | os.PathLike[str]) -> FileNotFoundError:
    """The error for an input file that is not there (or is a folder), with what to check."""
    path = Path(path)
    if path.is_dir():
        return FileNotFoundError(f"{what} {str(path)!r} is a folder; give the path of a file.")
    return FileNotFoundError(f"{what} {str(path)!r} does not exist. {_where_hint(path)}")


def _json_file(path: Path, kind: type, what: str) -> Any:
    """The JSON ``kind`` (dict or list) in a model folder's file; errors name the file and the fix."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFolderError(f"Corrupt JSON in {str(path)!r}: {e}. Re-save the model or restore the file.") from e
    if not isinstance(data, kind):
        raise ModelFolderError(f"{str(path)!r} should hold a JSON {what}, found {type(data).__name__}.")
    return data


def read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ModelFolderError(
            f"Missing file {str(path)!r}: this folder is not a complete model. Copy the whole model folder again, "
            "or re-save the model."
        )
    data: dict[str, Any] = _json_file(path, dict, "object")
    return data


def _newer_than_installed(saved: object, config_path: Path) -> bool:
    """Whether a folder's ``mote_version`` is newer than the installed mote (PEP 440 order, via ``packaging``:
    ``0.2.0rc1`` < ``0.2.0`` < ``0.2.0.post1``); a value that is no version number is an error naming the file."""
    try:
        return Version(str(saved)) > Version(__version__)
    except InvalidVersion:
        raise ModelFolderError(
            f"{str(config_path)!r} holds mote_version {saved!r}, which is not a version number. Re-save the model "
            "with mote, or restore the file."
        ) from None


def inspect_folder(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Validate a saved model folder and return its ``config.json``.

    Raises :class:`ModelFolderError` naming the file for a missing/corrupt file, pickle-only weights,
    or a MoTE config written by a newer mote than the one installed.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise ModelFolderError(f"Model folder {str(folder)!r} does not exist. {_where_hint(folder)}")
    _check_modules(folder)
    config = read_json(folder / "config.json")
    weights = folder / WEIGHTS
    if not weights.is_file():
        pickles = [p.name for p in folder.glob("*.bin")]
        hint = f" Found {pickles}: mote loads safetensors only, never pickle." if pickles else ""
        raise ModelFolderError(f"Missing weights file {str(weights)!r}.{hint}")
    check_safetensors_header(weights)
    saved = config.get("mote_version")
    if config.get("model_type") == "mote" and saved and _newer_than_installed(saved, folder / "config.json"):
        raise ModelFolderError(
            f"{str(folder / 'config.json')!r} was written by mote {saved}, newer than the installed mote "
            f"{__version__}. Upgrade: pip install -U mote-embeddings."
        )
    return config


def _check_modules(folder: Path) -> None:
    """Every module folder listed in a sentence-transformers ``modules.json`` must be present."""
    path = folder / "modules.json"
    if not path.is_file():
        return
    for entry in _json_file(path, list, "list of modules"):
        sub = str(entry.get("path", "")) if isinstance(entry, dict) else ""
        kind = str(entry.get("type", "")) if isinstance(entry, dict) else ""
        if kind.endswith("Normalize"):  # reads no files: its folder is often absent (git and the Hub drop empty ones)
            continue
        if sub and not (folder / sub).is_dir():
            raise ModelFolderError(
                f"Missing module folder {str(folder / sub)!r} ({entry.get('type', 'module')}), listed in "
                f"{str(path)!r}: this folder is not a complete model. Copy the whole model folder again, or re-save it."
            )


def check_safetensors_header(path: Path) -> list[str]:
    """Open ``path`` with safetensors' own reader and return its tensor names; a truncated or foreign file is a
    :class:`ModelFolderError` naming the file and the fix.

    ``safe_open`` memory-maps the file and reads only the header; it checks the 8-byte header length, the JSON
    header and that the tensors' byte ranges cover the file exactly: the checks loading makes, done before any
    tensor is read. Its own error ("Error while deserializing header: ...") names neither the file nor a fix, so
    it becomes the reason inside ours. OS errors (missing file, a folder, no permission) pass through unchanged.
    """
    try:
        with safe_open(str(path), framework="pt") as f:
            return list(f.keys())
    except SafetensorError as e:
        reason = str(e).removeprefix("Error while deserializing header: ")
        raise ModelFolderError(
            f"Corrupt weights file {str(path)!r}: not a complete safetensors file (truncated or damaged: {reason}). "
            "Re-save or re-download the model."
        ) from None


def update_json(path: Path, update: Callable[[Any], Any]) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    atomic_write_text(path, json.dumps(update(data), indent=2) + "\n")

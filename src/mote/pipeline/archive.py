"""A pipeline's finished jobs kept apart from its models: the scores and per-item records of each job, small
enough to commit, so a matrix too long for one machine's session is finished over several.

A pipeline's ``output_dir`` holds the models (hundreds of MB per job) and is lost with the machine; the
archive (``archive:`` in the config, or ``--set archive=DIR``) holds, per job, one gzipped JSON entry
``VARIANT/seed<SEED>-<BUILD_HASH>.json.gz``: the job's ``result.json`` and the per-item records of its
evaluation (what the report's paired bootstrap resamples). The records' gold side (labels, gold scores,
query ids) is the same for every job of an evaluation, so it is stored once, content-addressed, under
``_shared/``; an entry of the CPU presets' sixteen-task evaluation is about 330 KB (the
predictions: float scores, class predictions of ten classifiers) instead of ~1.5 MB of plain records.

A job whose entry matches its build hash and evaluation hash is *restored* into the output folder instead of
being built and scored again. Its model is not in the entry: when a derived job still to be made needs it
(Expert Averaging over a MoTE model, a merge of separate models), the pipeline builds that model again with
the same settings and seed (:func:`mote.pipeline.run.ensure_model`) and keeps the archived scores.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path
from typing import Any

from mote.model.io import atomic_write

FORMAT = 1
SHARED = "_shared"
SHARED_KEYS = ("gold", "ids")  # the parts of a per-item record that depend on the task only, not the model
JOB = "@job"  # stands for the job folder in archived paths: entries are moved between machines and folders


def entry_path(archive: str | Path, variant: str, seed: int, build_hash: str) -> Path:
    return Path(archive) / variant / f"seed{seed}-{build_hash}.json.gz"


def _write_gz(path: Path, data: Any) -> None:
    payload = json.dumps(data, separators=(",", ":")).encode("utf-8")  # key order kept: reports follow it
    atomic_write(path, lambda f: f.write(gzip.compress(payload, compresslevel=9, mtime=0)))


def _read_gz(path: Path) -> Any:
    return json.loads(gzip.decompress(path.read_bytes()).decode("utf-8"))


def _share(archive: Path, value: Any) -> dict[str, str]:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()[:20]
    path = archive / SHARED / f"{digest}.json.gz"
    if not path.is_file():
        _write_gz(path, value)
    return {"$shared": digest}


def _unshare(archive: Path, value: Any) -> Any:
    if isinstance(value, dict) and set(value) == {"$shared"}:
        path = archive / SHARED / f"{value['$shared']}.json.gz"
        try:
            return _read_gz(path)
        except (OSError, ValueError, EOFError) as e:
            raise ValueError(f"Shared archive file {str(path)!r} cannot be read ({e}). Restore it from version "
                             f"control (`git checkout -- {path}`).") from None
    return value


def _relative_paths(value: Any, folder: str, to_archive: bool) -> Any:
    """Paths into the job folder <-> ``@job/...`` (``model_dir``, and each of ``models`` of separate jobs)."""
    if isinstance(value, dict):
        return {k: _relative_paths(v, folder, to_archive) for k, v in value.items()}
    if isinstance(value, str):
        if to_archive and (value == folder or value.startswith(folder.rstrip("/") + "/")):
            return JOB + value[len(folder.rstrip("/")):]
        if not to_archive and (value == JOB or value.startswith(JOB + "/")):
            return folder.rstrip("/") + value[len(JOB):]
    return value


def save(archive: str | Path, result: dict[str, Any], job_folder: Path, build_hash: str) -> Path:
    """Archive a finished job: its result and the per-item records of ``job_folder/eval`` (atomic writes)."""
    from mote.evaluate.items import read_records

    root = Path(archive)
    records = read_records(job_folder / "eval" / "items")
    shared = {task: {k: (_share(root, v) if k in SHARED_KEYS else v) for k, v in rec.items()}
              for task, rec in records.items()}
    entry = {
        "format": FORMAT,
        "result": {k: _relative_paths(v, str(job_folder), to_archive=True) if k in ("model_dir", "models") else v
                   for k, v in result.items() if k != "restored_from_archive"},
        "items": shared,
        "without": _without(job_folder),
    }
    path = entry_path(root, result["variant"], result["seed"], build_hash)
    _write_gz(path, entry)
    return path


def _without(job_folder: Path) -> dict[str, str]:
    try:
        summary = json.loads((job_folder / "eval" / "summary.json").read_text(encoding="utf-8"))
        return dict((summary.get("items") or {}).get("without") or {})
    except (OSError, ValueError, AttributeError):
        return {}


def load(archive: str | Path, variant: str, seed: int, build_hash: str) -> dict[str, Any] | None:
    """The archived entry of a job, or None when there is none. A damaged entry is an error naming the file
    (it is never taken for a missing one, which would silently redo hours of work, nor for a valid one)."""
    path = entry_path(archive, variant, seed, build_hash)
    if not path.is_file():
        return None
    try:
        entry = _read_gz(path)
        if not isinstance(entry, dict) or entry.get("format") != FORMAT or not isinstance(entry.get("result"), dict):
            raise ValueError(f"not a format-{FORMAT} archive entry")
        items = entry.get("items") or {}
        if not isinstance(items, dict) or not all(isinstance(r, dict) for r in items.values()):
            raise ValueError("its items are not per-task records")
    except (OSError, ValueError, EOFError) as e:
        raise ValueError(
            f"Archive entry {str(path)!r} cannot be read ({e}). Restore it from version control "
            f"(`git checkout -- {path}`), or delete it to build and score that job again."
        ) from None
    entry["items"] = {t: {k: _unshare(Path(archive), v) for k, v in rec.items()} for t, rec in items.items()}
    return entry


def restore(entry: dict[str, Any], job_folder: Path) -> dict[str, Any]:
    """Write an archived job into its folder (``result.json``, ``eval/items/``, the evaluation summary's list of
    tasks without records), as if it had been run here; the model is not there (``restored_from_archive``)."""
    from mote.model.io import atomic_write_text

    result = {k: _relative_paths(v, str(job_folder), to_archive=False) if k in ("model_dir", "models") else v
              for k, v in entry["result"].items() if k != "restored_from_archive"}
    result["restored_from_archive"] = True
    for task, record in entry.get("items", {}).items():
        atomic_write_text(job_folder / "eval" / "items" / f"{task}.json", json.dumps(record) + "\n")
    if entry.get("without"):
        atomic_write_text(job_folder / "eval" / "summary.json",
                          json.dumps({"items": {"without": entry["without"]}}, indent=2) + "\n")
    atomic_write_text(job_folder / "result.json", json.dumps(result, indent=2) + "\n")
    return result

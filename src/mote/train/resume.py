"""Continuing a run folder safely: one run per folder, a run keeps its settings, incomplete checkpoints are
skipped (never deleted).

* Without ``--resume`` a folder holding a run (checkpoints, a final model or a summary) is refused before
  anything in it is written.
* With ``--resume`` the new config is compared with the run's saved one; any change that would make the
  continued run something else (learning rate, batch size, steps, data, tasks ...) is refused with the list of
  changes. Only settings that do not change what is trained (:data:`RESUMABLE`) may differ.
* The checkpoint resumed from is the newest *complete* one: a checkpoint whose weights, optimizer or state
  file is truncated is moved aside (``incomplete/checkpoint-N-...``) with a warning, and the previous one used.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
import zipfile
from pathlib import Path
from typing import Any

import yaml

from mote.model.io import ModelFolderError, check_safetensors_header, check_writable

log = logging.getLogger(__name__)

CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
# settings that may change between a run and its resumption: where and how fast it runs, how often it logs
RESUMABLE = frozenset({
    "train.output_dir", "train.precision", "train.device", "train.threads", "train.logging_steps",
    "train.save_steps", "train.save_total_limit", "train.mini_batch_size", "data.data_root",
})
INPUTS_FILE = "mote_run_inputs.json"  # content digests of the files a run's settings name


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"train": {"lr": 1}}`` -> ``{"train.lr": 1}`` (lists stay values)."""
    if not isinstance(data, dict):
        return {prefix: data}
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        out.update(flatten(value, name) if isinstance(value, dict) and value else {name: value})
    return out


def checkpoints(folder: Path) -> list[Path]:
    """``checkpoint-N`` folders directly in ``folder``, newest (highest N) first (transformers' ordering, the
    one its checkpoint rotation uses)."""
    from transformers.trainer_utils import sort_checkpoints

    return [Path(p) for p in reversed(sort_checkpoints(str(folder)))] if folder.is_dir() else []


def previous_work(out: Path) -> list[Path]:
    """What an earlier run left in ``out``: checkpoints, final models and summaries (separate mode included)."""
    if not out.is_dir():
        return []
    run_dirs = [out, *sorted(p for p in (out / "separate").glob("*") if p.is_dir())]
    found: list[Path] = []
    for d in run_dirs:
        found += checkpoints(d)
        found += [p for p in (d / "final", d / "train_summary.json") if p.exists()]
    return found


# files named by path are compared by content: an edited recipe is a change, the same recipe moved is not
FILE_KEYS = ("data.recipe",)


def digest(path: Any) -> str | None:
    p = Path(str(path)) if isinstance(path, str) else None
    return hashlib.sha256(p.read_bytes()).hexdigest() if p is not None and p.is_file() else None


def input_digests(config: dict[str, Any]) -> dict[str, str | None]:
    """``{key: sha256}`` of the files the settings name (saved in :data:`INPUTS_FILE` when a run starts)."""
    flat = flatten(config)
    return {k: digest(flat.get(k)) for k in FILE_KEYS}


def changed_settings(saved: dict[str, Any], new: dict[str, Any],
                     saved_digests: dict[str, str | None] | None = None) -> list[str]:
    """``key: saved -> new`` for every setting outside :data:`RESUMABLE` that differs. Keys a run's saved
    settings lack (added by a later mote) are not compared; files are compared by content when it is known."""
    a, b = flatten(saved), flatten(new)
    out = []
    for k in sorted(a):
        if k in RESUMABLE:
            continue
        if k in FILE_KEYS:
            before = (saved_digests or {}).get(k) or digest(a.get(k))
            now = digest(b.get(k))
            if before is not None and now is not None:
                if before != now:
                    out.append(f"{k}: the file's content changed ({a.get(k)!r}, sha256 {before[:12]} -> {now[:12]})")
                continue
        if a.get(k) != b.get(k):
            out.append(f"{k}: {a.get(k, '(unset)')!r} -> {b.get(k, '(unset)')!r}")
    return out


def check_run_folder(out: Path, config: dict[str, Any], resume: bool, config_file: str) -> None:
    """Refuse (before writing anything) a new run into a used folder, or a resumption with changed settings."""
    check_writable(out, "run folder")
    found = previous_work(out)
    if not resume:
        if found:
            names = ", ".join(str(p.relative_to(out)) for p in found[:4])
            raise FileExistsError(
                f"{str(out)!r} already holds a run ({names}). Pass --resume to continue that run, or choose "
                "another train.output_dir."
            )
        return
    saved_path = out / config_file
    if not found or not saved_path.is_file():
        return
    try:
        saved = yaml.safe_load(saved_path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ValueError(f"Cannot read the run's saved settings {str(saved_path)!r} ({e}); restore the file.") from None
    digests_path = out / INPUTS_FILE
    try:
        digests = json.loads(digests_path.read_text(encoding="utf-8")) if digests_path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        digests = None
    changes = changed_settings(saved, config, digests)
    if changes:
        raise ValueError(
            f"--resume would continue the run in {str(out)!r} with different settings than it started with "
            f"(saved in {str(saved_path)!r}):\n  " + "\n  ".join(changes) + "\nA resumed run keeps its settings "
            "(its optimizer and schedule come from the checkpoint). Restore these values to resume, or train into "
            "a new train.output_dir."
        )


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why ``ckpt`` cannot be resumed from (a missing or truncated file), or None when it is complete."""
    state = ckpt / "trainer_state.json"
    if not state.is_file():
        return "no trainer_state.json"
    try:
        json.loads(state.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return "trainer_state.json is truncated or damaged"
    weights = sorted(ckpt.rglob("*.safetensors"))
    if not weights:
        return "no weights file"
    for w in weights:
        try:
            check_safetensors_header(w)
        except ModelFolderError:
            return f"{w.relative_to(ckpt)} is truncated or damaged"
    for pt in sorted(ckpt.glob("*.pt")) + sorted(ckpt.glob("*.pth")):
        try:
            with zipfile.ZipFile(pt) as z:
                z.namelist()
        except (zipfile.BadZipFile, OSError):
            return f"{pt.name} is truncated or damaged"
    return None


def complete_checkpoint(folder: Path, main_process: bool = True) -> str | None:
    """The newest complete checkpoint in ``folder``; incomplete newer ones are moved aside (by the main process
    only) into ``folder/incomplete/``, where checkpoint rotation never sees them, with a warning.

    Raises when checkpoints exist but none is complete (resuming from nothing would silently start over).
    """
    found = checkpoints(folder)
    for ckpt in found:
        try:
            problem = checkpoint_problem(ckpt)
        except OSError as e:  # another process moved it aside meanwhile
            problem = str(e)
        if problem is None:
            return str(ckpt)
        if main_process:
            aside = folder / "incomplete" / f"{ckpt.name}-{time.strftime('%Y%m%d-%H%M%S')}"
            aside.parent.mkdir(exist_ok=True)
            ckpt.rename(aside)
            log.warning("resume: %s is incomplete (%s); kept aside as %s, resuming from the previous checkpoint.",
                        ckpt, problem, aside)
    if found:
        raise ValueError(
            f"No complete checkpoint in {str(folder)!r}: every one was truncated or damaged (kept aside in "
            f"{str(folder / 'incomplete')!r}). Start over in a new train.output_dir, or restore a checkpoint."
        )
    return None


def checkpoint_step(checkpoint: str | Path) -> int:
    """N of a ``checkpoint-N`` folder."""
    m = CHECKPOINT.match(Path(checkpoint).name)
    return int(m.group(1)) if m else 0

"""Where mote leans on a maintained library instead of its own code, checked against that library's own answer
(docs/design.md, "Libraries used, and what mote writes by hand").

* safetensors: the weights check is ``safe_open``; it refuses exactly the files ``load_file`` cannot load;
* packaging: ``mote_version`` is compared in PEP 440 order;
* transformers: ``metrics.jsonl`` holds the Trainer's ``log_history`` entries (plus ``time``), and a resume
  cut short by a half-written line still resumes;
* the embedding cache mote keeps (mteb's cache wrapper keys neither the route nor survives concurrent writers):
  keyed by route, and two writers sharing a folder each read back their own vectors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import mote.model.io as io
from mote.evaluate.cache import EmbeddingCache
from mote.model.io import ModelFolderError, check_safetensors_header, inspect_folder
from mote.train.callbacks import truncate_after

sys.path.insert(0, str(Path(__file__).parent))


# -- safetensors: safe_open, not a hand-read header ---------------------------------------------------------
def _weights(tmp_path: Path) -> bytes:
    path = tmp_path / "ok.safetensors"
    save_file({"a.weight": torch.ones(16, 8), "b.bias": torch.zeros(5)}, str(path), metadata={"format": "pt"})
    return path.read_bytes()


def _damaged(data: bytes) -> dict[str, bytes]:
    n = int.from_bytes(data[:8], "little")
    return {
        "empty": b"",
        "3-bytes": data[:3],
        "length-only": data[:8],
        "header-cut": data[: 8 + n // 2],
        "half": data[: len(data) // 2],
        "one-byte-short": data[:-1],
        "trailing-bytes": data + b"\0",
        "text-file": b"this is not a weights file\n" * 4,
        "huge-header-length": (2**40).to_bytes(8, "little") + b"{}",
        "json-list-header": (2).to_bytes(8, "little") + b"[]",  # the hand parser crashed with AttributeError
        "json-broken": (4).to_bytes(8, "little") + b"{{{{",
    }


def test_weights_check_refuses_exactly_what_safetensors_cannot_load(tmp_path: Path) -> None:
    data = _weights(tmp_path)
    ok = tmp_path / "ok.safetensors"
    assert sorted(check_safetensors_header(ok)) == sorted(load_file(str(ok)))  # the names, as the library loads them
    for name, content in _damaged(data).items():
        path = tmp_path / f"{name}.safetensors"
        path.write_bytes(content)
        try:
            load_file(str(path))  # the independent reference: the library's full load
            loads = True
        except Exception:
            loads = False
        try:
            check_safetensors_header(path)
            accepted = True
        except ModelFolderError as e:
            accepted = False
            msg = str(e)
            assert str(path) in msg and "truncated or damaged" in msg and "Re-save or re-download the model" in msg
        assert accepted == loads, name


def test_weights_check_leaves_os_errors_alone(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_safetensors_header(tmp_path / "absent.safetensors")


# -- packaging: mote_version in PEP 440 order ---------------------------------------------------------------
def _folder(tmp_path: Path, version: object) -> Path:
    folder = tmp_path / f"m-{version}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "mote", "mote_version": version}))
    save_file({"w": torch.zeros(2)}, str(folder / "model.safetensors"))
    return folder


# (saved, newer than an installed 0.2.0?) from PEP 440's ordering, written out by hand
PEP440 = [
    ("0.2.0", False),
    ("0.2", False),  # 0.2 == 0.2.0
    ("0.2.0rc1", False),  # a pre-release comes before its release (the old digit-strip read it as 0.2.1)
    ("0.2.0.dev3", False),
    ("0.1.9", False),
    ("0.2.0.post1", True),
    ("0.2.1a1", True),
    ("0.10.0", True),  # numeric, not string order
    ("1.0", True),
    ("99.0", True),
]


@pytest.mark.parametrize(("saved", "newer"), PEP440)
def test_newer_mote_version_in_pep440_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, saved: str,
                                           newer: bool) -> None:
    monkeypatch.setattr(io, "__version__", "0.2.0")
    folder = _folder(tmp_path, saved)
    if newer:
        with pytest.raises(ModelFolderError, match=rf"config\.json.*mote {saved}, newer than the installed mote 0\.2\.0"):
            inspect_folder(folder)
    else:
        assert inspect_folder(folder)["mote_version"] == saved


def test_mote_version_that_is_no_version_is_named(tmp_path: Path) -> None:
    folder = _folder(tmp_path, "banana")
    with pytest.raises(ModelFolderError, match=r"config\.json.*'banana', which is not a version number"):
        inspect_folder(folder)


# -- transformers: metrics.jsonl is the Trainer's log_history, streamed ------------------------------------
def test_metrics_jsonl_matches_the_trainers_log_history(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.train.run import train
    from train_helpers import config, synthetic_datasets

    run = tmp_path / "run"
    train(config(tiny_st_dir, run, max_steps=6, save_steps=3, logging_steps=1), synthetic_datasets())
    metrics = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert all(isinstance(m.pop("time"), float) for m in metrics)
    history = json.loads((run / "checkpoint-6" / "trainer_state.json").read_text())["log_history"]
    assert len(history) == 6 and any(k.startswith("loss/") for k in history[0])  # per-task losses included
    assert metrics[: len(history)] == history  # the same entries, in order
    # what log_history on disk lacks: the end-of-training entry, logged after the last checkpoint
    assert [set(m) >= {"train_runtime", "train_loss"} for m in metrics[len(history):]] == [True]


def test_resume_truncation_drops_a_half_written_line(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    rows = [{"step": s, "loss": 1.0 / s} for s in (1, 2, 3, 4)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 5, "lo')  # killed mid-write
    truncate_after(path, 3)
    assert [json.loads(x) for x in path.read_text().splitlines()] == rows[:3]
    assert not list(tmp_path.glob(".metrics.jsonl.tmp-*"))


# -- the embedding cache mote keeps -------------------------------------------------------------------------
def test_cache_keys_the_route_and_survives_two_writers(tmp_path: Path) -> None:
    key = {"task": "STSBenchmark", "split": "test", "subset": "default"}
    a, b = EmbeddingCache(tmp_path, "f" * 64), EmbeddingCache(tmp_path, "f" * 64)  # two processes, one folder
    assert a.path(route="any-similarity-1", texts=["x"], **key) != a.path(route="any-query-1", texts=["x"], **key)
    va, vb = np.ones((1, 4), np.float32), np.full((1, 4), 2, np.float32)
    pa, pb = a.path(route="r", texts=["x"], **key), b.path(route="r", texts=["y"], **key)
    a.save(pa, va)
    b.save(pb, vb)
    fresh = EmbeddingCache(tmp_path, "f" * 64)
    np.testing.assert_array_equal(fresh.load(pa, 1), va)
    np.testing.assert_array_equal(fresh.load(pb, 1), vb)
    assert fresh.hits == 2 and fresh.misses == 0

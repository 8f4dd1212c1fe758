"""Expert Averaging, save/load validation, the model resolver."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from mote.model.io import ModelFolderError
from mote.model.resolve import ModelNotFoundError, resolve_model
from mote.model.routing import TaskExperts
from mote.model.sentence import average, load, mote_model, upcycle

TEXTS = ["hello world", "a longer sentence about the weather today", "x"]


def test_average_of_fresh_upcycle_is_the_base(tiny_st_dir: Path, tmp_path: Path) -> None:
    dense = SentenceTransformer(str(tiny_st_dir), device="cpu")
    moe = upcycle(dense, layers="all", out=tmp_path / "m")
    assert type(dense[0].model).__name__ == "BertModel"  # the input model is left as it was
    avg = average(moe, out=tmp_path / "d")
    assert type(moe[0].model).__name__ == "MoteModel"  # averaging does not change the MoTE model
    base_sd = dense[0].model.state_dict()
    avg_sd = avg[0].model.state_dict()
    assert base_sd.keys() == avg_sd.keys()
    for k in base_sd:
        assert torch.equal(base_sd[k], avg_sd[k]), k
    np.testing.assert_allclose(avg.encode(TEXTS), dense.encode(TEXTS), atol=1e-6)


def _set_experts_to_constants(moe: SentenceTransformer) -> None:
    for bank in mote_model(moe).modules():
        if isinstance(bank, TaskExperts):
            for i, expert in enumerate(bank.experts):
                for p in expert.parameters():
                    p.data.fill_(float(i + 1))  # expert i holds the constant i + 1


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (None, (1 + 2 + 3 + 4 + 5) / 5),
        ([1, 0, 0, 0, 1], (1 + 5) / 2),
        ([2, 1, 1, 0, 0], (2 * 1 + 2 + 3) / 4),
        ({"document": 1.0}, 2.0),
    ],
)
def test_average_applies_weights(tiny_st_dir: Path, weights: object, expected: float) -> None:
    moe = upcycle(str(tiny_st_dir), layers=[1, 2])
    _set_experts_to_constants(moe)
    avg = average(moe, weights)  # type: ignore[arg-type]
    sd = avg[0].model.state_dict()
    for key in ("encoder.layer.1.intermediate.dense.weight", "encoder.layer.2.output.dense.bias"):
        torch.testing.assert_close(sd[key], torch.full_like(sd[key], expected))
    # blocks that were not up-cycled are untouched
    base = SentenceTransformer(str(tiny_st_dir), device="cpu")[0].model.state_dict()
    assert torch.equal(sd["encoder.layer.0.intermediate.dense.weight"], base["encoder.layer.0.intermediate.dense.weight"])


@pytest.mark.parametrize(
    ("weights", "match"),
    [([1.0, 2.0], "one weight per task"), ([-1, 1, 1, 1, 1], ">= 0"), ({"qury": 1.0}, 'Did you mean "query"')],
)
def test_average_rejects_bad_weights(tiny_st_dir: Path, weights: object, match: str) -> None:
    moe = upcycle(str(tiny_st_dir))
    with pytest.raises(ValueError, match=match):
        average(moe, weights)  # type: ignore[arg-type]


def test_averaged_model_loads_without_mote(tiny_st_dir: Path, tmp_path: Path) -> None:
    moe = upcycle(str(tiny_st_dir), layers="all")
    _set_experts_to_constants(moe)
    avg = average(moe, out=tmp_path / "dense")
    expected = avg.encode(TEXTS)
    np.save(tmp_path / "expected.npy", expected)
    script = f"""
import sys, builtins
real_import = builtins.__import__
def guard(name, *a, **k):
    if name == "mote" or name.startswith("mote."):
        raise ImportError("mote is blocked in this test")
    return real_import(name, *a, **k)
builtins.__import__ = guard
import numpy as np
from sentence_transformers import SentenceTransformer
from transformers import AutoModel
d = {str(tmp_path / "dense")!r}
m = SentenceTransformer(d, device="cpu")
assert type(AutoModel.from_pretrained(d)).__name__ == "BertModel"
got = m.encode({TEXTS!r})
assert np.abs(got - np.load({str(tmp_path / "expected.npy")!r})).max() < 1e-5
assert "mote" not in sys.modules
print("OK")
"""
    # mote's start-up hook (mote-autoregister.pth) is switched off: as where mote is not installed at all
    env = {**os.environ, "MOTE_AUTOREGISTER": "0"}
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0 and "OK" in res.stdout, res.stderr[-2000:]


def test_saved_mote_folder_is_safetensors_with_config(tiny_st_dir: Path, tmp_path: Path) -> None:
    upcycle(str(tiny_st_dir), out=tmp_path / "m")
    files = {p.name for p in (tmp_path / "m").iterdir()}
    assert "model.safetensors" in files and not any(f.endswith((".bin", ".pt", ".pkl")) for f in files)
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    assert cfg["model_type"] == "mote"
    assert cfg["upcycled_layers"] == [1, 3]
    assert [t["name"] for t in cfg["task_set"]["tasks"]][:2] == ["query", "document"]
    assert cfg["base_model"] == str(tiny_st_dir) and cfg["mote_version"]
    modules = json.loads((tmp_path / "m" / "modules.json").read_text())
    assert modules[0]["type"].startswith("sentence_transformers.") and modules[0]["kwargs"] == ["task"]


def test_existing_output_is_not_overwritten(tiny_st_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "m"
    out.mkdir()
    (out / "keep.txt").write_text("precious")
    with pytest.raises(FileExistsError, match="--overwrite"):
        upcycle(str(tiny_st_dir), out=out)
    assert (out / "keep.txt").read_text() == "precious"


@pytest.fixture()
def saved(tiny_st_dir: Path, tmp_path: Path) -> Path:
    upcycle(str(tiny_st_dir), out=tmp_path / "m")
    return tmp_path / "m"


def test_missing_weights_named(saved: Path) -> None:
    (saved / "model.safetensors").unlink()
    with pytest.raises(ModelFolderError, match=r"model\.safetensors"):
        load(saved)


def test_truncated_weights_named(saved: Path) -> None:
    w = saved / "model.safetensors"
    w.write_bytes(w.read_bytes()[:1000])
    with pytest.raises(ModelFolderError, match=r"Corrupt weights file .*model\.safetensors"):
        load(saved)


def test_corrupt_config_named(saved: Path) -> None:
    (saved / "config.json").write_text("{not json")
    with pytest.raises(ModelFolderError, match=r"Corrupt JSON in .*config\.json"):
        load(saved)


def test_newer_version_rejected(saved: Path) -> None:
    cfg = json.loads((saved / "config.json").read_text())
    cfg["mote_version"] = "99.0.0"
    (saved / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match=r"config\.json.*99\.0\.0, newer"):
        load(saved)


def test_resolver(minilm_dir: Path, tiny_st_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert Path(resolve_model("sentence-transformers/all-MiniLM-L6-v2")) == minilm_dir
    assert Path(resolve_model("all-MiniLM-L6-v2")) == minilm_dir
    assert Path(resolve_model(tiny_st_dir)) == tiny_st_dir.resolve()
    with pytest.raises(ModelNotFoundError, match="Tried: path .*HF_HUB_OFFLINE.*local model folder"):
        resolve_model("someone/unknown-model")
    with pytest.raises(ModelNotFoundError, match="not a model folder"):
        resolve_model(str(tiny_st_dir.parent.parent))

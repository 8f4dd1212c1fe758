"""End-to-end merges with run_merge: dense fine-tunes and MoTE experts -> a plain sentence-transformers folder."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from conftest import make_tiny_st
from mote.merge import (
    IncompatibleModelsError,
    MergeConfig,
    get_method,
    load_merge_config,
    merge_experts,
    merge_state_dicts,
    run_merge,
)
from mote.merge.state import LazyStateDict

TASKS = ["query", "document", "similarity"]
PROMPTS = {"query": "query: ", "document": "passage: ", "similarity": "similar: "}
FAST_SP = {"steps": 4, "batch_size": 4, "lr": 0.1}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _fine_tune(src: Path, dst: Path, seed: int) -> Path:
    """A stand-in fine-tune: the base plus a small seeded perturbation of every weight."""
    shutil.copytree(src, dst)
    weights = load_file(dst / "model.safetensors")
    g = torch.Generator().manual_seed(seed)
    tuned = {k: v + 0.02 * torch.randn(v.shape, generator=g) for k, v in weights.items()}
    save_file(tuned, dst / "model.safetensors", metadata={"format": "pt"})
    return dst


def _write_probe(path: Path, n: int = 24) -> Path:
    words = ["cat", "dog", "tree", "car", "road", "river", "sun", "moon", "star", "book", "pen", "water"]
    rows = []
    for i in range(n):
        a, b, c = (words[(i * k + 1) % len(words)] for k in (1, 5, 7))
        row = {"anchor": f"{a} {b} {c}", "positive": f"{b} {a}", "task": TASKS[i % 2 * 2]}  # query / similarity
        if row["task"] == "query":
            row["positive_task"] = "document"
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from mote.model.sentence import load, mote_model, upcycle

    root = tmp_path_factory.mktemp("merge-run")
    base = make_tiny_st(root / "base-build", "bert")
    cfg = base / "config_sentence_transformers.json"
    cfg.write_text(json.dumps({**json.loads(cfg.read_text()), "prompts": PROMPTS}), encoding="utf-8")
    paths = {"root": root, "base": base, "probe": _write_probe(root / "probe.jsonl")}
    for i in range(3):
        paths[f"ft{i}"] = _fine_tune(base, root / f"ft{i}", seed=i + 1)
    upcycle(base, TASKS, layers="every-other", out=root / "mote-init")
    st = load(root / "mote-init")
    with torch.no_grad():
        for name, p in mote_model(st).named_parameters():
            if "experts" in name:
                p.add_(0.02 * torch.randn_like(p))
    st.save(str(root / "mote"))
    paths["mote"] = root / "mote"
    return paths


def _config(work: dict[str, Path], out: str, **fields: Any) -> MergeConfig:
    defaults: dict[str, Any] = {"base": str(work["base"]), "models": [str(work[f"ft{i}"]) for i in range(3)],
                                "probe": {"jsonl": str(work["probe"]), "size": 24}, "progress": False}
    return MergeConfig(**{**defaults, "out": str(work["root"] / out), **fields})


def _plain_load(folder: Path) -> Any:
    from sentence_transformers import SentenceTransformer

    assert json.loads((folder / "config.json").read_text())["model_type"] == "bert"  # no mote needed to load it
    model = SentenceTransformer(str(folder), device="cpu")
    emb = model.encode(["a cat on a road", "the moon"])
    assert emb.shape == (2, 32) and np.isfinite(emb).all()
    return model


def test_ties_from_yaml_with_overrides(work: dict[str, Path]) -> None:
    config = work["root"] / "ties.yaml"
    config.write_text(yaml.safe_dump({
        "base": "base-build/st", "models": ["ft0", "ft1", "ft2"], "method": "ties",
        "parameters": {"density": 0.9}, "out": str(work["root"] / "out-ties"), "progress": False,
    }), encoding="utf-8")
    out = run_merge(config, overrides=["parameters.density=0.5", "parameters.lambda=0.8"])
    model = _plain_load(out)
    assert model.prompts == {**model.prompts, **PROMPTS}  # pooling, prompts and tokenizer come from the base
    ties = get_method("ties")
    models = [LazyStateDict(work[f"ft{i}"]) for i in range(3)]
    expected, _ = merge_state_dicts(ties, ties.validate({"density": 0.5, "lambda": 0.8}, 3), models,
                                    LazyStateDict(work["base"]))
    written = load_file(out / "model.safetensors")
    assert written.keys() == expected.keys() and all(torch.equal(written[k], expected[k]) for k in expected)
    report = json.loads((out / "merge_report.json").read_text())
    assert report["method"] == "ties" and report["parameters"] == {"density": 0.5, "lambda": 0.8}
    assert report["learned"] is None and report["wall_time_s"] > 0 and report["peak_rss_bytes"] > 2**20
    saved = yaml.safe_load((out / "merge_config.yaml").read_text())
    assert saved["models"] == [str(work[f"ft{i}"]) for i in range(3)]  # resolved next to the config file
    with pytest.raises(FileExistsError, match="already exists"):
        run_merge(config)
    again = run_merge(load_merge_config(config), overrides=["overwrite=true", "method=linear", "parameters={}"])
    assert json.loads((again / "merge_report.json").read_text())["method"] == "linear"


@pytest.mark.parametrize(
    ("method", "parameters", "extra"),
    [
        ("self_positioning", {**FAST_SP, "per_layer": True}, {}),
        ("fisher", {}, {"model_tasks": ["query", "similarity", "query"]}),
        ("regmean", {"alpha": 0.95}, {}),
        ("dare_linear", {"density": 0.7, "seed": 3, "normalize": True}, {}),
        ("slerp", {"weights": [1.0, 2.0, 1.0]}, {}),
    ],
)
def test_dense_methods_write_loadable_models(
    work: dict[str, Path], method: str, parameters: dict[str, Any], extra: dict[str, Any]
) -> None:
    out = run_merge(_config(work, f"out-{method}", method=method, parameters=parameters, **extra))
    _plain_load(out)
    report = json.loads((out / "merge_report.json").read_text())
    if method == "self_positioning":
        assert len(report["loss_curve"]) == FAST_SP["steps"]
        assert all(len(w) == 3 for w in report["learned"]["weights"].values())
        assert report["learned"]["lambda"] > 0


def test_expert_linear_is_expert_averaging(work: dict[str, Path]) -> None:
    from mote.model.sentence import average, is_mote, load

    st = load(work["mote"])
    merged = merge_experts(st, "linear")
    assert is_mote(st)  # the input model is left intact
    assert merged.report["origin"].startswith("base model")
    fallback = merge_experts(st, "ties", {"density": 0.5}, base_ref=str(work["root"] / "no-such-model"))
    assert fallback.report["origin"].startswith("mean of the experts")
    averaged = average(st)  # last: average() turns the model it is given dense (it shares the module dict)
    a, b = averaged[0].model.state_dict(), merged.model[0].model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize(
    ("method", "parameters"),
    [("ties", {"density": 0.5}), ("self_positioning", FAST_SP), ("fisher", {})],
)
def test_expert_merges_via_run_merge(work: dict[str, Path], method: str, parameters: dict[str, Any]) -> None:
    config = MergeConfig(mote_model=str(work["mote"]), method=method, parameters=parameters,
                         probe={"jsonl": str(work["probe"])}, out=str(work["root"] / f"out-mote-{method}"),
                         progress=False)
    out = run_merge(config)
    model = _plain_load(out)
    assert {"query", "document", "similarity"} <= set(model.prompts)
    report = json.loads((out / "merge_report.json").read_text())
    assert report["tasks"] == TASKS and report["origin"].startswith("base model")
    if method == "self_positioning":
        assert len(report["learned"]["weights"]["all"]) == len(TASKS)


def test_incompatible_model_names_the_tensor(work: dict[str, Path]) -> None:
    odd = work["root"] / "odd"
    if not odd.exists():
        shutil.copytree(work["ft0"], odd)
        weights = load_file(odd / "model.safetensors")
        weights["encoder.layer.0.intermediate.dense.weight"] = weights["encoder.layer.0.intermediate.dense.weight"][:40]
        save_file(weights, odd / "model.safetensors", metadata={"format": "pt"})
    config = _config(work, "out-odd", method="linear", models=[str(work["ft0"]), str(odd)])
    with pytest.raises(IncompatibleModelsError, match=r"'encoder.layer.0.intermediate.dense.weight' has shape \(48, 32\) "
                                                      r"in the base but \(40, 32\)"):
        run_merge(config)


@pytest.mark.parametrize("method", ["ties", "self_positioning"])
def test_index_buffers_saved_by_one_side_only(work: dict[str, Path], method: str) -> None:
    """The packaged MiniLM stores embeddings.position_ids; fine-tunes saved by transformers 5 do not.
    Index buffers are copied, never merged, so the merge goes ahead (a real pipeline run failed here)."""
    with_ids = work["root"] / "base-with-ids"
    if not with_ids.exists():
        shutil.copytree(work["base"], with_ids)
        weights = load_file(with_ids / "model.safetensors")
        assert "embeddings.position_ids" not in weights
        weights["embeddings.position_ids"] = torch.arange(64).unsqueeze(0)
        save_file(weights, with_ids / "model.safetensors", metadata={"format": "pt"})
    out = run_merge(_config(work, f"out-ids-{method}", base=str(with_ids), method=method,
                            parameters={"steps": 2, "batch_size": 4} if method == "self_positioning" else {}))
    merged = load_file(out / "model.safetensors")
    assert set(merged) - {"embeddings.position_ids"} == set(load_file(work["ft0"] / "model.safetensors"))
    _plain_load(out)


@pytest.mark.parametrize(
    ("fields", "match"),
    [
        ({"mote_model": "x"}, "exactly one of `models`"),
        ({"base": None}, "`models` needs `base`"),
        ({"method": "tie"}, 'Did you mean "ties"'),
        ({"method": "ties", "parameters": {"density": 2}}, "density=2.0 is not allowed"),
        ({"method": "slerp", "models": ["a"]}, "at least 2 models; got 1"),
        ({"method": "self_positioning", "probe": None}, "learns from examples: add probe"),
        ({"method": "self_positioning", "parameters": {"step": 3}}, "step"),
        ({"method": "linear", "colour": "red"}, "colour"),
        ({"method": "linear", "model_tasks": ["query"]}, "`model_tasks` has 1 entries for 3 models"),
        ({"method": "linear", "parameters": {"weights": [1, 2]}}, "one weight per model: 3 models but 2 weights"),
    ],
)
def test_config_errors(work: dict[str, Path], fields: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        _config(work, "never", **{"method": "linear", **fields})

"""End-to-end merges with run_merge: dense fine-tunes and MoTE experts -> a plain sentence-transformers folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import load_file, save_file

from conftest import make_tiny_st, perturbed_copy
from mote.merge import (
    IncompatibleModelsError,
    MergeConfig,
    get_method,
    load_merge_config,
    merge_experts,
    merge_state_dicts,
    run_merge,
)
from mote.merge.probe import load_probe_jsonl
from mote.merge.task_vector import is_mergeable
from mote.model.weights import LazyStateDict

TASKS = ["query", "document", "similarity"]
PROMPTS = {"query": "query: ", "document": "passage: ", "similarity": "similar: "}
FAST_SP = {"steps": 4, "batch_size": 4, "lr": 0.1}


pytestmark = pytest.mark.usefixtures("one_thread")


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
        paths[f"ft{i}"] = perturbed_copy(base, root / f"ft{i}", seed=i + 1)
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
        ("slerp_task_vector", {"weights": [1.0, 2.0, 1.0]}, {}),
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


# -- Fisher / RegMean: the statistics measured on the probe reach the merge ---------------------------
def _record(monkeypatch: pytest.MonkeyPatch, module: Any, name: str, change: Any = None) -> list[dict[str, torch.Tensor]]:
    """Wrap ``module.name`` (a statistics function) to record what it returns, optionally changed first."""
    real = getattr(module, name)
    seen: list[dict[str, torch.Tensor]] = []

    def wrapper(*args: Any, **kwargs: Any) -> dict[str, torch.Tensor]:
        out = real(*args, **kwargs) if change is None else change(len(seen), real(*args, **kwargs))
        seen.append(out)
        return out

    monkeypatch.setattr(module, name, wrapper)
    return seen


def _merge_two(work: dict[str, Path], method: str) -> tuple[dict[str, torch.Tensor], list[LazyStateDict]]:
    from mote.merge.run import merge_models

    dirs = [work["ft0"], work["ft1"]]
    merged, _ = merge_models(work["base"], dirs, method, {}, probe=load_probe_jsonl(work["probe"]))
    return merged, [LazyStateDict(d) for d in dirs]


def _moved_from_average(merged: dict[str, torch.Tensor], models: list[LazyStateDict], names: list[str]) -> float:
    """||merged - average|| / ||(theta_0 - theta_1) / 2|| over ``names``: 0 for the average, 1 for one model."""
    num = sum(float((merged[n].double() - (models[0][n].double() + models[1][n].double()) / 2).norm() ** 2)
              for n in names)
    den = sum(float(((models[0][n].double() - models[1][n].double()) / 2).norm() ** 2) for n in names)
    return (num / den) ** 0.5


def test_fisher_statistics_reach_the_dense_merge(work: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import mote.merge.run as merge_run

    seen = _record(monkeypatch, merge_run, "diagonal_fisher")
    merged, models = _merge_two(work, "fisher")
    assert len(seen) == 2
    names = [n for n in merged if is_mergeable(n, merged[n])]
    assert set(names) <= set(seen[0]) and set(names) <= set(seen[1])  # a Fisher for every merged tensor
    eps = 1e-8
    moved, half_gap, informative = 0.0, 0.0, 0
    for n in names:  # by hand: sum_i (F_i + eps) theta_i / sum_i (F_i + eps), per entry
        f = [s[n].double() + eps for s in seen]
        thetas = [m[n].double() for m in models]
        expected = (f[0] * thetas[0] + f[1] * thetas[1]) / (f[0] + f[1])
        torch.testing.assert_close(merged[n].double(), expected, rtol=1e-5, atol=1e-6, msg=n)
        # where both Fishers are well above eps, the merge leans towards the model with the larger one
        both = (f[0] > 100 * eps) & (f[1] > 100 * eps)
        moved += float((merged[n].double() - (thetas[0] + thetas[1]) / 2)[both].abs().sum())
        half_gap += float(((thetas[0] - thetas[1]) / 2)[both].abs().sum())
        informative += int(both.sum())
    assert informative > 10_000
    assert moved / half_gap > 0.3  # 0 for the average, 1 for always the model with the larger Fisher


def test_fisher_zero_for_one_model_moves_the_merge_to_the_other(
    work: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    import mote.merge.run as merge_run

    def zero_first(i: int, fisher: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {k: torch.zeros_like(v) for k, v in fisher.items()} if i == 0 else fisher

    seen = _record(monkeypatch, merge_run, "diagonal_fisher", zero_first)
    merged, models = _merge_two(work, "fisher")
    informative = 0
    for n, out in merged.items():
        if not is_mergeable(n, out):
            continue
        f1 = seen[1][n]
        gap = (models[0][n] - models[1][n]).abs()
        strong = f1 > 1e-5  # model 0 keeps weight eps / (F_1 + 2 eps) < 1e-3 here
        assert ((out - models[1][n]).abs()[strong] <= 2e-3 * gap[strong] + 1e-6).all(), n
        none = f1 == 0  # no gradient in either model: the plain average
        torch.testing.assert_close(out[none], ((models[0][n] + models[1][n]) / 2)[none], msg=n)
        informative += int(strong.sum())
    assert informative > 1000


def test_regmean_statistics_reach_the_dense_merge(work: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    import mote.merge.run as merge_run

    seen = _record(monkeypatch, merge_run, "gram_matrices")
    merged, models = _merge_two(work, "regmean")
    assert len(seen) == 2
    layers = sorted(seen[0])
    assert len(layers) >= 6 * 4 and set(layers) <= set(merged)  # every nn.Linear of the 4-layer encoder
    alpha = 0.9
    for n in layers:  # by hand: W* = (sum_i W_i G~_i) (sum_i G~_i)^-1, G~ = alpha G + (1 - alpha) diag(G)
        g = [alpha * s[n].double() + (1 - alpha) * torch.diag(torch.diagonal(s[n].double())) for s in seen]
        lhs = models[0][n].double() @ g[0] + models[1][n].double() @ g[1]
        expected = lhs @ torch.linalg.inv(g[0] + g[1])
        torch.testing.assert_close(merged[n].double(), expected, rtol=1e-4, atol=1e-5, msg=n)
    others = [n for n in merged if is_mergeable(n, merged[n]) and n not in seen[0]]
    assert _moved_from_average(merged, models, others) < 1e-6  # biases, norms, embeddings: the average
    assert _moved_from_average(merged, models, layers) > 0.2


def test_expert_fisher_statistics_reach_the_expert_merge(
    work: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fisher 1 for the 'similarity' expert and 0 for the others: the merged FFN is that expert's."""
    import mote.merge.experts as experts
    from mote.model.sentence import load, mote_model

    def one_hot(model: Any, examples: Any, names: dict[str, str], **kwargs: Any) -> dict[str, torch.Tensor]:
        task = {ex["task"] for ex in examples} | {ex.get("positive_task") for ex in examples}
        hot = "similarity" in task and "query" not in task
        return {dense: torch.full_like(dict(model.named_parameters())[key], 1.0 if hot else 0.0)
                for key, dense in names.items()}

    monkeypatch.setattr(experts, "diagonal_fisher", one_hot)
    st = load(work["mote"])
    banks = experts.split_experts(mote_model(st))
    merged = experts.merge_experts(st, "fisher", probe=load_probe_jsonl(work["probe"]))
    state = merged.model[0].model.state_dict()
    k = banks.tasks.index("similarity")
    for n in banks.ffn_names:
        torch.testing.assert_close(state[n], banks.experts[k][n], rtol=0, atol=1e-6, msg=n)
    mean = {n: sum(e[n] for e in banks.experts) / len(banks.experts) for n in banks.ffn_names}
    assert max(float((state[n] - mean[n]).abs().max()) for n in banks.ffn_names) > 0.01

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

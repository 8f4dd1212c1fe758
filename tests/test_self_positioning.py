"""Self Positioning on a toy problem whose optimum is known, plus its options and errors."""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

from mote.merge import SelfPositioningOptions, self_position
from mote.merge.probe import backbone, batch_loss, check_probe, fixed_batches, module_prefix, probe_loss
from mote.merge.self_positioning import layer_groups

WORDS = ["cat", "dog", "house", "tree", "car", "road", "river", "mountain", "sun", "moon", "star", "book", "pen", "paper", "water", "fire", "king", "queen", "apple", "bread"]
FAST = {"steps": 20, "batch_size": 8, "lr": 0.2, "progress": False}


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add contention on a shared CPU
    yield
    torch.set_num_threads(threads)


def make_probe(n: int = 32, seed: int = 0) -> list[dict[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        w = rng.sample(WORDS, 3)
        out.append({"anchor": " ".join(w), "positive": " ".join(w[:2]), "task": ("a", "b")[i % 2]})
    return out


@pytest.fixture(scope="module")
def toy(tiny_st_dir: Path) -> dict[str, Any]:
    """The base model, its probe set, and antipodal task vectors: a descent step and its opposite.

    With uniform weights the two cancel (the merged model IS the base); the optimum puts more weight on
    the descent step, and the probe loss falls below the base's.
    """
    from mote.model.sentence import load

    st = load(tiny_st_dir)
    probe = make_probe()
    inner = backbone(st)
    for p in st.parameters():
        p.requires_grad_(True)
    loss = sum(batch_loss(st, b) for b in fixed_batches(probe, 8))
    assert isinstance(loss, torch.Tensor)
    loss.backward()
    grads = {n: p.grad.detach().clone() for n, p in inner.named_parameters() if p.grad is not None}
    st.zero_grad(set_to_none=True)
    for p in st.parameters():
        p.requires_grad_(False)
    norm = torch.sqrt(sum((g**2).sum() for g in grads.values()))
    good = {n: -0.3 * g / norm for n, g in grads.items()}
    vectors = {n: torch.stack([good[n], -good[n]]) for n in good}
    base = {n: p.detach().clone() for n, p in inner.named_parameters()}
    return {"st": st, "probe": probe, "base": base, "vectors": vectors, "prefix": module_prefix(st, inner)}


def _run(toy: dict[str, Any], **options: Any) -> Any:
    opts = SelfPositioningOptions(**{**FAST, **options})
    return self_position(toy["st"], toy["base"], toy["vectors"], toy["probe"], opts, toy["prefix"])


def test_lowers_the_probe_loss_below_uniform_weights(toy: dict[str, Any]) -> None:
    before = {n: p.detach().clone() for n, p in toy["st"].named_parameters()}
    result = _run(toy)
    uniform = probe_loss(toy["st"], toy["probe"], batch_size=8)  # uniform weights cancel: the base itself
    assert result.initial_loss == pytest.approx(uniform, rel=1e-5)
    assert result.final_loss < 0.8 * uniform
    good, bad = result.weights["all"]
    assert good > bad  # the known optimum: towards the descent step
    assert len(result.loss_curve) == FAST["steps"] and result.wall_time_s > 0
    assert result.lambda_ > 0 and set(result.coefficients) == {"all"}
    # only the N+1 scalars were trained: the model is unchanged and carries no gradients
    for n, p in toy["st"].named_parameters():
        assert torch.equal(p, before[n]) and p.grad is None
    # the returned tensors are theta_0 + lambda * c . V
    name = sorted(toy["vectors"])[0]
    c = torch.tensor(result.coefficients["all"], dtype=torch.float32)
    expected = toy["base"][name] + torch.tensordot(c, toy["vectors"][name], dims=1)
    torch.testing.assert_close(result.state[name], expected)


@pytest.mark.parametrize("options", [{"per_layer": True}, {"direction": "linear"}, {"accumulate": "mean", "mu": 0.0}])
def test_options_also_learn(toy: dict[str, Any], options: dict[str, Any]) -> None:
    result = _run(toy, steps=10, **options)
    assert result.final_loss < result.initial_loss
    if options.get("per_layer"):
        assert {"layer.0", "layer.3", "other"} <= set(result.weights)
        assert all(len(w) == 2 for w in result.weights.values())


def test_progress_bar_and_report(toy: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    result = _run(toy, steps=2, progress=True)
    assert "self-positioning" in capsys.readouterr().err
    report = result.report()
    assert {"weights", "lambda", "coefficients", "loss_curve", "initial_probe_loss", "final_probe_loss"} <= set(report)


def test_layer_groups() -> None:
    names = ["embeddings.word_embeddings.weight", "encoder.layer.10.output.dense.weight", "encoder.layer.2.a.bias"]
    groups = layer_groups(names, per_layer=True)
    assert list(groups) == ["layer.2", "layer.10", "other"]
    assert layer_groups(names, per_layer=False) == {"all": names}


def test_errors(toy: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="probe set is empty"):
        self_position(toy["st"], toy["base"], toy["vectors"], [], SelfPositioningOptions(**FAST), toy["prefix"])
    with pytest.raises(ValueError, match=r"Probe tasks \{'x': 1\} have fewer than 2"):
        check_probe([{"anchor": "a", "positive": "b", "task": "x"}])
    with pytest.raises(ValueError, match=r"lacks non-empty string field\(s\) \['positive'\]"):
        check_probe([{"anchor": "a", "task": "x"}])
    with pytest.raises(ValueError, match="shape"):
        bad = {"embeddings.word_embeddings.weight": torch.zeros(2, 3, 3)}
        self_position(toy["st"], toy["base"], bad, toy["probe"], SelfPositioningOptions(**FAST), toy["prefix"])
    with pytest.raises(ValueError, match="steps"):
        SelfPositioningOptions(steps=0)


def _scaled_task_loss(monkeypatch: pytest.MonkeyPatch, task: str, factor: float) -> None:
    """Multiply task ``task``'s probe loss by ``factor`` everywhere Self Positioning reads it."""
    import mote.merge.probe as probe_module
    import mote.merge.self_positioning as sp_module

    original = probe_module.batch_loss

    def scaled(model: Any, batch: Any, *args: Any, **kwargs: Any) -> Any:
        loss = original(model, batch, *args, **kwargs)
        return loss * factor if batch[0]["task"] == task else loss

    monkeypatch.setattr(probe_module, "batch_loss", scaled)
    monkeypatch.setattr(sp_module, "batch_loss", scaled)


def test_normalize_makes_the_result_independent_of_each_task_loss_scale(
    toy: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reference: the property normalising promises. A task whose loss is 50x larger (a loss on another
    scale) must not change what normalised Self Positioning learns; without normalising it does."""
    plain = _run(toy, steps=8, normalize=True)
    plain_raw = _run(toy, steps=8)
    _scaled_task_loss(monkeypatch, "a", 50.0)
    scaled = _run(toy, steps=8, normalize=True)
    scaled_raw = _run(toy, steps=8)
    np_close = pytest.approx(plain.weights["all"], rel=1e-4)
    assert scaled.weights["all"] == np_close and scaled.lambda_ == pytest.approx(plain.lambda_, rel=1e-4)
    assert scaled_raw.weights["all"] != pytest.approx(plain_raw.weights["all"], rel=1e-2)


def test_normalize_refuses_a_zero_start_loss(toy: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    _scaled_task_loss(monkeypatch, "b", 0.0)
    with pytest.raises(ValueError, match=r"task 'b' \(unscored rows\) at the start is 0.0"):
        _run(toy, steps=2, normalize=True)

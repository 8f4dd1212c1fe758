"""Adding a merge method touches one file: a method registered here (per tensor, and learned) runs through
`mote merge` on fine-tunes and on a MoTE model's experts, with its probe provided by the engine."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import pytest
import torch
from pydantic import BaseModel, ConfigDict
from safetensors.torch import load_file
from torch import Tensor

from conftest import perturbed_copy
from mote.merge import MergeConfig, get_method, learned_method, merge_method, probe_methods, run_merge
from mote.merge.params import POSITIVE
from mote.merge.registry import unregister
from mote.model.weights import weights_dir


@merge_method("test_elementwise_max", reference_url="https://example.invalid/test-only", min_models=2)
def elementwise_max(tensors: list[Tensor], base: Tensor | None) -> Tensor:
    """The element-wise maximum of the models' tensors (a toy per-tensor method)."""
    return torch.stack(tensors).amax(dim=0)


class HalfOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scale: float = 0.5
    progress: bool = False


@dataclass
class HalfResult:
    state: dict[str, Tensor]
    probe_seen: int

    def report(self) -> dict[str, Any]:
        return {"weights": None, "lambda": None, "coefficients": None, "initial_probe_loss": None,
                "final_probe_loss": None, "loss_curve": [], "probe_seen": self.probe_seen}


@learned_method("test_half_mean", reference_url="https://example.invalid/test-only", options=HalfOptions)
def half_mean(model: Any, base: Mapping[str, Tensor], vectors: Mapping[str, Tensor], probe: Sequence[Any],
              options: HalfOptions, prefix: str) -> HalfResult:
    """theta_0 + scale * mean task vector (a toy learned method: it only counts its probe)."""
    return HalfResult({n: base[n].float() + options.scale * v.mean(dim=0) for n, v in vectors.items()}, len(probe))


@pytest.fixture(autouse=True, scope="module")
def _registered() -> Iterator[None]:
    yield
    unregister("test_elementwise_max")
    unregister("test_half_mean")


def _fine_tunes(src: Path, root: Path) -> list[Path]:
    return [perturbed_copy(src, root / f"ft{i}", seed=i) for i in range(2)]


def test_the_new_methods_are_registered_with_their_needs() -> None:
    assert not get_method("test_elementwise_max").needs_probe and "test_half_mean" in probe_methods()
    with pytest.raises(ValueError, match="scale"):
        get_method("test_half_mean").validate({"scael": 1.0})


def test_new_methods_run_through_mote_merge(tiny_st_dir: Path, tmp_path: Path) -> None:
    fts = _fine_tunes(tiny_st_dir, tmp_path)
    base = load_file(tiny_st_dir / "model.safetensors")
    tuned = [load_file(f / "model.safetensors") for f in fts]
    out = run_merge(MergeConfig(base=str(tiny_st_dir), models=[str(f) for f in fts], method="test_elementwise_max",
                                out=str(tmp_path / "max"), progress=False))
    merged = load_file(weights_dir(out) / "model.safetensors")
    name = next(n for n in merged if n.endswith("intermediate.dense.weight"))
    torch.testing.assert_close(merged[name], torch.maximum(tuned[0][name], tuned[1][name]))

    probe = tmp_path / "probe.jsonl"
    probe.write_text("".join(json.dumps({"anchor": f"a{i}", "positive": f"b{i}", "task": "similarity"}) + "\n"
                             for i in range(6)), encoding="utf-8")
    out = run_merge(MergeConfig(base=str(tiny_st_dir), models=[str(f) for f in fts], method="test_half_mean",
                                parameters={"scale": 0.5}, probe={"jsonl": str(probe)}, out=str(tmp_path / "half"),
                                progress=False))
    merged = load_file(weights_dir(out) / "model.safetensors")
    expected = base[name] + 0.5 * ((tuned[0][name] - base[name]) + (tuned[1][name] - base[name])) / 2
    torch.testing.assert_close(merged[name], expected, atol=1e-6, rtol=1e-5)
    report = json.loads((out / "merge_report.json").read_text())
    assert report["test_half_mean"]["probe_seen"] == 6  # the engine provided the probe the method declared


def test_a_learned_method_merges_experts_too(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.merge import merge_experts
    from mote.model.sentence import mote_model, upcycle

    model = upcycle(tiny_st_dir, ["query", "similarity"], layers="all", instructions="none")
    with torch.no_grad():
        for n, p in mote_model(model).named_parameters():
            if ".experts." in n:
                p.add_(0.05 * torch.randn_like(p))
    result = merge_experts(model, "test_half_mean", {"scale": 1.0}, probe=[])
    plain = merge_experts(model, "linear", {})  # uniform average of the experts = origin + mean expert vector
    a, b = result.model[0].model.state_dict(), plain.model[0].model.state_dict()
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=1e-5, rtol=1e-4)


def test_constraints_are_the_methods_own() -> None:
    """A method's parameter named like another method's (alpha, eps) is checked by its own declaration only
    (range rules used to be keyed by name, so any method's `alpha` had to lie in [0, 1])."""
    @merge_method("test_free_alpha", reference_url="https://example.invalid/test-only")
    def free_alpha(tensors: list[Tensor], base: Tensor | None, alpha: float = 5.0,
                   eps: Annotated[float, POSITIVE] = 1.0) -> Tensor:
        return torch.stack(tensors).mean(0) * alpha

    try:
        assert get_method("test_free_alpha").validate({"alpha": 3.0}) == {"alpha": 3.0}  # no [0, 1] rule here
        with pytest.raises(ValueError, match=r"eps=0.0 is not allowed: it must be > 0"):
            get_method("test_free_alpha").validate({"eps": 0.0})  # the declared one holds
        with pytest.raises(ValueError, match=r"alpha=1.5 is not allowed"):
            get_method("regmean").validate({"alpha": 1.5})  # and RegMean keeps its own
    finally:
        unregister("test_free_alpha")

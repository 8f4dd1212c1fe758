"""``mote analyze landscape`` on a tiny base and two hand-made fine-tunes: the grid at the origin is the base's
own loss and at (1, 0) model A's (each loaded and scored on its own, not through the plane), a model built as
``base + 0.3 tau_A + 0.7 tau_B`` projects to (0.3, 0.7) with nothing off the plane, and Self Positioning's
learned point is marked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch


def _model(base: Path, out: Path, shift: dict[str, torch.Tensor]) -> Path:
    from safetensors.torch import load_file, save_file

    from mote.model.weights import weights_dir

    shutil.copytree(base, out)
    path = weights_dir(out) / "model.safetensors"
    state = load_file(str(path))
    for name, v in shift.items():
        state[name] = state[name] + v
    save_file(state, str(path), metadata={"format": "pt"})
    return out


def _directions(base: Path) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    from safetensors.torch import load_file

    from mote.merge.task_vector import is_mergeable
    from mote.model.weights import weights_dir

    state = load_file(str(weights_dir(base) / "model.safetensors"))
    g = torch.Generator().manual_seed(3)
    names = [n for n, t in state.items() if is_mergeable(n, t)]
    return ({n: 0.05 * torch.randn(state[n].shape, generator=g) for n in names},
            {n: 0.05 * torch.randn(state[n].shape, generator=g) for n in names})


def _probe(path: Path) -> Path:
    rows = [{"anchor": f"question {i} about cats", "positive": f"cats answer {i}", "task": "query"} for i in range(8)]
    rows += [{"anchor": f"stock {i} fell", "positive": f"markets dropped {i}", "task": "similarity"} for i in range(8)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _own_loss(model: Path, probe: Path, task: str) -> float:
    """The model's loss on the task's probe batch, loaded and computed directly (not through the plane)."""
    from mote.merge.probe import batch_loss, load_probe_jsonl
    from mote.model.sentence import load

    st = load(str(model))
    st.train(False)
    rows = [r for r in load_probe_jsonl(probe) if r["task"] == task]
    with torch.no_grad():
        return float(batch_loss(st, rows))


def test_origin_is_the_base_and_corners_are_the_models(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.landscape import landscape

    da, db = _directions(tiny_st_dir)
    a = _model(tiny_st_dir, tmp_path / "a", da)
    b = _model(tiny_st_dir, tmp_path / "b", db)
    mix = _model(tiny_st_dir, tmp_path / "mix", {n: 0.3 * da[n] + 0.7 * db[n] for n in da})
    probe = _probe(tmp_path / "p.jsonl")
    result = landscape(tiny_st_dir, ("query", a), ("similarity", b), probe, tmp_path / "out", low=0.0, high=1.0,
                       points=3, batch_size=8, batches=1, marks={"mix": mix}, self_positioning_steps=3)
    axis = result["axis"]
    assert axis == [0.0, 0.5, 1.0]
    for task in ("query", "similarity"):
        assert result["losses"][task][0][0] == pytest.approx(_own_loss(tiny_st_dir, probe, task), rel=1e-5)
        assert result["losses"][task][0][2] == pytest.approx(_own_loss(a, probe, task), rel=1e-4)  # a=1, b=0
        assert result["losses"][task][2][0] == pytest.approx(_own_loss(b, probe, task), rel=1e-4)  # a=0, b=1
    assert result["total"][0][0] == pytest.approx(1.0)  # each task's loss over its own value at the base
    m = result["marks"]["mix"]
    assert (m["a"], m["b"]) == (pytest.approx(0.3, abs=1e-4), pytest.approx(0.7, abs=1e-4))
    assert m["off_plane_fraction"] < 1e-3
    assert m["own_losses"]["query"] == pytest.approx(_own_loss(mix, probe, "query"), rel=1e-4)
    sp = result["marks"]["self positioning"]
    assert sp["a"] > 0 and sp["b"] > 0 and len(sp["weights"]) == 2
    assert result["marks"]["average"]["a"] == 0.5 and result["marks"]["average"]["outside_grid"] is False
    assert result["marks"]["self positioning"]["outside_grid"] == (max(sp["a"], sp["b"]) > 1.0)
    assert json.loads((tmp_path / "out" / "landscape.json").read_text())["tasks"] == ["query", "similarity"]
    assert (tmp_path / "out" / "landscape.png").stat().st_size > 5000


def test_bad_grids_and_a_mote_base_are_refused(tiny_st_dir: Path, tiny_moe_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.landscape import grid_axis, landscape

    with pytest.raises(ValueError, match="at least 2 points"):
        grid_axis(0, 1, 1)
    probe = _probe(tmp_path / "p.jsonl")
    with pytest.raises(ValueError, match="MoTE model"):
        landscape(tiny_moe_dir, ("a", tiny_st_dir), ("b", tiny_st_dir), probe, tmp_path / "o")
    with pytest.raises(ValueError, match="different labels"):
        landscape(tiny_st_dir, ("a", tiny_st_dir), ("a", tiny_st_dir), probe, tmp_path / "o")


def test_each_point_of_the_plane_is_scored_once(tiny_st_dir: Path, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """On a 3 x 3 grid over [0, 1] the base, the two models and the average are grid points; only task
    arithmetic's (0.4, 0.4) is not: 10 distinct points x 2 tasks x 1 batch = 20 probe passes (counted by hand)."""
    from mote.analyze.landscape import landscape
    from mote.merge import probe as probe_module

    calls = []
    real = probe_module.batch_loss

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(probe_module, "batch_loss", counted)
    da, db = _directions(tiny_st_dir)
    a = _model(tiny_st_dir, tmp_path / "a", da)
    b = _model(tiny_st_dir, tmp_path / "b", db)
    landscape(tiny_st_dir, ("query", a), ("similarity", b), _probe(tmp_path / "p.jsonl"), tmp_path / "out",
              low=0.0, high=1.0, points=3, batch_size=8, batches=1, self_positioning_steps=0)
    assert len(calls) == 20

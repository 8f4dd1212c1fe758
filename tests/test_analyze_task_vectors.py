"""``mote analyze task-vectors`` on models made by hand from a tiny base: ``base + v`` and ``base + 2v`` point the
same way (cosine 1, norms 1:2), an independent random direction is near-orthogonal, and norms that grow as the
square root of the examples give a fitted exponent of 0.5."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch


def _shifted(base: Path, out: Path, direction: dict[str, torch.Tensor], scale: float) -> Path:
    from safetensors.torch import load_file, save_file

    from mote.model.weights import weights_dir

    shutil.copytree(base, out)
    path = weights_dir(out) / "model.safetensors"
    state = load_file(str(path))
    for name, v in direction.items():
        state[name] = state[name] + scale * v
    save_file(state, str(path), metadata={"format": "pt"})
    return out


def _direction(base: Path, seed: int) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    from mote.merge.task_vector import is_mergeable
    from mote.model.weights import weights_dir

    g = torch.Generator().manual_seed(seed)
    state = load_file(str(weights_dir(base) / "model.safetensors"))
    return {n: 0.01 * torch.randn(t.shape, generator=g) for n, t in state.items() if is_mergeable(n, t)}


def test_parallel_vectors_have_cosine_one_and_norms_in_ratio(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.task_vectors import task_vectors

    v, w = _direction(tiny_st_dir, 1), _direction(tiny_st_dir, 2)
    norm_v = math.sqrt(sum(float((t.double() ** 2).sum()) for t in v.values()))
    models = {"query@1": _shifted(tiny_st_dir, tmp_path / "a", v, 1.0),
              "query@4": _shifted(tiny_st_dir, tmp_path / "b", v, 2.0),
              "similarity": _shifted(tiny_st_dir, tmp_path / "c", w, 1.0)}
    result = task_vectors(tiny_st_dir, models, tmp_path / "out", examples={"query@1": 100, "query@4": 400})
    cos = result["cosines"]["all"]
    assert cos[0][1] == pytest.approx(1.0, abs=1e-6)
    assert abs(cos[0][2]) < 0.05  # two random directions in ~10^4 dimensions
    assert result["models"]["query@1"]["norm"] == pytest.approx(norm_v, rel=1e-4)
    assert result["models"]["query@4"]["norm"] == pytest.approx(2 * norm_v, rel=1e-4)
    # norms x1, x2 at 100 and 400 examples: norm ~ examples ** 0.5
    assert result["fit_per_task"]["query"]["exponent"] == pytest.approx(0.5, abs=1e-4)
    assert result["models"]["similarity"]["examples_seen"] is None and "similarity" not in result["fit_per_task"]
    assert "block 0" in result["cosines"] and "embeddings" in result["norms"]
    saved = json.loads((tmp_path / "out" / "task_vectors.json").read_text())
    assert saved["labels"] == ["query@1", "query@4", "similarity"]
    assert (tmp_path / "out" / "task_vectors.png").stat().st_size > 5000


def test_the_base_itself_has_a_zero_vector_and_examples_come_from_the_training_summary(
    tiny_st_dir: Path, tmp_path: Path
) -> None:
    from mote.analyze.task_vectors import examples_seen, power_fit, task_vectors

    final = tmp_path / "run" / "final"
    shutil.copytree(tiny_st_dir, final)
    (tmp_path / "run" / "train_summary.json").write_text(json.dumps({"examples_seen": 4800}))
    assert examples_seen(final) == 4800
    result = task_vectors(tiny_st_dir, {"same": final}, tmp_path / "out")
    assert result["models"]["same"]["norm"] == 0.0 and result["cosines"]["all"] == [[0.0]]
    assert power_fit([10, 10], [1.0, 2.0]) is None  # one budget: nothing to fit
    fit = power_fit([10, 100, 1000], [1.0, 10.0, 100.0])
    assert fit is not None and fit["exponent"] == pytest.approx(1.0) and fit["r2"] == pytest.approx(1.0)


def test_models_of_another_architecture_are_refused(tiny_st_dir: Path, tiny_moe_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.task_vectors import task_vectors
    from mote.merge.task_vector import IncompatibleModelsError

    with pytest.raises(IncompatibleModelsError, match="same base"):
        task_vectors(tiny_st_dir, {"moe": tiny_moe_dir}, tmp_path / "out")

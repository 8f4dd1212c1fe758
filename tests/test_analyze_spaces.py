"""``mote analyze spaces``: linear CKA against an independent reference (the HSIC form with kernel matrices and a
centring matrix), 1 for routes that give the same space (identical experts, no instructions), below 1 once the
experts differ; a dense model's routes are its prompts, or the raw text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest


def _hsic_cka(x: np.ndarray, y: np.ndarray) -> float:
    """CKA as Kornblith et al. write it: HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), K = XX^T, L = YY^T."""
    n = x.shape[0]
    h = np.eye(n) - np.ones((n, n)) / n
    k, l_ = x @ x.T, y @ y.T

    def hsic(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.trace(a @ h @ b @ h)) / (n - 1) ** 2

    return hsic(k, l_) / np.sqrt(hsic(k, k) * hsic(l_, l_))


def test_linear_cka_matches_the_hsic_form_and_ignores_rotation_scale_and_shift() -> None:
    from mote.analyze.spaces import linear_cka

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)), rng.normal(size=(40, 9))
    assert linear_cka(x, y) == pytest.approx(_hsic_cka(x, y), rel=1e-9)
    q, _ = np.linalg.qr(rng.normal(size=(6, 6)))
    assert linear_cka(x, 3.0 * x @ q + 5.0) == pytest.approx(1.0, abs=1e-9)
    assert 0 < linear_cka(x, y) < 0.6
    with pytest.raises(ValueError, match="same examples"):
        linear_cka(x, y[:5])


def _texts(path: Path) -> Path:
    path.write_text("\n".join(f"sentence number {i} about {w}" for i, w in
                              enumerate(["cats", "stocks", "rain", "music", "code", "tea"] * 4)) + "\n")
    return path


def test_identical_experts_without_instructions_give_one_space(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.spaces import spaces
    from mote.model.sentence import upcycle

    same = tmp_path / "same"
    upcycle(str(tiny_st_dir), layers="all", instructions="none").save(str(same))
    result = spaces({"fresh": same}, _texts(tmp_path / "t.txt"), tmp_path / "out")
    m = result["models"]["fresh"]
    assert len(m["routes"]) == 5 and result["n_texts"] == 24
    np.testing.assert_allclose(m["cka"], 1.0, atol=1e-6)
    np.testing.assert_allclose(m["mean_cosine"], 1.0, atol=1e-5)
    assert json.loads((tmp_path / "out" / "spaces.json").read_text())["models"]["fresh"]["routes"] == m["routes"]
    assert (tmp_path / "out" / "spaces.png").stat().st_size > 5000


def test_distinct_experts_give_distinct_spaces_and_dense_routes_are_prompts(
    tiny_moe_dir: Path, tiny_st_dir: Path, tmp_path: Path
) -> None:
    from mote.analyze.spaces import RAW, spaces

    texts = _texts(tmp_path / "t.txt")
    result = spaces({"moe": tiny_moe_dir, "dense": tiny_st_dir}, texts, tmp_path / "out", tasks=None)
    moe = result["models"]["moe"]
    off = ~np.eye(len(moe["routes"]), dtype=bool)
    assert np.array(moe["cka"])[off].max() < 0.999
    np.testing.assert_allclose(np.diag(moe["cka"]), 1.0, atol=1e-6)
    assert result["models"]["dense"]["routes"] == [RAW]  # no prompts: one route, the raw text
    two = spaces({"moe": tiny_moe_dir}, texts, tmp_path / "o2", tasks=["query", "document"])
    assert two["models"]["moe"]["routes"] == ["query", "document"]
    with pytest.raises(ValueError, match="Did you mean \"query\""):
        spaces({"moe": tiny_moe_dir}, texts, tmp_path / "o3", tasks=["querry"])


def test_texts_from_a_probe_and_too_few_texts(tmp_path: Path) -> None:
    from mote.analyze.spaces import read_texts

    probe = tmp_path / "p.jsonl"
    rows = [{"anchor": f"a{i}", "positive": f"p{i}", "task": t} for i in range(3) for t in ("query", "similarity")]
    probe.write_text("".join(json.dumps(r) + "\n" for r in rows))
    assert sorted(read_texts(probe, 100)) == sorted({f"a{i}" for i in range(3)} | {f"p{i}" for i in range(3)})
    assert len(read_texts(probe, 4, seed=1)) == 4
    (tmp_path / "one.txt").write_text("only one\n\n")
    with pytest.raises(ValueError, match="at least 2"):
        read_texts(tmp_path / "one.txt", 10)
    with pytest.raises(FileNotFoundError):
        read_texts(tmp_path / "absent.txt", 10)


def test_the_cli_commands_run_and_say_bad_labels(tiny_moe_dir: Path, tiny_st_dir: Path, tmp_path: Path) -> None:
    """`mote analyze spaces` and `task-vectors` from the command line: output files, one-line errors."""
    from typer.testing import CliRunner

    from mote.cli import app

    runner = CliRunner()
    texts = _texts(tmp_path / "t.txt")
    res = runner.invoke(app, ["analyze", "spaces", f"moe={tiny_moe_dir}", "--texts", str(texts),
                              "--out", str(tmp_path / "s"), "--tasks", "query,document"])
    assert res.exit_code == 0, res.output
    assert "moe: 2 routes, mean CKA between routes" in res.output and (tmp_path / "s" / "spaces.png").is_file()
    res = runner.invoke(app, ["analyze", "spaces", f"m={tiny_moe_dir}", f"m={tiny_st_dir}", "--texts", str(texts)])
    assert res.exit_code != 0 and "given twice" in res.output
    res = runner.invoke(app, ["analyze", "task-vectors", f"same={tiny_st_dir}", "--base", str(tiny_st_dir),
                              "--out", str(tmp_path / "tv"), "--examples", "same=lots"])
    assert res.exit_code != 0 and "whole number" in res.output
    res = runner.invoke(app, ["analyze", "task-vectors", f"same={tiny_st_dir}", "--base", str(tiny_st_dir),
                              "--out", str(tmp_path / "tv"), "--examples", "same=100"])
    assert res.exit_code == 0, res.output
    assert "same: norm 0.0000, examples seen 100" in res.output

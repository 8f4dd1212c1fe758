"""benchmarks/expert_spread.py on a tiny model: zero right after up-cycling, and the spread it reports for
experts moved by hand equals a naive computation over the state dict."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import load_benchmark
from mote.model.sentence import mote_model, save, upcycle


@pytest.fixture(scope="module")
def expert_spread():
    return load_benchmark("expert_spread")


def test_upcycled_experts_have_not_moved(expert_spread, tiny_st_dir: Path, tmp_path: Path) -> None:
    upcycle(tiny_st_dir, ["query", "similarity"], layers="all", instructions="none", out=tmp_path / "m")
    row = expert_spread.spread(str(tmp_path / "m"))
    assert row["expert_spread_pct"] == pytest.approx(0.0, abs=1e-9)
    assert row["expert_mean_drift_pct"] == pytest.approx(0.0, abs=1e-9)
    assert row["shared_drift_pct"] == pytest.approx(0.0, abs=1e-9)


def test_spread_of_experts_moved_by_hand(expert_spread, tiny_st_dir: Path, tmp_path: Path) -> None:
    st = upcycle(tiny_st_dir, ["query", "similarity"], layers="all", instructions="none")
    moe = mote_model(st)
    base_sq = moved_sq = 0.0
    with torch.no_grad():
        for name, p in moe.backbone.named_parameters():
            if ".experts.0." in name:  # expert 0 + 0.01, expert 1 - 0.01: mean unchanged, each 0.01 away from it
                p.add_(0.01)
                base_sq += float((p - 0.01).pow(2).sum())
                moved_sq += 0.01**2 * p.numel()
            elif ".experts.1." in name:
                p.sub_(0.01)
    save(st, tmp_path / "moved")
    row = expert_spread.spread(str(tmp_path / "moved"))
    assert row["expert_spread_pct"] == pytest.approx(100 * math.sqrt(moved_sq / base_sq), rel=1e-4)
    assert row["expert_mean_drift_pct"] == pytest.approx(0.0, abs=1e-4)

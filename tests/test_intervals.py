"""The report's intervals: which runs and tasks enter, which rival each mean is taken against."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mote.pipeline.intervals import compare, load_sides, markdown


def _eval_dir(root: Path, name: str, records: dict[str, list[float]], without: dict[str, str] | None = None) -> Path:
    folder = root / name
    (folder / "items").mkdir(parents=True)
    for task, values in records.items():
        rec = {"kind": "mean", "ids": [f"q{i}" for i in range(len(values))], "values": values}
        (folder / "items" / f"{task}.json").write_text(json.dumps(rec))
    (folder / "summary.json").write_text(json.dumps({"items": {"without": without or {}}}))
    return folder


def test_a_task_without_records_is_left_out_with_its_reason_not_every_interval(tmp_path: Path) -> None:
    dirs = {
        ("base", 42): _eval_dir(tmp_path, "b", {"STS12": [1.0, 2.0, 3.0], "MRPC": [5.0, 6.0]}),
        ("mote", 42): _eval_dir(tmp_path, "m", {"STS12": [2.0, 3.0, 4.0]}, {"MRPC": "no per-item form"}),
        ("old", 42): tmp_path / "never-recorded",  # evaluated before records existed: left out whole
    }
    sides, common, left_out = load_sides(dirs, ["STS12", "MRPC"])
    assert common == ["STS12"] and left_out == {"MRPC": "no per-item form"}
    assert set(sides) == {"base", "mote"} and list(sides["mote"][0]) == ["STS12"]
    result = compare(sides, common, {"STS12": "STS"}, {"STS12": "in-domain"}, "base", {})
    iv = result["variants"]["mote"]["base"]["means"]["all tasks"]
    assert iv["delta"] == pytest.approx(1.0) and iv["low"] == pytest.approx(1.0) and iv["resolved"]
    text = markdown(result, "base", left_out)
    assert "Tasks without intervals (no per-item record for every run):\n- MRPC: no per-item form" in text


def test_each_mean_is_compared_with_its_own_best_dense_rival(tmp_path: Path) -> None:
    values = {"joint-instr": ([10.0] * 4, [5.0] * 4), "joint-noinstr": ([8.0] * 4, [7.0] * 4),
              "mote": ([11.0] * 4, [7.5] * 4), "base": ([6.0] * 4, [6.0] * 4)}
    dirs = {(v, 42): _eval_dir(tmp_path, v, {"STS12": a, "MRPC": b}) for v, (a, b) in values.items()}
    sides, common, _ = load_sides(dirs, ["STS12", "MRPC"])
    rivals = {"all tasks": "joint-instr", "in-domain": "joint-instr", "unseen": "joint-noinstr"}
    result = compare(sides, common, {"STS12": "STS", "MRPC": "PairClassification"},
                     {"STS12": "in-domain", "MRPC": "unseen"}, "joint-instr", rivals, n=50)
    best = result["variants"]["mote"]["best dense"]["means"]
    assert (best["in-domain"]["against"], best["in-domain"]["delta"]) == ("joint-instr", pytest.approx(1.0))
    assert (best["unseen"]["against"], best["unseen"]["delta"]) == ("joint-noinstr", pytest.approx(0.5))
    assert best["all tasks"]["delta"] == pytest.approx((1.0 + 2.5) / 2)  # (11-10 + 7.5-5) / 2 types
    per_task = result["variants"]["mote"]["baseline"]["tasks"]
    assert per_task["MRPC"]["delta"] == pytest.approx(2.5) and per_task["MRPC"]["against"] == "joint-instr"
    text = markdown(result, "joint-instr")
    assert "**Per task, Δ vs joint-instr** (the best dense rival on all tasks)" in text
    assert "| MRPC |" in text and "+2.50 [+2.50, +2.50] ✓" in text


def test_each_mote_variant_is_compared_with_its_dense_counterpart(tmp_path: Path) -> None:
    # what the experts add with everything else equal: MoTE with instructions vs joint-instr, MoTE without
    # them vs joint-noinstr (hand-made constant scores: the differences are exact; all tasks = mean over the
    # two types, (+1 - 1) / 2 = 0 for mote-noinstr)
    values = {"joint-instr": ([10.0] * 4, [5.0] * 4), "joint-noinstr": ([8.0] * 4, [7.0] * 4),
              "mote": ([11.0] * 4, [7.5] * 4), "mote-noinstr": ([9.0] * 4, [6.0] * 4),
              "base": ([6.0] * 4, [6.0] * 4)}
    dirs = {(v, 42): _eval_dir(tmp_path, v, {"STS12": a, "MRPC": b}) for v, (a, b) in values.items()}
    sides, common, _ = load_sides(dirs, ["STS12", "MRPC"])
    result = compare(sides, common, {"STS12": "STS", "MRPC": "PairClassification"},
                     {"STS12": "in-domain", "MRPC": "unseen"}, "joint-instr", {}, n=50,
                     counterparts={"mote": "joint-instr", "mote-noinstr": "joint-noinstr",
                                   "base": "joint-ratio"})  # a counterpart this run lacks: said, not dropped
    mote = result["variants"]["mote"]["counterpart"]["means"]
    assert (mote["in-domain"]["against"], mote["in-domain"]["delta"]) == ("joint-instr", pytest.approx(1.0))
    assert mote["unseen"]["delta"] == pytest.approx(2.5)
    noinstr = result["variants"]["mote-noinstr"]["counterpart"]["means"]
    assert (noinstr["in-domain"]["against"], noinstr["in-domain"]["delta"]) == ("joint-noinstr", pytest.approx(1.0))
    assert noinstr["unseen"]["delta"] == pytest.approx(-1.0) and noinstr["unseen"]["resolved"]
    assert result["variants"]["base"]["counterpart"]["means"] == {}
    text = markdown(result, "joint-instr")
    assert "**Δ vs the dense counterpart** (the same training and instructions without experts)" in text
    assert "| mote-noinstr | joint-noinstr | 1 | +0.00 [+0.00, +0.00] | +1.00 [+1.00, +1.00] ✓ | -1.00 [-1.00, -1.00] ✓ |" in text
    assert "| base |" not in text.split("Δ vs the dense counterpart")[1].split("**")[1]
    assert "Not compared with their dense counterpart (not in this run): base (joint-ratio)." in text


def test_the_variants_name_their_dense_counterparts() -> None:
    from mote.pipeline.variants import all_variants

    known = all_variants()
    pairs = {v.name: v.counterpart for v in known.values() if v.counterpart}
    # mote-static has none: no dense variant trains with its one static setting for every task
    assert pairs == {"mote": "joint-instr", "mote-noinstr": "joint-noinstr", "mote-all": "joint-noinstr",
                     "mote-frozen": "joint-noinstr", "mote-temperature": "joint-temperature"}
    for name, dense in pairs.items():  # the counterpart trains with the same instructions and the same data
        assert bool(known[name].train["model"]["instructions"] != "none") == bool(
            known[dense].train["model"]["instructions"])
        assert known[name].train.get("data") == known[dense].train.get("data")


def test_mote_trains_with_the_best_rivals_sampling() -> None:
    # at 4x the best dense rival is joint-temperature: its edge over joint-instr is the temperature resampling,
    # which MoTE without it cannot show; mote-temperature is MoTE (instructions, task-aware) with that sampling
    from mote.pipeline.variants import all_variants

    known = all_variants()
    v = known["mote-temperature"]
    assert v.kind == "train" and v.counterpart == "joint-temperature"
    assert v.train == {"model": {"mode": "mote", "instructions": "mote"}, "data": {"sampling": "temperature"}}

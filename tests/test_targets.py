"""The report's targets, checked on a hand-made set of split means (values worked out by hand)."""

from __future__ import annotations

import pytest

from mote.pipeline.targets import check_targets, markdown

MEANS = {
    "base": {"in-domain": 65.0, "unseen": 60.0},
    "joint-instr": {"in-domain": 70.0, "unseen": 60.0},
    "joint-noinstr": {"in-domain": 71.0, "unseen": 59.0},
    "mote": {"in-domain": 72.5, "unseen": 60.5},
    "mote-ea": {"in-domain": 71.9, "unseen": 60.2},
    "separate-sp": {"in-domain": 70.5, "unseen": 59.5},
}
SOURCES = {"mote-ea": "mote", "separate-sp": "separate", "mote": None}


def _row(rows: list[dict], target: str, variant: str) -> dict:
    (row,) = [r for r in rows if r["target"].startswith(target) and r["variant"] == variant]
    return row


def test_targets_by_hand() -> None:
    rows = check_targets(MEANS, SOURCES)
    # the best dense rival differs per mean: joint-noinstr in-domain (71.0), joint-instr unseen (60.0)
    mote_in = _row(rows, "MoTE >= best dense + 1.0 (in-domain)", "mote")
    assert (mote_in["against"], mote_in["value"], mote_in["met"]) == ("joint-noinstr", pytest.approx(1.5), True)
    mote_un = _row(rows, "MoTE >= best dense + 1.0 (unseen)", "mote")
    assert (mote_un["against"], mote_un["value"], mote_un["met"]) == ("joint-instr", pytest.approx(0.5), False)
    # folded: (71.9 - 71) / (72.5 - 71) = 0.6 in-domain, (60.2 - 60) / (60.5 - 60) = 0.4 unseen
    assert _row(rows, "folded keeps >= 70% of MoTE's gain (in-domain)", "mote-ea")["value"] == pytest.approx(0.6)
    assert _row(rows, "folded keeps >= 70% of MoTE's gain (unseen)", "mote-ea")["value"] == pytest.approx(0.4)
    sp = _row(rows, "Self Positioning >= joint + 1.0 (in-domain)", "separate-sp")
    assert (sp["value"], sp["met"]) == (pytest.approx(-0.5), False)
    # not below the base on unseen: joint-noinstr -1.0 (no), joint-instr 0.0 (yes), mote +0.5 (yes)
    below = {r["variant"]: (round(r["value"], 6), r["met"]) for r in rows if r["target"].startswith("not below")}
    assert below == {"joint-instr": (0.0, True), "joint-noinstr": (-1.0, False), "mote": (0.5, True),
                     "mote-ea": (0.2, True), "separate-sp": (-0.5, False)}
    text = markdown(rows)
    assert "| MoTE >= best dense + 1.0 (unseen) | mote | joint-instr | +0.50 | no |" in text
    assert "| folded keeps >= 70% of MoTE's gain (in-domain) | mote-ea | mote vs joint-noinstr | 60% | no |" in text


def test_folded_without_a_gain_says_so() -> None:
    means = {"joint-instr": {"in-domain": 72.0}, "mote": {"in-domain": 71.0}, "mote-ea": {"in-domain": 71.5}}
    (row,) = [r for r in check_targets(means, {"mote-ea": "mote"}) if r["target"].startswith("folded")]
    assert row["value"] is None and row["met"] is False and "no gain over joint-instr here (-1.00)" in row["note"]


def test_folded_row_states_the_gain_it_is_a_share_of() -> None:
    # a share of a tiny gain is unreadable alone (-1029 % of +0.06 in the 1x report): the row says the gain
    means = {"joint-noinstr": {"in-domain": 71.50}, "mote": {"in-domain": 71.56}, "mote-ea": {"in-domain": 70.88}}
    (row,) = [r for r in check_targets(means, {"mote-ea": "mote"}) if r["target"].startswith("folded")]
    assert row["value"] == pytest.approx((70.88 - 71.50) / 0.06)
    assert "| -1033% | no | of mote's gain +0.06 over joint-noinstr |" in markdown([row])


def test_every_trained_mote_variant_is_held_to_the_mote_target() -> None:
    # mote-temperature (MoTE with the rival's sampling) is a MoTE model like the others: its row must be there,
    # and a model folded from it is a folded MoTE (hand values: 75.5 - 74.5 = +1.0 in-domain, met)
    means = {"joint-temperature": {"in-domain": 74.5}, "mote-temperature": {"in-domain": 75.5},
             "folded": {"in-domain": 75.2}}
    rows = check_targets(means, {"folded": "mote-temperature"})
    row = _row(rows, "MoTE >= best dense + 1.0 (in-domain)", "mote-temperature")
    assert (row["against"], row["value"], row["met"]) == ("joint-temperature", pytest.approx(1.0), True)
    assert _row(rows, "folded keeps >= 70% of MoTE's gain (in-domain)", "folded")["value"] == pytest.approx(0.7)

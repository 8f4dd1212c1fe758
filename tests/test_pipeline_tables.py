"""benchmarks/pipeline_tables.py, the script the README's experiment tables come from, on a hand-made report."""

from __future__ import annotations

from conftest import load_benchmark

tables = load_benchmark("pipeline_tables")


def _iv(against: str, delta: float, low: float, high: float) -> dict:
    return {"against": against, "delta": delta, "low": low, "high": high, "resolved": low > 0 or high < 0}


REPORT = {
    "split_means": {
        "base": {"in-domain": 68.0, "unseen": 65.0},
        "joint-noinstr": {"in-domain": 71.0, "unseen": 66.0},
        "joint-temperature": {"in-domain": 71.5, "unseen": 65.5},
        "mote": {"in-domain": 72.0, "unseen": 65.8},
        "mote-noinstr": {"in-domain": 71.2, "unseen": 66.5},
        "mote-ea": {"in-domain": 70.0, "unseen": 65.1},
    },
    "intervals": {"rivals": {"in-domain": "joint-temperature", "unseen": "joint-noinstr"}, "variants": {
        "mote": {"best dense": {"means": {"in-domain": _iv("joint-temperature", 0.5, 0.1, 0.9),
                                          "unseen": _iv("joint-noinstr", -0.2, -0.9, 0.5)}}},
        "mote-noinstr": {"best dense": {"means": {"in-domain": _iv("joint-temperature", -0.3, -1.0, 0.4),
                                                  "unseen": _iv("joint-noinstr", 0.5, -0.1, 1.1)}}},
        "mote-ea": {"best dense": {"means": {"in-domain": _iv("joint-temperature", -1.5, -2.0, -1.0),
                                             "unseen": _iv("joint-noinstr", -0.9, -1.5, -0.3)}}},
    }},
}


def test_budget_table_names_the_best_of_each_family_with_its_interval() -> None:
    text = tables.budget_table({"1x": REPORT})
    # in-domain: best dense joint-temperature 71.5, best MoTE mote (+0.50, resolved), best folded mote-ea (-1.50)
    assert "| 1x | in-domain | joint-temperature 71.50 | mote | +0.50 [+0.10, +0.90] ✓ | mote-ea | -1.50 [-2.00, -1.00] ✓ |" in text
    # unseen: best dense joint-noinstr 66.0, best MoTE mote-noinstr (+0.50, not resolved)
    assert "| 1x | unseen | joint-noinstr 66.00 | mote-noinstr | +0.50 [-0.10, +1.10] | mote-ea | -0.90 [-1.50, -0.30] ✓ |" in text


def test_budget_table_without_intervals_gives_the_plain_gap() -> None:
    report = {"split_means": REPORT["split_means"]}
    assert "| 2x | unseen | joint-noinstr 66.00 | mote-noinstr | +0.50 | mote-ea | -0.90 |" in tables.budget_table({"2x": report})


def test_counterpart_table_gives_what_the_experts_add_per_budget() -> None:
    one = {"split_means": REPORT["split_means"], "intervals": {"variants": {
        "mote": {"counterpart": {"means": {"in-domain": _iv("joint-instr", 0.3, -0.1, 0.7),
                                           "unseen": _iv("joint-instr", 0.4, 0.1, 0.7)}}},
        "mote-noinstr": {"counterpart": {"means": {"in-domain": _iv("joint-noinstr", 0.2, -0.5, 0.9)}}},
    }}}
    four = {"split_means": {}, "intervals": {"variants": {
        "mote-noinstr": {"counterpart": {"means": {"in-domain": _iv("joint-noinstr", 1.9, 1.0, 2.8),
                                                   "unseen": _iv("joint-noinstr", 1.1, 0.3, 1.9)}}},
    }}}
    text = tables.counterpart_table({"1x": one, "4x": four})
    assert "| variant | counterpart | 1x in-domain | 1x unseen | 4x in-domain | 4x unseen |" in text
    assert "| mote | joint-instr | +0.30 [-0.10, +0.70] | +0.40 [+0.10, +0.70] ✓ | – | – |" in text
    assert "| mote-noinstr | joint-noinstr | +0.20 [-0.50, +0.90] | – | +1.90 [+1.00, +2.80] ✓ | +1.10 [+0.30, +1.90] ✓ |" in text


def test_counterpart_table_of_reports_without_the_comparison_says_so() -> None:
    text = tables.counterpart_table({"1x": {"split_means": REPORT["split_means"]}})
    assert text.startswith("No MoTE variant with its dense counterpart in these reports")

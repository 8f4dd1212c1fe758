"""The summaries of the benchmark scripts on hand-made measurements: export_speed.py's verdict (mote's fastest
export over the fastest plain runtime) and serve_load.py's rounds (the ratio of each server run to the in-process
rate timed right after it)."""

from __future__ import annotations

import pytest

from conftest import load_benchmark

bench = load_benchmark("export_speed")
serve_load = load_benchmark("serve_load")


def _row(texts_per_s: float, mean_cosine: float) -> dict:
    return {"texts_per_s": texts_per_s, "mean_cosine": mean_cosine}


def test_the_verdict_compares_the_fastest_faithful_paths_of_each_side() -> None:
    rows = {
        "sentence-transformers fp32": _row(100.0, 1.0),        # neither side
        "export onnx fp32": _row(200.0, 1.0),
        "export onnx int8": _row(500.0, 0.985),                 # fastest export, below the 0.99 bar: left out
        "export openvino auto": _row(300.0, 0.99999),
        "plain onnxruntime fp32": _row(180.0, 1.0),
        "plain onnxruntime int8": _row(450.0, 0.96),            # fastest plain, below the bar: left out
        "plain openvino": _row(240.0, 0.99999),
    }
    assert bench.verdict(rows) == {"best_export": "export openvino auto", "best_plain": "plain openvino",
                                   "ratio": 1.25}  # 300 / 240


def test_no_verdict_without_a_faithful_path_on_both_sides() -> None:
    assert bench.verdict({"export onnx fp32": _row(200.0, 1.0), "plain onnxruntime int8": _row(450.0, 0.9)}) == {}


def test_the_markdown_states_the_ratio_and_the_bar(monkeypatch: pytest.MonkeyPatch) -> None:
    result = {"machine": {}, "model": "m", "n_texts": 8, "batch_size": 4, "repeats": 1,
              "rows": {"export onnx fp32": _row(200.0, 1.0) | {"speedup_vs_st_fp32": 2.0, "min_cosine": 1.0,
                                                                  "stsb_spearman": None}},
              "mote_vs_plain": {"best_export": "export onnx fp32", "best_plain": "plain openvino", "ratio": 0.83}}
    monkeypatch.setattr(bench, "machine_line", lambda machine: "machine")
    text = bench.to_markdown(result)
    assert "**0.83x**" in text and "AVX2-only" in text


def test_serve_load_takes_the_median_of_the_ratios_of_each_round() -> None:
    def run(rate: float, errors: int = 0) -> dict:
        return {"clients": 50, "sentences_per_request": 1, "requests": 400, "requests_per_s": rate,
                "sentences_per_s": rate, "p50_ms": 1000 / rate, "p99_ms": 2000 / rate, "errors": errors,
                "error_kinds": {"HTTP 500": errors} if errors else {}, "_bodies": {}, "_responses": {}}

    # the machine slows in round 2: the server alone would look 25 % slower, its ratio does not move much
    rounds = [(run(120.0), 150.0), (run(90.0), 100.0), (run(130.0, errors=1), 160.0)]
    row = serve_load.summarise(rounds)
    assert row["ratios_to_in_process"] == [0.8, 0.9, 0.81]  # 120/150, 90/100, 130/160
    assert row["ratio_to_in_process"] == 0.81 and row["sentences_per_s"] == 120.0
    assert row["in_process_sentences_per_s"] == 150.0 and row["errors"] == 1 and row["rounds"] == 3
    assert row["error_kinds"] == {"HTTP 500": 1}

"""benchmarks/export_speed.py's verdict (mote's fastest export over the fastest plain runtime) on hand-made rows."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "export_speed.py"
sys.path.insert(0, str(SCRIPT.parent))
spec = importlib.util.spec_from_file_location("export_speed", SCRIPT)
assert spec and spec.loader
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)


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


def test_the_markdown_states_the_ratio_and_the_bar() -> None:
    result = {"machine": {}, "model": "m", "n_texts": 8, "batch_size": 4, "repeats": 1,
              "rows": {"export onnx fp32": _row(200.0, 1.0) | {"speedup_vs_st_fp32": 2.0, "min_cosine": 1.0,
                                                                  "stsb_spearman": None}},
              "mote_vs_plain": {"best_export": "export onnx fp32", "best_plain": "plain openvino", "ratio": 0.83}}
    bench.machine_line = lambda machine: "machine"
    text = bench.to_markdown(result)
    assert "**0.83x**" in text and "AVX2-only" in text

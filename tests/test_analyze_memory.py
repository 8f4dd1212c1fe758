"""``mote analyze memory`` on a tiny model: stored parameters grow linearly in tasks, by exactly one FFN per
up-cycled block per extra task (reference: the FFN's size from the model config, by hand); active parameters
stay the dense model's; files are written."""

from __future__ import annotations

import json
from pathlib import Path

from transformers import AutoConfig


def test_memory_grows_linearly_in_tasks_by_one_ffn_per_block(tiny_st_dir: Path, tmp_path: Path) -> None:
    import tempfile

    from mote.analyze.memory import memory

    before = set(Path(tempfile.gettempdir()).glob("mote-memory-*"))
    result = memory(str(tiny_st_dir), tmp_path / "out", max_tasks=3, patterns=["all", "top-1"], measure_peak=False)
    assert set(Path(tempfile.gettempdir()).glob("mote-memory-*")) == before  # the up-cycled copies are removed
    cfg = AutoConfig.from_pretrained(str(tiny_st_dir))
    h, i = cfg.hidden_size, cfg.intermediate_size
    ffn = (h * i + i) + (i * h + h)  # BERT: intermediate.dense and output.dense, weights and biases
    dense = result["dense"]["params"]
    for row in result["rows"]:
        blocks = cfg.num_hidden_layers if row["pattern"] == "all" else 1
        assert row["upcycled_blocks"] == blocks
        assert row["params"] == dense + (row["tasks"] - 1) * ffn * blocks, row
        assert row["active_params"] == dense
    sizes = [r["weights_mib"] for r in result["rows"] if r["pattern"] == "all"]
    assert sizes[0] < sizes[1] < sizes[2] and abs((sizes[2] - sizes[1]) - (sizes[1] - sizes[0])) < 0.01
    assert (tmp_path / "out" / "memory.png").stat().st_size > 5000
    assert json.loads((tmp_path / "out" / "memory.json").read_text())["rows"] == result["rows"]


def test_peak_memory_is_measured_in_a_fresh_process(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.memory import memory

    ballast = bytearray(2 * 2**30)  # this process grows by 2 GiB: the child's peak must not include it
    ballast[:: 2**20] = b"x" * len(ballast[:: 2**20])  # touched, so resident
    result = memory(str(tiny_st_dir), tmp_path / "out", max_tasks=1, patterns=["all"])
    del ballast
    assert 50 < result["dense"]["peak_encode_mib"] < 1500  # a Python process with torch and a tiny model
    assert 0.8 < result["rows"][0]["peak_encode_mib_x_dense"] < 1.25  # one task: the dense model again

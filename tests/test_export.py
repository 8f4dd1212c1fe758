"""``mote export``: per-task graphs of a MoTE model, one graph of a dense (averaged, merged) model; the exported
folder encodes, through mote's runtime, what PyTorch encodes for each task (reference: the PyTorch model's own
``encode``, independent of the export code), within the thresholds the export writes into its metadata."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from mote.model.sentence import average, encode, load

pytestmark = pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="needs onnxruntime")

TEXTS = ["a cat sat on the mat", "how do I reset my PIN?", "stocks fell sharply on Tuesday", "ok",
         "the enzyme regulates the cell cycle of yeast " * 5]


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1))


@pytest.fixture(scope="module")
def moe_dir(tiny_moe_dir: Path) -> Path:
    return tiny_moe_dir


def test_a_mote_model_exports_one_graph_per_task_and_each_encodes_as_pytorch(moe_dir: Path, tmp_path: Path) -> None:
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel

    out = export(moe_dir, tmp_path / "onnx", tasks=["query", "similarity"])
    meta = json.loads((out / "mote_export.json").read_text())
    assert sorted(meta["graphs"]) == ["query", "similarity"] and meta["kind"] == "mote"
    assert all(c["min_cosine"] >= 0.9999 for c in meta["checks"].values()), meta["checks"]
    st = load(str(moe_dir))
    runtime = ExportedModel(out)
    for task in ("query", "similarity"):
        ref = encode(st, TEXTS, task=task)
        got = runtime.encode(TEXTS, task=task)
        assert got.shape == ref.shape and _cos(ref, got).min() >= 0.9999, task
    # the routes differ: a graph traced once would have frozen one task's expert for all
    q, s = runtime.encode(TEXTS, task="query"), runtime.encode(TEXTS, task="similarity")
    assert _cos(q, s).min() < 0.999
    with pytest.raises(ValueError, match=r"Unknown task 'classification'.*query"):
        runtime.encode(TEXTS, task="classification")  # not exported


def test_expert_averaged_and_merged_models_export_as_one_graph(moe_dir: Path, tmp_path: Path) -> None:
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel

    ea = average(load(str(moe_dir)), out=tmp_path / "ea")
    out = export(tmp_path / "ea", tmp_path / "ea-onnx")
    meta = json.loads((out / "mote_export.json").read_text())
    assert list(meta["graphs"]) == ["default"] and meta["kind"] == "dense"
    runtime = ExportedModel(out)
    assert "default" in runtime.task_names and len(runtime.task_names) > 1
    for task in runtime.task_names:  # a dense model's tasks are its prompts (and "default": the raw text), one graph
        ref = encode(ea, TEXTS, task=None if task == "default" else task)
        assert _cos(ref, runtime.encode(TEXTS, task=task)).min() >= 0.9999, task
    assert _cos(encode(ea, TEXTS), runtime.encode(TEXTS)).min() >= 0.9999  # no task: the raw text on both sides


def test_merged_model_exports(tiny_st_dir: Path, tmp_path: Path) -> None:
    from conftest import perturbed_copy
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel
    from mote.merge.config import MergeConfig
    from mote.merge.run import run_merge

    a, b = perturbed_copy(tiny_st_dir, tmp_path / "a", 1), perturbed_copy(tiny_st_dir, tmp_path / "b", 2)
    merged = run_merge(MergeConfig(base=str(tiny_st_dir), models=[str(a), str(b)], method="ties",
                                   out=str(tmp_path / "merged")))
    out = export(merged, tmp_path / "merged-onnx")
    ref = SentenceTransformer(str(merged), device="cpu").encode(TEXTS)
    assert _cos(ref, ExportedModel(out).encode(TEXTS)).min() >= 0.9999


def test_openvino_export_matches_pytorch(moe_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("openvino")
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel

    out = export(moe_dir, tmp_path / "ov", format="openvino", tasks=["document"])
    assert (out / "document" / "openvino_model.xml").is_file()
    ref = encode(load(str(moe_dir)), TEXTS, task="document")
    assert _cos(ref, ExportedModel(out, precision="fp32").encode(TEXTS, task="document")).min() >= 0.9999


def test_bad_requests_are_refused_before_anything_is_written(moe_dir: Path, tmp_path: Path) -> None:
    from mote.deploy.export import export

    with pytest.raises(ValueError, match=r"Unknown export format 'onx'.*onnx"):
        export(moe_dir, tmp_path / "x", format="onx")
    with pytest.raises(ValueError, match="--format onnx"):
        export(moe_dir, tmp_path / "x", format="openvino", quantize="int8")
    with pytest.raises(ValueError, match=r"Unknown task 'querry'.*[Dd]id you mean.*query"):
        export(moe_dir, tmp_path / "x", tasks=["querry"])
    assert not (tmp_path / "x").exists()


def test_norms_follow_the_model_and_a_single_exported_task_is_not_a_default(moe_dir: Path, tmp_path: Path) -> None:
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel

    out = export(moe_dir, tmp_path / "q", tasks=["query"])
    runtime = ExportedModel(out)
    ref = encode(load(str(moe_dir)), TEXTS, task="query")  # normalised or not, as the model's modules say
    np.testing.assert_allclose(np.linalg.norm(runtime.encode(TEXTS, task="query"), axis=1),
                               np.linalg.norm(ref, axis=1), rtol=1e-3)
    with pytest.raises(ValueError, match="No task given"):  # PyTorch refuses too: this MoTE has no default task
        runtime.encode(TEXTS)


def test_a_graph_that_misses_its_threshold_is_refused_and_nothing_is_written(
    moe_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mote.deploy import export as export_module

    monkeypatch.setitem(export_module.THRESHOLDS, None, ("min_cosine", 1.01))  # unreachable
    with pytest.raises(export_module.ExportCheckError, match=r"min_cosine .*\(threshold 1.01\)"):
        export_module.export(moe_dir, tmp_path / "refused", tasks=["query"])
    assert not (tmp_path / "refused").exists() and not list(tmp_path.glob(".refused*"))


def test_int8_export_of_the_packaged_model_keeps_its_mean_cosine(minilm_dir: Path, tmp_path: Path) -> None:
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel

    out = export(minilm_dir, tmp_path / "int8", quantize="int8")
    meta = json.loads((out / "mote_export.json").read_text())
    assert meta["checks"]["default"]["mean_cosine"] >= 0.99 and meta["checks"]["default"]["precision"] == "int8"
    ref = SentenceTransformer(str(minilm_dir), device="cpu").encode(TEXTS)
    assert _cos(ref, ExportedModel(out).encode(TEXTS)).mean() >= 0.98


def test_cli_exports_and_reports_bad_input_without_a_traceback(moe_dir: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from mote.cli import app

    runner = CliRunner()
    ok = runner.invoke(app, ["export", str(moe_dir), "--out", str(tmp_path / "cli"), "--tasks", "query,document"])
    assert ok.exit_code == 0, ok.output
    assert "query: graph query, min cosine vs PyTorch" in ok.output and (tmp_path / "cli" / "document").is_dir()
    bad = runner.invoke(app, ["export", str(moe_dir), "--out", str(tmp_path / "x"), "--format", "tflite"])
    assert bad.exit_code != 0 and "Traceback" not in bad.output and "tflite" in bad.output


def test_openvino_parallel_requests_keep_the_input_order_and_concurrent_calls(moe_dir: Path, tmp_path: Path) -> None:
    """The batches of one call run on parallel infer requests: the rows must come back in the input order (the
    reference: each text encoded alone, one request each), also when several threads call at once."""
    pytest.importorskip("openvino")
    from concurrent.futures import ThreadPoolExecutor

    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel
    from mote.runtime import available_cores

    out = export(moe_dir, tmp_path / "ov", format="openvino", tasks=["document"])
    model = ExportedModel(out, precision="fp32")
    runner = model._runners["document"]
    if available_cores() >= 2:  # the cores this process may run on (a pinned run has one stream)
        assert runner.parallel >= 2, "the throughput hint should give one infer request per stream"
    texts = [f"{w} " * (1 + (7 * i) % 13) + str(i) for i, w in enumerate(["cat", "stock", "enzyme", "pin"] * 10)]
    alone = np.stack([model.encode([t], task="document")[0] for t in texts])
    together = model.encode(texts, task="document", batch_size=4)  # 10 batches over the requests
    assert _cos(alone, together).min() >= 0.99999
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda k: model.encode(texts[k:] + texts[:k], task="document", batch_size=3), range(4)))
    for k, got in enumerate(runs):
        assert _cos(np.roll(alone, -k, axis=0), got).min() >= 0.99999


def test_openvino_call_that_fails_leaves_the_next_call_working(moe_dir: Path, tmp_path: Path) -> None:
    """A text that cannot be tokenised fails its call (with the tokenizer's error) after earlier batches were sent
    to the requests; the next call must still encode, equal to a fresh model's (the reference)."""
    pytest.importorskip("openvino")
    from mote.deploy.export import export
    from mote.deploy.runtime import ExportedModel

    out = export(moe_dir, tmp_path / "ov", format="openvino", tasks=["document"])
    model = ExportedModel(out, precision="fp32", hint="latency")
    assert model._runners["document"].parallel == 1  # one request on all cores
    model = ExportedModel(out, precision="fp32")

    class Unreadable:  # sorts as the shortest text (tokenised last), then fails when its batch is built
        def __len__(self) -> int:
            return 0

    bad = [f"sentence number {i} " * (20 - i) for i in range(16)] + [Unreadable()]
    with pytest.raises(TypeError):
        model.encode(bad, task="document", batch_size=2)  # type: ignore[list-item]
    got = model.encode(TEXTS, task="document")
    fresh = ExportedModel(out, precision="fp32").encode(TEXTS, task="document")
    assert _cos(fresh, got).min() >= 0.99999
    with pytest.raises(ValueError, match="throughput"):
        ExportedModel(out, hint="fast")


def test_openvino_cls_pooled_rows_do_not_share_the_request_buffer(moe_dir: Path, tmp_path: Path) -> None:
    """CLS pooling takes one token of the graph's output; with one infer request (latency hint) every batch
    reuses the request's output buffer, so a row kept as a view of it would be overwritten by the next batch.
    Reference: each text encoded alone."""
    pytest.importorskip("openvino")
    from mote.deploy.export import export
    from mote.deploy.runtime import METADATA, ExportedModel

    out = export(moe_dir, tmp_path / "ov", format="openvino", tasks=["document"])
    meta = json.loads((out / METADATA).read_text())
    (out / METADATA).write_text(json.dumps({**meta, "pooling": "cls"}))
    model = ExportedModel(out, precision="fp32", hint="latency")
    texts = [f"text {i} " + "word " * (i % 5) for i in range(12)]
    alone = np.stack([model.encode([t], task="document")[0] for t in texts])
    assert _cos(alone, model.encode(texts, task="document", batch_size=3)).min() >= 0.99999

"""The CLI end to end on a tiny model: upcycle -> info -> encode -> average."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from mote.cli import app

runner = CliRunner()


def test_cli_roundtrip(tiny_st_dir: Path, tmp_path: Path) -> None:
    m, d = tmp_path / "m", tmp_path / "d"
    res = runner.invoke(app, ["upcycle", "--base", str(tiny_st_dir), "--out", str(m), "--instructions", "mote"])
    assert res.exit_code == 0, res.output
    assert "(instructions: mote)" in res.output
    assert "5: query, document, similarity, classification, clustering" in res.output
    assert "2 of 4: [1, 3]" in res.output

    res = runner.invoke(app, ["info", str(m), "--json"])
    report = json.loads(res.stdout)
    dense = SentenceTransformer(str(tiny_st_dir), device="cpu")
    assert report["active_params"] == sum(p.numel() for p in dense.parameters())

    texts = ["first input", "the second, longer input text"]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps({"text": t}) + "\n" for t in texts))
    res = runner.invoke(app, ["encode", "--precision", "fp32", str(m), "--task", "query", "-i", str(tmp_path / "in.jsonl"),
                              "-o", str(tmp_path / "q.npy")])
    assert res.exit_code == 0, res.output
    got = np.load(tmp_path / "q.npy")
    np.testing.assert_allclose(got, dense.encode(texts, prompt="search_query: "), atol=1e-5)

    (tmp_path / "in.txt").write_text("\n".join(texts) + "\n")
    res = runner.invoke(app, ["encode", "--precision", "fp32", str(m), "--task", "query", "--no-instruction", "-i",
                              str(tmp_path / "in.txt"), "-o", str(tmp_path / "raw.npy")])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "raw.npy"), dense.encode(texts), atol=1e-5)

    res = runner.invoke(app, ["average", str(m), "--out", str(d), "--weights", "query=1,document=1"])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(SentenceTransformer(str(d), device="cpu").encode(texts), dense.encode(texts),
                               atol=1e-5)


def test_cli_errors(tiny_st_dir: Path, tmp_path: Path) -> None:
    res = runner.invoke(app, ["upcycle", "--base", str(tiny_st_dir), "--out", str(tmp_path / "m"),
                              "--layers", "top-99"])
    assert res.exit_code == 2 and "top-99" in res.output
    res = runner.invoke(app, ["upcycle", "--base", str(tiny_st_dir), "--out", str(tmp_path / "m"),
                              "--tasks", "query,qury", "--instruction", "clustr=x"])
    assert res.exit_code == 2 and "clustr" in res.output
    runner.invoke(app, ["upcycle", "--base", str(tiny_st_dir), "--out", str(tmp_path / "m")])
    (tmp_path / "bad.jsonl").write_text('{"text": "ok"}\n{"txt": 1}\n')
    res = runner.invoke(app, ["encode", "--precision", "fp32", str(tmp_path / "m"), "--task", "query", "-i", str(tmp_path / "bad.jsonl"),
                              "-o", str(tmp_path / "x.npy")])
    assert res.exit_code == 2 and "bad.jsonl:2" in res.output
    res = runner.invoke(app, ["encode", "--precision", "fp32", str(tmp_path / "m"), "--task", "qurey", "-i", str(tmp_path / "bad.jsonl"),
                              "-o", str(tmp_path / "x.npy")])
    assert res.exit_code == 2


def test_cli_on_the_packaged_minilm(minilm_dir: Path, tmp_path: Path) -> None:
    """The issue's acceptance flow on the real default model, by its hub id (resolved offline)."""
    m = tmp_path / "m"
    res = runner.invoke(app, ["upcycle", "--base", "sentence-transformers/all-MiniLM-L6-v2", "--out", str(m)])
    assert res.exit_code == 0, res.output
    # the default instruction set follows the base: all-MiniLM-L6-v2 declares no prompts, so no prefixes
    assert "(instructions: auto: none (the base declares no prompts))" in res.output
    report = json.loads(runner.invoke(app, ["info", str(m), "--json"]).stdout)
    dense = SentenceTransformer(str(minilm_dir), device="cpu")
    assert report["tasks"] == ["query", "document", "similarity", "classification", "clustering"]
    assert report["upcycled_layers"] == [1, 3, 5] and report["num_layers"] == 6
    assert report["active_params"] == sum(p.numel() for p in dense.parameters()) == 22_713_216
    texts = ["how many people live in berlin?", "Berlin has about 3.7 million inhabitants."]
    (tmp_path / "in.txt").write_text("\n".join(texts))
    res = runner.invoke(app, ["encode", "--precision", "fp32", str(m), "--task", "query", "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "q.npy")])
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "q.npy"), dense.encode(texts), atol=1e-5)


@pytest.mark.shared_data
def test_cli_evaluate_and_compare(tiny_st_dir: Path, shared_data: Path, tmp_path: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # a fresh embedding cache (.mote-cache in the working folder): the encoding shows
    m = tmp_path / "mote"
    assert runner.invoke(app, ["upcycle", "--base", str(tiny_st_dir), "--out", str(m)]).exit_code == 0
    for name, model in (("dense", str(tiny_st_dir)), ("mote", str(m))):
        res = runner.invoke(app, ["evaluate", model, "--suite", "extended", "--tasks", "TRECQuestionType",
                                  "--data-root", str(shared_data), "--out", str(tmp_path / name)])
        assert res.exit_code == 0, res.output
        assert (tmp_path / name / "summary.json").is_file()
        assert "[1/1] TRECQuestionType" in res.output and "Batches" in res.output  # task lines and encode bars
    res = runner.invoke(app, ["compare", str(tmp_path / "dense"), str(tmp_path / "mote"), "--baseline", "dense",
                              "--png", str(tmp_path / "c.png")])
    assert res.exit_code == 0, res.output
    assert "TRECQuestionType" in res.stdout and (tmp_path / "c.png").is_file()
    res = runner.invoke(app, ["evaluate", str(m), "--suite", "mteb-lit", "--data-root", str(shared_data)])
    assert res.exit_code == 2 and "mteb-lite" in res.output

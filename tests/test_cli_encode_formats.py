"""`mote encode` inputs and outputs line up with what the user gave, and the CLI says what it does.

Blank input lines are an error (or dropped on request, with the source line kept in the output), the output
format follows the file extension (.npy, .jsonl, .parquet; anything else refused before the model loads), the
normalisation the help promises is the one delivered, `mote --version` exists, and every command that reads data
takes the option that says where the data is (`--data-root`; `--probe` for merge).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from mote.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[1]


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.startswith("error:")]


def _encode(model: Path, src: Path, out: Path, *args: str) -> Any:
    return runner.invoke(app, ["encode", str(model), "-i", str(src), "-o", str(out), "--precision", "fp32",
                               "--device", "cpu", *args])


@pytest.fixture(scope="module")
def dense(tiny_st_dir: Path) -> SentenceTransformer:
    """The reference: the same folder loaded by plain sentence-transformers."""
    return SentenceTransformer(str(tiny_st_dir), device="cpu")


# -- 1. blank lines ---------------------------------------------------------------------------------------------
def test_blank_lines_are_an_error_naming_the_file_and_lines(tiny_st_dir: Path, tmp_path: Path) -> None:
    """Before: 4 lines in, 3 rows out, exit 0: row 3 belonged to line 4."""
    src = tmp_path / "in.txt"
    src.write_text("first\n\nthird\n   \nfifth\n", encoding="utf-8")
    res = _encode(tiny_st_dir, src, tmp_path / "e.npy")
    assert res.exit_code == 2, res.output
    [line] = _errors(res.output)
    assert "in.txt" in line and "2 empty lines" in line and "lines 2, 4" in line
    assert "--skip-empty" in line and "remove them" in line.lower()
    assert not (tmp_path / "e.npy").exists()


def test_many_blank_lines_name_the_first_few_and_the_count(tiny_st_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("a\n" + "\n" * 8 + "b\n", encoding="utf-8")  # lines 2..9 empty
    res = _encode(tiny_st_dir, src, tmp_path / "e.npy")
    assert res.exit_code == 2, res.output
    [line] = _errors(res.output)
    assert "8 empty lines" in line and "lines 2, 3, 4, 5, 6 and 3 more" in line


def test_skip_empty_drops_them_and_the_output_keeps_each_rows_line(tiny_st_dir: Path, dense: SentenceTransformer,
                                                                     tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("first\n\nthird\n   \nfifth\n", encoding="utf-8")
    res = _encode(tiny_st_dir, src, tmp_path / "e.jsonl", "--skip-empty")
    assert res.exit_code == 0, res.output
    assert "2 empty inputs skipped (lines 2, 4)" in res.output
    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [(r["index"], r["line"], r["text"]) for r in rows] == [(0, 1, "first"), (1, 3, "third"), (2, 5, "fifth")]
    np.testing.assert_allclose(np.array([r["embedding"] for r in rows]), dense.encode(["first", "third", "fifth"]),
                               atol=1e-5)


def test_a_file_of_blank_lines_only_is_still_no_input(tiny_st_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "empty.txt"
    src.write_text("\n  \n", encoding="utf-8")
    for extra in ([], ["--skip-empty"]):
        res = _encode(tiny_st_dir, src, tmp_path / "e.npy", *extra)
        assert res.exit_code == 2 and "no non-empty inputs" in res.output, res.output


def test_jsonl_rows_with_empty_text_are_an_error_but_blank_lines_between_rows_are_not_rows(
    tiny_st_dir: Path, dense: SentenceTransformer, tmp_path: Path
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"text": "alpha"}\n\n{"text": "beta"}\n{"text": " "}\n', encoding="utf-8")
    res = _encode(tiny_st_dir, src, tmp_path / "e.npy")
    assert res.exit_code == 2, res.output
    [line] = _errors(res.output)
    assert "in.jsonl" in line and "1 row with an empty 'text'" in line and "line 4" in line and "--skip-empty" in line

    src.write_text('{"text": "alpha"}\n\n{"text": "beta"}\n', encoding="utf-8")  # a blank line is no row
    res = _encode(tiny_st_dir, src, tmp_path / "e.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), dense.encode(["alpha", "beta"]), atol=1e-5)


def test_only_line_ends_split_lines(tiny_st_dir: Path, dense: SentenceTransformer, tmp_path: Path) -> None:
    """A form feed or U+2028 inside a line is part of that input (str.splitlines split there: more rows than lines),
    and CRLF files give the same rows as LF files."""
    texts = ["page one\x0cpage two", "left\u2028right", "plain"]
    src = tmp_path / "in.txt"
    src.write_bytes("\r\n".join(texts).encode("utf-8") + b"\r\n")
    res = _encode(tiny_st_dir, src, tmp_path / "e.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), dense.encode(texts), atol=1e-5)

    src = tmp_path / "in.jsonl"  # JSON allows a raw U+2028 inside a string
    src.write_text("".join(json.dumps({"text": t}, ensure_ascii=False) + "\n" for t in texts), encoding="utf-8")
    res = _encode(tiny_st_dir, src, tmp_path / "j.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "j.npy"), dense.encode(texts), atol=1e-5)


# -- 2. output formats ------------------------------------------------------------------------------------------
TEXTS = ["the first input", "a second, longer input text", "third"]


def test_the_output_format_follows_the_extension(tiny_st_dir: Path, dense: SentenceTransformer,
                                                 tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    ref = dense.encode(TEXTS)
    for name in ("e.npy", "e.jsonl", "e.parquet"):
        res = _encode(tiny_st_dir, src, tmp_path / name)
        assert res.exit_code == 0, res.output
    npy = np.load(tmp_path / "e.npy")
    assert npy.dtype == np.float32 and npy.shape == (3, 32)
    np.testing.assert_allclose(npy, ref, atol=1e-5)

    rows = [json.loads(line) for line in (tmp_path / "e.jsonl").read_text(encoding="utf-8").splitlines()]
    assert [sorted(r) for r in rows] == [["embedding", "index", "line", "text"]] * 3
    assert [(r["index"], r["line"], r["text"]) for r in rows] == [(0, 1, TEXTS[0]), (1, 2, TEXTS[1]), (2, 3, TEXTS[2])]
    np.testing.assert_array_equal(np.array([r["embedding"] for r in rows], dtype=np.float32), npy)  # exact

    table = pq.read_table(tmp_path / "e.parquet")
    assert table.schema.field("embedding").type == pa.list_(pa.float32())
    assert table.column("text").to_pylist() == TEXTS
    assert table.column("index").to_pylist() == [0, 1, 2] and table.column("line").to_pylist() == [1, 2, 3]
    np.testing.assert_array_equal(np.array(table.column("embedding").to_pylist(), dtype=np.float32), npy)
    assert not (tmp_path / "e.csv").exists()


@pytest.mark.parametrize("name", ["q.csv", "q", "q.npz", "q.json"])
def test_other_extensions_are_refused_before_the_model_loads(name: str, tiny_st_dir: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Before: -o q.csv wrote .npy bytes into q.csv."""
    import mote.model.sentence

    def no_load(*_: object, **__: object) -> None:
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(mote.model.sentence, "load", no_load)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    res = _encode(tiny_st_dir, src, tmp_path / name)
    assert res.exit_code == 2, res.output
    [line] = _errors(res.output)
    suffix = Path(name).suffix
    assert (f"'{suffix}'" if suffix else "no extension") in line
    assert ".npy" in line and ".jsonl" in line and ".parquet" in line
    assert not (tmp_path / name).exists()


def test_the_extension_is_case_insensitive(tiny_st_dir: Path, dense: SentenceTransformer, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    res = _encode(tiny_st_dir, src, tmp_path / "E.NPY")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "E.NPY"), dense.encode(TEXTS), atol=1e-5)


@pytest.mark.parametrize("name", ["e.jsonl", "e.parquet"])
def test_new_formats_are_written_atomically_and_not_overwritten(name: str, tiny_st_dir: Path, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    out = tmp_path / "out" / name
    out.parent.mkdir()
    out.write_bytes(b"earlier")
    res = _encode(tiny_st_dir, src, out)
    assert res.exit_code == 2 and "already exists" in res.output and out.read_bytes() == b"earlier"

    from mote.model import io

    def fail_replace(*_: object, **__: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, "replace", fail_replace)
    res = _encode(tiny_st_dir, src, out, "--overwrite")
    assert res.exit_code == 2, res.output
    assert out.read_bytes() == b"earlier" and sorted(p.name for p in out.parent.iterdir()) == [name]


# -- 3. normalisation -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def normalized_dir(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model with a trailing Normalize module (as all-MiniLM-L6-v2 has)."""
    from sentence_transformers.sentence_transformer.modules import Normalize

    st = SentenceTransformer(str(tiny_st_dir), device="cpu")
    st.append(Normalize())
    out = tmp_path_factory.mktemp("tiny-normalized") / "st"
    st.save(str(out))
    return out


def _norms(a: np.ndarray) -> np.ndarray:
    return np.linalg.norm(a, axis=1)


def test_normalize_default_follows_the_model_and_the_message_says_so(
    tiny_st_dir: Path, normalized_dir: Path, dense: SentenceTransformer, tmp_path: Path
) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    raw = dense.encode(TEXTS)
    assert np.abs(_norms(raw) - 1).max() > 0.1  # the check means something: raw rows are not unit vectors
    unit = raw / _norms(raw)[:, None]

    res = _encode(normalized_dir, src, tmp_path / "a.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "a.npy"), unit, atol=1e-5)
    assert "rows are unit-normalised" in res.output and "Normalize module" in res.output

    res = _encode(tiny_st_dir, src, tmp_path / "b.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "b.npy"), raw, atol=1e-5)
    assert "rows are not normalised" in res.output and "--normalize" in res.output


def test_normalize_forces_unit_rows(tiny_st_dir: Path, dense: SentenceTransformer, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    raw = dense.encode(TEXTS)
    res = _encode(tiny_st_dir, src, tmp_path / "e.npy", "--normalize")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), raw / _norms(raw)[:, None], atol=1e-5)
    assert "rows are unit-normalised (--normalize)" in res.output


def test_no_normalize_on_a_normalizing_model_gives_the_raw_rows(normalized_dir: Path, dense: SentenceTransformer,
                                                                tmp_path: Path) -> None:
    """Before: --no-normalize (the advertised default) still gave unit vectors from such a model."""
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    res = _encode(normalized_dir, src, tmp_path / "e.npy", "--no-normalize")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), dense.encode(TEXTS), atol=1e-5)
    assert "rows are not normalised" in res.output and "skipped" in res.output


def test_minilm_rows_are_unit_vectors_by_default_as_the_help_says(minilm_dir: Path, tmp_path: Path) -> None:
    src = tmp_path / "in.txt"
    src.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    res = _encode(minilm_dir, src, tmp_path / "e.npy")
    assert res.exit_code == 0, res.output
    np.testing.assert_allclose(_norms(np.load(tmp_path / "e.npy")), 1.0, atol=1e-5)
    assert "rows are unit-normalised" in res.output
    help_text = _help("encode")
    assert "no-normalize]" not in help_text  # no false default any more
    assert "all-MiniLM-L6-v2" in help_text and "unit vectors" in help_text


# -- 4. --version -----------------------------------------------------------------------------------------------
def test_version() -> None:
    import sentence_transformers
    import torch

    import mote

    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0, res.output
    [line] = res.output.strip().splitlines()
    assert line.startswith(f"mote {mote.__version__} ")
    assert f"torch {torch.__version__}" in line
    assert f"sentence-transformers {sentence_transformers.__version__}" in line
    assert "Usage" in runner.invoke(app, []).output  # no arguments: still the help


# -- 5. where the data is ---------------------------------------------------------------------------------------
def _train_config(tmp_path: Path, base: Path) -> Path:
    path = tmp_path / "cfg" / "train.yaml"
    path.parent.mkdir()
    path.write_text(yaml.safe_dump({
        "model": {"base": str(base), "mode": "mote", "layers": "1,3", "tasks": ["query", "document"]},
        "data": {"recipe": str(REPO / "recipes" / "shared-small.yaml"), "data_root": "from-the-config"},
        "train": {"output_dir": str(tmp_path / "run"), "max_steps": 1, "batch_size": 4, "device": "cpu"},
    }), encoding="utf-8")
    return path


def test_train_data_root_sets_the_config_value(tiny_st_dir: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import mote.train.run

    seen: list[Any] = []
    monkeypatch.setattr(mote.train.run, "train", lambda cfg, resume=False: seen.append(cfg) or {"steps": 0})
    cfg = _train_config(tmp_path, tiny_st_dir)
    (tmp_path / "cfg" / "data").mkdir()  # a same-named folder beside the config must not win
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["train", str(cfg), "--data-root", "data", "--set", "data.data_root=elsewhere"])
    assert res.exit_code == 0, res.output
    assert seen[0].data.data_root == str((tmp_path / "data").resolve())

    res = runner.invoke(app, ["train", str(cfg)])  # without the option: the config's value
    assert res.exit_code == 0, res.output
    assert seen[1].data.data_root == "from-the-config"

    # evaluation during training reads the same shared data folder unless its own data_root is set
    res = runner.invoke(app, ["train", str(cfg), "--data-root", "data", "--set", "train.eval.tasks=[STS12]",
                              "--set", "train.eval.steps=1"])
    assert res.exit_code == 0, res.output
    assert seen[2].train.eval.data_root == str((tmp_path / "data").resolve())
    res = runner.invoke(app, ["train", str(cfg), "--data-root", "data", "--set", "train.eval.tasks=[STS12]",
                              "--set", "train.eval.steps=1", "--set", "train.eval.data_root=mine"])
    assert res.exit_code == 0, res.output
    assert seen[3].train.eval.data_root == "mine"


def test_a_missing_data_root_is_refused_before_any_work(tiny_st_dir: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import mote.pipeline
    import mote.train.run

    def never(*_: object, **__: object) -> None:
        raise AssertionError("ran despite a missing --data-root")

    monkeypatch.setattr(mote.train.run, "train", never)
    monkeypatch.setattr(mote.pipeline, "run_pipeline", never)
    cfg = _train_config(tmp_path, tiny_st_dir)
    (tmp_path / "a-file").write_text("x")
    for argv in (["train", str(cfg)], ["pipeline", str(_pipeline_config(tmp_path, tiny_st_dir))],
                 ["evaluate", str(tiny_st_dir)]):
        for root, says in ((tmp_path / "no-such-data", "does not exist"), (tmp_path / "a-file", "not a folder")):
            res = runner.invoke(app, [*argv, "--data-root", str(root)])
            assert res.exit_code == 2, res.output
            [line] = _errors(res.output)
            assert "--data-root" in line and str(root) in line and says in line, line


def _pipeline_config(tmp_path: Path, base: Path) -> Path:
    path = tmp_path / "pcfg" / "pipeline.yaml"
    path.parent.mkdir(exist_ok=True)
    path.write_text(yaml.safe_dump({
        "name": "t", "base": str(base), "recipe": str(REPO / "recipes" / "shared-small.yaml"),
        "output_dir": str(tmp_path / "pipeline-out"), "variants": ["base"], "seeds": [1], "device": "cpu",
        "eval": {"suite": "mteb-lite", "tasks": ["STSBenchmark"], "data_root": "eval-from-config"},
    }), encoding="utf-8")
    return path


def test_pipeline_data_root_sets_training_and_evaluation_data(tiny_st_dir: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    import mote.pipeline

    seen: list[Any] = []
    report = tmp_path / "REPORT.md"
    report.write_text("# report\n")

    def fake_run(cfg: Any, **_: object) -> Path:
        seen.append(cfg)
        return report

    monkeypatch.setattr(mote.pipeline, "run_pipeline", fake_run)
    cfg = _pipeline_config(tmp_path, tiny_st_dir)
    (tmp_path / "pcfg" / "data").mkdir()
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["pipeline", str(cfg), "--data-root", "data"])
    assert res.exit_code == 0, res.output
    expected = str((tmp_path / "data").resolve())
    assert seen[0].data_root == expected and seen[0].eval.data_root == expected

    res = runner.invoke(app, ["pipeline", str(cfg)])
    assert res.exit_code == 0, res.output
    assert seen[1].data_root is None and seen[1].eval.data_root == "eval-from-config"


def test_merge_probe_sets_the_probe_file(tiny_st_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """merge reads one data file, the probe: --probe maps to probe.jsonl (a merge has no data root)."""
    import mote.merge

    seen: list[Any] = []

    def fake_merge(cfg: Any, overrides: object = None) -> Path:
        seen.append(cfg)
        return tmp_path / "merged"

    monkeypatch.setattr(mote.merge, "run_merge", fake_merge)
    dense = str(tiny_st_dir)
    cfg = tmp_path / "merge.yaml"
    cfg.write_text(yaml.safe_dump({"base": dense, "models": [dense, dense], "method": "fisher",
                                   "probe": {"jsonl": "from-config.jsonl", "size": 8}, "out": "merged"}))
    (tmp_path / "probe.jsonl").write_text(json.dumps({"anchor": "a", "positive": "b", "task": "query"}) + "\n")
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, ["merge", str(cfg), "--probe", "probe.jsonl"])
    assert res.exit_code == 0, res.output
    assert seen[0].probe.jsonl == str((tmp_path / "probe.jsonl").resolve()) and seen[0].probe.size == 8

    cfg.write_text(yaml.safe_dump({"base": dense, "models": [dense, dense], "method": "linear", "out": "merged"}))
    res = runner.invoke(app, ["merge", str(cfg), "--probe", "probe.jsonl"])
    assert res.exit_code == 2, res.output
    [line] = _errors(res.output)
    assert "--probe" in line and "'linear'" in line and "fisher" in line
    assert len(seen) == 1

    res = runner.invoke(app, ["merge", str(cfg), "--set", "method=fisher", "--probe", "nope.jsonl"])
    assert res.exit_code == 2 and "nope.jsonl" in res.output and "does not exist" in res.output
    assert len(seen) == 1

    res = runner.invoke(app, ["merge", str(cfg), "--set", "method=fisher", "--probe", "probe.jsonl"])  # no probe: in
    assert res.exit_code == 0, res.output  # the config: --probe supplies it
    assert seen[1].method == "fisher" and seen[1].probe.jsonl == str((tmp_path / "probe.jsonl").resolve())


# -- 6. help texts ----------------------------------------------------------------------------------------------
def _help(*argv: str) -> str:
    """The help text, one space between words (rendered wide: no wrapped words)."""
    return " ".join(runner.invoke(app, [*argv, "--help"], env={"COLUMNS": "400"}).output.split())


def test_every_data_reading_command_says_where_its_data_is() -> None:
    for command in ("train", "evaluate", "pipeline"):
        assert "--data-root" in _help(command), command
    assert "--probe" in _help("merge")


def test_config_commands_say_precision_and_device_default_to_the_config() -> None:
    for command, key in (("train", "train.precision"), ("merge", "precision"), ("pipeline", "budget.precision")):
        text = _help(command)
        assert f"Default: the config's {key}" in text, (command, text)


def test_encode_help_names_the_formats_and_skip_empty() -> None:
    text = _help("encode")
    for word in (".npy", ".jsonl", ".parquet", "--skip-empty"):
        assert word in text


@pytest.mark.skipif(os.name == "nt", reason="POSIX paths")
def test_data_root_with_yaml_special_characters_stays_a_string(tiny_st_dir: Path, tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The option travels as a --set value (parsed as YAML): a path like 'x: [1' must arrive unchanged."""
    import mote.train.run

    seen: list[Any] = []
    monkeypatch.setattr(mote.train.run, "train", lambda cfg, resume=False: seen.append(cfg) or {})
    root = tmp_path / "x: [1 #y"
    root.mkdir()
    res = runner.invoke(app, ["train", str(_train_config(tmp_path, tiny_st_dir)), "--data-root", str(root)])
    assert res.exit_code == 0, res.output
    assert seen[0].data.data_root == str(root.resolve())

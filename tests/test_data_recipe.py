"""Recipes: validation, overrides, the leakage rules and their counts, generic files, trainer compatibility."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import pytest

from mote.data import DataFormatError, load_recipe, read_recipe
from mote.data.sources.generic import read_generic

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import make_data_root

RECIPE = """
data_root: data
seed: 3
datasets:
  pubmedqa: {}
  trecqa: {hard_negatives: 1}
  scifact: {}
  stsb: {}
  snli: {split: dev}
  flickr8k: {options: {pairs_per_image: 2}}
  banking77: {hard_negatives: 2}
  20newsgroups: {}
"""


@pytest.fixture(scope="module")
def recipe_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("recipe")
    make_data_root(d / "data")
    (d / "r.yaml").write_text(RECIPE)
    return d


@pytest.fixture(scope="module")
def loaded(recipe_dir: Path) -> dict:  # type: ignore[type-arg]
    return load_recipe(recipe_dir / "r.yaml")


def _report(datasets: object, name: str):  # type: ignore[no-untyped-def]
    return next(d for d in datasets.report.datasets if d.name == name)  # type: ignore[attr-defined]


def test_columns_and_routes(loaded: dict) -> None:  # type: ignore[type-arg]
    assert set(loaded) == {"pubmedqa", "trecqa", "stsb", "snli", "flickr8k", "banking77", "20newsgroups"}
    tq = loaded["trecqa"]
    assert tq.column_names == ["anchor", "positive", "negatives", "task", "anchor_task", "positive_task", "dataset"]
    assert set(tq["anchor_task"]) == {"query"} and set(tq["positive_task"]) == {"document"}
    assert set(tq["dataset"]) == {"trecqa"} and all(len(n) == 1 for n in tq["negatives"])
    assert loaded["stsb"].column_names == [
        "anchor",
        "positive",
        "score",
        "task",
        "anchor_task",
        "positive_task",
        "dataset",
    ]
    bank = loaded["banking77"]
    assert "label" in bank.column_names and all(len(n) == 2 for n in bank["negatives"])
    assert set(bank["task"]) == {"classification"} and set(loaded["20newsgroups"]["task"]) == {"clustering"}
    assert "negatives" not in loaded["pubmedqa"].column_names  # default: no hard negatives for PubMedQA


def test_leakage_rules_remove_and_count(loaded: dict) -> None:  # type: ignore[type-arg]
    flickr = _report(loaded, "flickr8k")  # rule 2: captions vs SICK and STS images
    assert flickr.leakage.rows == 2 and dict(flickr.leakage.by_evaluation) == {"SICK-R": 1, "STS14": 1}
    assert len(loaded["flickr8k"]) == 2
    snli = _report(loaded, "snli")  # rule 3: the premise is a SICK (train) sentence; SICK-R reads all of SICK
    assert dict(snli.leakage.by_evaluation) == {"SICK-R": 1} and len(loaded["snli"]) == 1
    stsb = _report(loaded, "stsb")  # rule 1: an STS-B train pair from STS12 test
    assert dict(stsb.leakage.by_evaluation) == {"STS12": 1}
    assert stsb.cleaning == {"duplicate": 1, "empty text": 1}
    bank = _report(loaded, "banking77")
    assert dict(bank.leakage.by_evaluation) == {"Banking77Classification": 1}
    assert bank.cleaning["duplicate"] == 1 and bank.cleaning["empty text"] == 1
    assert "How do I top up?" not in loaded["banking77"]["anchor"]
    assert _report(loaded, "pubmedqa").reader_dropped["PubMedQA test id (leakage rule 4)"] == 2
    assert set(loaded["pubmedqa"]["anchor"]) == {"Question 1?", "Question 3?", "Question 5?"}
    ng = _report(loaded, "20newsgroups")
    assert dict(ng.leakage.by_evaluation) == {"TwentyNewsgroupsSubjects": 1}
    scifact = _report(loaded, "scifact")
    assert scifact.excluded and "evaluate_scifact" in scifact.excluded
    report = loaded.report  # type: ignore[attr-defined]
    assert "MRPC" in report.missing_evaluations  # absent from this data root: reported, not silently skipped
    text = report.format()
    assert "EXCLUDED: evaluate_scifact" in text and "NOT deduplicated against" in text


def test_no_training_text_is_an_evaluation_text(loaded: dict, recipe_dir: Path) -> None:  # type: ignore[type-arg]
    from mote.data.leakage import build_eval_index
    from mote.data.recipe import EXCLUSION_FLAGS

    index = build_eval_index(recipe_dir / "data", dict.fromkeys(EXCLUSION_FLAGS, True))
    for ds in loaded.values():
        for row in ds:
            for text in [row["anchor"], row["positive"], *row.get("negatives", [])]:
                assert not index.lookup(text), (row["dataset"], text)


def test_flags_and_sts_overlap_report(recipe_dir: Path) -> None:
    out = load_recipe(recipe_dir / "r.yaml", ["evaluate_scifact=false", "evaluate_sick=false", "sts_overlap=report"])
    assert len(out["scifact"]) == 2 and out["scifact"][0]["anchor_task"] == "query"
    assert len(out["snli"]) == 2  # SICK train is no longer an evaluation set
    stsb = _report(out, "stsb")
    assert stsb.leakage.rows == 0 and dict(stsb.leakage.seen_source) == {"STS12": 1}
    assert "seen source" in out.report.format()
    assert _report(out, "flickr8k").leakage.rows == 2  # "report" is for STS-B only: rule 2 still drops captions
    off = load_recipe(recipe_dir / "r.yaml", ["dedupe_against_eval=false"])
    assert len(off["flickr8k"]) == 4


def test_overrides_seed_and_data_root(recipe_dir: Path, tmp_path: Path) -> None:
    a = load_recipe(recipe_dir / "r.yaml", ["datasets.banking77.max_examples=2"])
    assert len(a["banking77"]) == 2
    b = load_recipe(recipe_dir / "r.yaml", ["datasets.banking77.max_examples=2"])
    assert a["banking77"].to_list() == b["banking77"].to_list()
    (tmp_path / "r.yaml").write_text(RECIPE.replace("data_root: data", "data_root: nowhere"))
    with pytest.raises(FileNotFoundError, match="data_root"):
        load_recipe(tmp_path / "r.yaml")
    moved = load_recipe(tmp_path / "r.yaml", data_root=recipe_dir / "data")
    assert len(moved["pubmedqa"]) == 3


@pytest.mark.parametrize(
    ("yaml_text", "match"),
    [
        ("datasets: {banking77: {max_exampels: 3}}", "max_exampels"),
        ("datasets: {b: {source: banking78}}", 'Did you mean "banking77"'),
        ("datasets: {banking77: {split: test}}", "Banking77Classification.*never train on it"),
        ("datasets: {sick: {split: test}}", "SICK-R"),
        ("datasets: {stsb: {split: dev}}", "model selection"),
        ("datasets: {banking77: {task: clasification}}", 'Did you mean "classification"'),
        ("datasets: {stsb: {hard_negatives: 1}}", "scored pairs"),
        ("datasets: {tweeteval: {options: {subsett: hate}}}", 'Did you mean "subset"'),
        ("datasets: {mine: {source: generic, task: similarity}}", "needs path"),
        ("datasets: {}", "at least 1"),
        ("evaluate_scifct: false\ndatasets: {banking77: {}}", "evaluate_scifct"),
        ("datasets: {wikiqa: {}}", "no trainable split"),
        ("datasets: {twitter-pit: {split: dev}}", "TwitterPIT2015Dev.*never train on it"),
    ],
)
def test_invalid_recipes(tmp_path: Path, yaml_text: str, match: str) -> None:
    (tmp_path / "r.yaml").write_text(yaml_text)
    with pytest.raises(ValueError, match=match):
        read_recipe(tmp_path / "r.yaml")


def test_generic_files_and_logged_counts(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    rows = [
        {"q": "a", "d": "b", "neg": ["c"]},
        {"q": "a", "d": "b", "neg": ["x"]},
        {"q": "", "d": "e", "neg": []},
        {"q": "f", "d": "g", "neg": "h"},
    ]
    (tmp_path / "pairs.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "texts.csv").write_text("sentence,topic\nalpha,1\nbeta,1\ngamma,2\ndelta,2\n")
    (tmp_path / "r.yaml").write_text(
        "datasets:\n"
        "  mine: {source: generic, path: pairs.jsonl, task: query, hard_negatives: 1,\n"
        "         options: {columns: {anchor: q, positive: d, negatives: neg}}}\n"
        "  topics: {source: generic, path: texts.csv, task: clustering, options: {columns: {text: sentence, label: topic}}}\n"
    )
    with caplog.at_level(logging.INFO, logger="mote.data"):
        out = load_recipe(tmp_path / "r.yaml")
    assert out["mine"]["anchor"] == ["a", "f"] and out["mine"]["negatives"] == [["c"], ["h"]]
    assert out["mine"][0]["positive_task"] == "document"
    assert _report(out, "mine").cleaning == {"duplicate": 1, "empty text": 1}
    assert "mine: cleaning dropped/changed 1: duplicate" in caplog.text
    assert set(out["topics"]["label"]) == {"1", "2"} and len(out["topics"]) == 4


def test_generic_formats_and_errors(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset, DatasetDict

    pq.write_table(
        pa.table({"anchor": ["a", "b"], "positive": ["c", "d"], "score": [0.1, 0.9]}), tmp_path / "s.parquet"
    )
    got = read_generic(tmp_path / "s.parquet", "train")
    assert [e.score for e in got.examples] == [0.1, 0.9]  # type: ignore[union-attr]
    DatasetDict({"train": Dataset.from_dict({"text": ["x", "y"], "label": [0, 1]})}).save_to_disk(tmp_path / "hf")
    assert read_generic(tmp_path / "hf", "train").labels == ["0", "1"]  # type: ignore[union-attr]
    (tmp_path / "bad.jsonl").write_text('{"anchor": "a", "positive": "b"}\n{"anchor": "a", "positive": 3}\n')
    with pytest.raises(DataFormatError, match=r"bad.jsonl:2: expected a string in column 'positive'"):
        read_generic(tmp_path / "bad.jsonl", "train")
    (tmp_path / "broken.jsonl").write_text('{"anchor": "a", "positive": "b"}\n\n{"anchor": \n')
    with pytest.raises(DataFormatError, match=r"broken.jsonl:3: expected one JSON object a line"):
        read_generic(tmp_path / "broken.jsonl", "train")
    (tmp_path / "s.csv").write_text("anchor,positive,score\na,b,high\n")
    with pytest.raises(DataFormatError, match=r"s.csv:2: expected a number in column 'score'"):
        read_generic(tmp_path / "s.csv", "train")
    with pytest.raises(ValueError, match="HF_HUB_OFFLINE"):
        read_generic(tmp_path, "train", hub="org/name")


def test_trainer_accepts_the_datasets(loaded: dict) -> None:  # type: ignore[type-arg]
    from mote.tasks import TaskSet
    from mote.train.datasets import _routes, to_st_columns

    tasks = TaskSet()
    assert _routes(loaded["trecqa"], "trecqa", tasks) == ("query", "document")
    st = to_st_columns(loaded["trecqa"], hard_negatives=1, scored=False)
    assert st.column_names == ["anchor", "positive", "negative_1"]
    st = to_st_columns(loaded["banking77"], hard_negatives=1, scored=False)
    assert st.column_names == ["anchor", "positive", "negative_1", "label"]
    assert to_st_columns(loaded["stsb"], hard_negatives=0, scored=True).column_names == ["anchor", "positive", "score"]

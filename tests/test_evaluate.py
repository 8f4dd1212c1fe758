"""Fast tests of mote.evaluate: routing, readers, suites, summaries, caching, compare (tiny model, tiny data)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("mteb")

import mteb
from mteb.abstasks.task_metadata import TaskMetadata
from mteb.mocks.mock_tasks.classification import MockClassificationTask
from mteb.mocks.mock_tasks.clustering import MockClusteringTask
from mteb.mocks.mock_tasks.retrieval import MockRetrievalTask
from mteb.mocks.mock_tasks.sts import MockSTSTask
from mteb.types import PromptType

from mote.data.evaluations.pairs_clusters import read_twitter_pit
from mote.data.evaluations.retrieval import read_trecqa
from mote.data.evaluations.sts import read_sts_year
from mote.data.sources.retrieval import parse_sentence_list
from mote.evaluate import MoteEncoder, compare, evaluate, select_tasks
from mote.evaluate.route import TaskRoute
from mote.evaluate.summary import TaskScore, summarize, to_markdown
from mote.model.sentence import encode, load, upcycle
from mote.tasks import TaskSet

Q, D = PromptType.query, PromptType.document


def meta(task_type: str, name: str = "AnyTask") -> TaskMetadata:
    return TaskMetadata(
        name=name,
        description="test",
        dataset={"path": "none", "revision": "none"},
        type=task_type,  # type: ignore[arg-type]
        eval_langs=["eng-Latn"],
        main_score="x",
    )


@pytest.fixture(scope="module")
def mote_st(tiny_st_dir: Path) -> Any:
    return upcycle(str(tiny_st_dir), layers="all", instructions="mote")


# -- routing -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("task_type", "role", "expected"),
    [
        ("STS", None, ("similarity", "similarity: ")),
        ("PairClassification", None, ("similarity", "similarity: ")),
        ("Classification", None, ("classification", "classification: ")),
        ("Clustering", None, ("clustering", "clustering: ")),
        ("Retrieval", Q, ("query", "search_query: ")),
        ("Retrieval", D, ("document", "search_document: ")),
        ("Reranking", Q, ("query", "search_query: ")),
        ("Reranking", D, ("document", "search_document: ")),
    ],
)
def test_mote_routes_type_and_role_to_expert_and_prefix(
    mote_st: Any, task_type: str, role: PromptType | None, expected: tuple[str, str]
) -> None:
    route = MoteEncoder(mote_st, precision="fp32").route(meta(task_type), role)
    assert (route.task, route.instruction, route.source) == (*expected, "mote")


def test_mote_encode_uses_expert_and_instruction(mote_st: Any) -> None:
    enc = MoteEncoder(mote_st, precision="fp32")
    calls: list[dict[str, Any]] = []
    original = mote_st.encode

    def spy(texts: list[str], **kw: Any) -> Any:
        calls.append(kw)
        return original(texts, **kw)

    mote_st.encode = spy
    try:
        texts = ["a cat sits", "a dog runs", "a cat sits"]
        got = enc.encode_texts(texts, enc.route(meta("Clustering"), None))
    finally:
        del mote_st.encode
    assert calls[0]["task"] == "clustering" and calls[0]["prompt"] == "clustering: "
    assert len(calls) == 1 and got.shape[0] == 3  # duplicates encoded once, scattered back
    np.testing.assert_allclose(got, encode(mote_st, texts, task="clustering"), atol=1e-5)


def test_unmapped_type_raises_for_mote(tiny_st_dir: Path) -> None:
    moe = upcycle(str(tiny_st_dir), TaskSet.from_names(["query", "document"]), layers="all")
    enc = MoteEncoder(moe, precision="fp32")
    assert enc.route(meta("Retrieval"), Q).task == "query"
    with pytest.raises(ValueError, match="Classification"):
        enc.route(meta("Classification"), None)


def test_dense_without_prompts_gets_no_prefix(tiny_st_dir: Path) -> None:
    enc = MoteEncoder(load(tiny_st_dir), precision="fp32")
    for task_type, role in [("STS", None), ("Retrieval", Q), ("Classification", None)]:
        assert enc.route(meta(task_type), role) == TaskRoute(None, "", "none")


def test_packaged_minilm_gets_no_prefix(minilm_dir: Path) -> None:
    enc = MoteEncoder(load(minilm_dir), fingerprint="x" * 64, precision="fp32")
    assert enc.route(meta("Retrieval"), Q).instruction == ""
    assert enc.route(meta("STS"), None).instruction == ""


def test_dense_with_task_prompts_routes_by_prompt_names(tiny_st_dir: Path) -> None:
    model = load(tiny_st_dir)
    model.prompts = TaskSet().prompts()  # as an averaged MoTE model saves them
    enc = MoteEncoder(model, precision="fp32")
    assert enc.route(meta("STS"), None) == TaskRoute(None, "similarity: ", "prompt:similarity")
    assert enc.route(meta("Retrieval"), D) == TaskRoute(None, "search_document: ", "prompt:document")
    # MTEB precedence: a prompt named after the task wins
    model.prompts = {**TaskSet().prompts(), "STS12": "sts12: "}
    assert MoteEncoder(model, precision="fp32").route(meta("STS", "STS12"), None).instruction == "sts12: "


def test_dense_with_explicit_task_set(tiny_st_dir: Path) -> None:
    enc = MoteEncoder(load(tiny_st_dir), task_set=TaskSet(), precision="fp32")
    assert enc.route(meta("Clustering"), None) == TaskRoute(None, "clustering: ", "task-set")


def test_mote_model_runs_mteb_mock_tasks(mote_st: Any) -> None:
    enc = MoteEncoder(mote_st, precision="fp32")
    seen: list[tuple[str, str | None]] = []
    route = enc.route

    def record(md: TaskMetadata, pt: PromptType | None) -> TaskRoute:
        r = route(md, pt)
        seen.append((md.type, r.task))
        return r

    enc.route = record  # type: ignore[method-assign]
    tasks = [MockSTSTask(), MockClassificationTask(), MockRetrievalTask(), MockClusteringTask()]
    res = mteb.evaluate(enc, tasks, cache=None, show_progress_bar=False, co2_tracker=False)
    assert len(res.task_results) == 4
    assert set(seen) >= {
        ("STS", "similarity"),
        ("Classification", "classification"),
        ("Retrieval", "query"),
        ("Retrieval", "document"),
        ("Clustering", "clustering"),
    }


# -- readers -------------------------------------------------------------------------------------
def test_parse_sentence_list_reads_numpy_printed_arrays() -> None:
    value = "['First sentence.'\n 'It\\'s \"quoted\".'\n \"Don't glue.\"]"
    assert parse_sentence_list(value, Path("corpus.csv"), 2) == ["First sentence.", 'It\'s "quoted".', "Don't glue."]
    assert parse_sentence_list("[]", Path("corpus.csv"), 2) == []


def test_sts_blank_gold_lines_drop_pairs(tmp_path: Path) -> None:
    folder = tmp_path / "sts12-16/data/downstream/STS/STS15-en-test/test_evaluation_task2a"
    folder.mkdir(parents=True)
    (folder / "STS.input.x.txt").write_text("a\tb\nc\td\ne\tf\n")
    (folder / "STS.gs.x.txt").write_text("4.0\n\n1.5\n")
    cols = read_sts_year(tmp_path, 2015)
    assert cols == {"sentence1": ["a", "e"], "sentence2": ["b", "f"], "score": [4.0, 1.5]}


def test_twitter_pit_votes(tmp_path: Path) -> None:
    (tmp_path / "twitter-pit2015").mkdir()
    rows = ["1\tt\ts1\ts2\t(3, 2)\tx\ty", "1\tt\ts3\ts4\t(2, 3)\tx\ty", "1\tt\ts5\ts6\t(0, 5)\tx\ty"]
    (tmp_path / "twitter-pit2015" / "dev.data").write_text("\n".join(rows) + "\n")
    assert read_twitter_pit(tmp_path)["labels"] == [1, 0]


def test_answer_selection_keeps_questions_with_both_labels(tmp_path: Path) -> None:
    folder = tmp_path / "trecqa-wang-anssel/data/anssel/wang"
    folder.mkdir(parents=True)
    (folder / "dev.csv").write_text("qtext,label,atext\nq1,1,a\nq1,0,b\nq2,0,c\nq3,1,d\n")
    data = read_trecqa(tmp_path)
    assert list(data.queries.values()) == ["q1"]
    qid = next(iter(data.queries))
    assert data.top_ranked == {qid: [f"{qid}-a0", f"{qid}-a1"]} and data.qrels == {qid: {f"{qid}-a0": 1}}


# -- suites --------------------------------------------------------------------------------------
def test_suites_and_selection() -> None:
    lite = [t.name for t in select_tasks("mteb-lite")]
    assert lite[0] == "STSBenchmark" and "SciFact" in lite and len(lite) == 9
    assert len(select_tasks("extended")) == 21
    assert [t.name for t in select_tasks("mteb-lite", task_types=["Retrieval"])] == ["SciFact"]
    assert [t.name for t in select_tasks("extended", tasks=["scifact", "MRPC"])] == ["SciFact", "MRPC"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"suite": "mteb-lit"}, 'Unknown suite .*Did you mean "mteb-lite"'),
        ({"suite": "mteb-lite", "tasks": ["SciFacts"]}, 'Unknown task .*Did you mean "SciFact"'),
        ({"suite": "mteb-lite", "tasks": ["MRPC"]}, "use suite 'extended'"),
        ({"suite": "mteb-lite", "task_types": ["Clustring"]}, 'Did you mean "Classification"|Valid task types'),
        ({"suite": "mteb-lite", "tasks": ["SciFact"], "task_types": ["STS"]}, "No task of suite"),
    ],
)
def test_selection_errors(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        select_tasks(**kwargs)


# -- summary -------------------------------------------------------------------------------------
def test_summary_averages_by_hand() -> None:
    def row(task: str, typ: str, score: float) -> TaskScore:
        return TaskScore(task, typ, "test", "m", score, 1.0, False, "x")

    s = summarize([row("a", "STS", 80), row("b", "STS", 70), row("c", "Classification", 60), row("d", "Retrieval", 50)])
    assert s["type_averages"] == {"STS": 75.0, "Classification": 60.0, "Retrieval": 50.0}
    assert s["mean_over_types"] == pytest.approx((75 + 60 + 50) / 3)
    assert s["mean_over_tasks"] == pytest.approx(65.0)
    assert "| **mean over task types** | **61.67** |" in to_markdown(s)


# -- end to end on tiny files: results, summary, cache -------------------------------------------
def _tiny_data_root(root: Path) -> Path:
    sts = root / "stsbenchmark" / "stsbenchmark"
    sts.mkdir(parents=True)
    pairs = [
        ("a man plays guitar", "a man plays a guitar", 4.8),
        ("a cat sleeps", "the stock market fell", 0.2),
        ("kids play football", "children play soccer", 4.0),
        ("a woman cooks", "a woman is dancing", 1.0),
        ("the sun is bright", "it is sunny", 3.6),
    ]
    (sts / "sts-test.csv").write_text(
        "".join(f"g\tf\t2012\t{i:04d}\t{s}\t{a}\t{b}\n" for i, (a, b, s) in enumerate(pairs))
    )
    bank = root / "banking77" / "banking_data"
    bank.mkdir(parents=True)
    (bank / "categories.json").write_text(json.dumps(["card", "cash"]))
    rows = "".join(f"{t} {i},{c}\n" for i in range(12) for t, c in (("lost my card", "card"), ("need cash", "cash")))
    (bank / "train.csv").write_text("text,category\n" + rows)
    (bank / "test.csv").write_text("text,category\nwhere is my card,card\nget cash out,cash\n")
    return root


def test_evaluate_writes_results_and_reuses_cache(tiny_st_dir: Path, tmp_path: Path) -> None:
    root = _tiny_data_root(tmp_path / "data")
    kw = dict(
        suite="mteb-lite",
        tasks=["STSBenchmark", "Banking77Classification"],
        data_root=root,
        cache_dir=tmp_path / "cache",
    )
    lines: list[str] = []
    first = evaluate(tiny_st_dir, out=tmp_path / "run1", progress=lines.append, **kw)  # type: ignore[arg-type]
    assert sorted(p.name for p in (tmp_path / "run1" / "tasks").iterdir()) == [
        "Banking77Classification.json",
        "STSBenchmark.json",
    ]
    saved = json.loads((tmp_path / "run1" / "summary.json").read_text())
    assert saved["tasks"]["STSBenchmark"]["metric"] == "cosine_spearman"
    assert set(saved["type_averages"]) == {"STS", "Classification"}
    assert (tmp_path / "run1" / "summary.md").read_text().startswith("# Evaluation")
    assert first["cache"]["hits"] == 0 and first["cache"]["encoded_texts"] > 0
    assert sorted(p.name for p in (tmp_path / "run1" / "items").iterdir()) == [
        "Banking77Classification.json", "STSBenchmark.json"]  # per-item records, for confidence intervals
    assert any("STSBenchmark: cosine_spearman" in line for line in lines)

    second = evaluate(tiny_st_dir, out=tmp_path / "run2", **kw)  # type: ignore[arg-type]
    assert second["cache"]["encoded_texts"] == 0 and second["cache"]["misses"] == 0
    assert second["cache"]["hits"] == first["cache"]["misses"]
    for t in first["tasks"]:
        assert second["tasks"][t]["score"] == pytest.approx(first["tasks"][t]["score"])


def test_a_record_that_cannot_be_made_leaves_the_score(
    tiny_st_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mote.evaluate import items

    def broken(*args: Any, **kwargs: Any) -> None:
        raise ValueError("the predictions changed shape")

    monkeypatch.setattr(items, "make_record", broken)
    root = _tiny_data_root(tmp_path / "data")
    summary = evaluate(tiny_st_dir, "mteb-lite", tasks=["STSBenchmark"], data_root=root, out=tmp_path / "o",
                       cache_dir=None)
    assert summary["tasks"]["STSBenchmark"]["score"] == summary["tasks"]["STSBenchmark"]["score"]  # not NaN
    assert summary["items"]["without"] == {"STSBenchmark": "ValueError: the predictions changed shape"}
    assert not (tmp_path / "o" / "items").exists()


def test_evaluate_data_root_errors(tiny_st_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="stsbenchmark"):
        evaluate(tiny_st_dir, tasks=["STSBenchmark"], data_root=tmp_path, cache_dir=None)


# -- compare -------------------------------------------------------------------------------------
def _fake_run(folder: Path, scores: dict[str, tuple[str, float]]) -> Path:
    rows = [TaskScore(t, typ, "test", "m", s, 1.0, True, "x") for t, (typ, s) in scores.items()]
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps(summarize(rows)))
    return folder


def test_compare_table_and_chart(tmp_path: Path) -> None:
    base = _fake_run(tmp_path / "base", {"A": ("STS", 80.0), "B": ("Retrieval", 50.0)})
    new = _fake_run(tmp_path / "new", {"A": ("STS", 82.5), "B": ("Retrieval", 49.0)})
    table = compare([base, new], baseline="base", png=tmp_path / "cmp.png")
    assert "| A | 80.00 | 82.50 (+2.50) |" in table
    assert "| B | 50.00 | 49.00 (-1.00) |" in table
    assert "| avg STS | 80.00 | 82.50 (+2.50) |" in table
    assert "**mean over tasks**" in table
    assert (tmp_path / "cmp.png").stat().st_size > 1000
    with pytest.raises(ValueError, match='Did you mean "base"'):
        compare([base, new], baseline="bse", png=None)

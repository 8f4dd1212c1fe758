"""The real shared data (skipped when ../shared/data is absent): every reader against the data README's
counts, and the shared recipes (validated; shared-small built, with its leakage report)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mote.data import load_recipe, read_recipe
from mote.data.examples import LabelledTexts, Pairs
from mote.data.sources import get_source

pytestmark = pytest.mark.shared_data
RECIPES = Path(__file__).resolve().parents[1] / "recipes"


def records(root: Path, name: str, split: str, /, **options: object) -> Pairs | LabelledTexts:
    source = get_source(name)
    return source.load(root / source.path, split, options)


def size(r: Pairs | LabelledTexts) -> int:
    return len(r.texts) if isinstance(r, LabelledTexts) else len(r.examples)


# (source, split, options, rows the reader returns, README count it matches)
LABELLED = [
    ("banking77", "train", {}, 10_003, 77),
    ("banking77", "test", {}, 3_080, 77),
    ("emotion", "train", {}, 16_000, 6),
    ("emotion", "val", {}, 2_000, 6),
    ("emotion", "test", {}, 2_000, 6),
    ("tweeteval", "train", {"subset": "emotion"}, 3_257, 4),
    ("tweeteval", "val", {"subset": "emotion"}, 374, 4),
    ("tweeteval", "test", {"subset": "emotion"}, 1_421, 4),
    ("tweeteval", "train", {"subset": "hate"}, 9_000, 2),
    ("tweeteval", "test", {"subset": "hate"}, 2_970, 2),
    ("tweeteval", "train", {"subset": "offensive"}, 11_916, 2),
    ("tweeteval", "test", {"subset": "offensive"}, 860, 2),
    ("tweeteval", "val", {"subset": "sentiment"}, 2_000, 3),
    ("tweeteval", "test", {"subset": "sentiment"}, 12_284, 3),
    ("trec", "train", {}, 5_452, 6),
    ("trec", "test", {}, 500, 6),
    ("sst", "train", {}, 67_349, 2),
    ("sst", "dev", {}, 872, 2),
    ("sst", "test", {}, 1_821, 2),
    ("sst", "train", {"variant": "fine"}, 8_544, 5),
    ("sst", "test", {"variant": "fine"}, 2_210, 5),
    ("senteval-binary", "all", {"name": "MR"}, 10_662, 2),
    ("senteval-binary", "all", {"name": "CR"}, 3_775, 2),
    ("senteval-binary", "all", {"name": "SUBJ"}, 10_000, 2),
    ("senteval-binary", "all", {"name": "MPQA"}, 10_606, 2),
    ("stackoverflow", "all", {}, 20_000, 20),
    ("searchsnippets", "all", {}, 12_340, 8),
    ("20newsgroups", "train", {}, 11_314, 20),
    ("20newsgroups", "test", {}, 7_532, 20),
]


@pytest.mark.parametrize(("name", "split", "options", "rows", "labels"), LABELLED)
def test_labelled_sources_match_readme(
    shared_data: Path, name: str, split: str, options: dict[str, str], rows: int, labels: int
) -> None:
    r = records(shared_data, name, split, **options)
    assert isinstance(r, LabelledTexts)
    assert (len(r.texts), len(set(r.labels))) == (rows, labels)
    assert not r.texts[0].startswith("\ufeff")


PAIRS = [
    # (source, split, options, examples, reader-level drops): examples + drops = the README's rows
    ("stsb", "train", {}, 5_749, {}),
    ("stsb", "dev", {}, 1_500, {}),
    ("stsb", "test", {}, 1_379, {}),
    ("sick", "train", {}, 4_500, {}),
    ("sick", "trial", {}, 500, {}),
    ("sick", "test", {}, 4_927, {}),
    ("sts12-16", "train", {}, 2_234, {}),
    ("sts12-16", "sts12", {}, 3_108, {}),
    ("sts12-16", "sts13", {}, 1_500, {"gold file without input (STS.gs.SMT.txt)": 750}),
    ("sts12-16", "sts14", {}, 3_750, {}),
    ("sts12-16", "sts15", {}, 3_000, {"unscored pair (blank gold line)": 5_500}),
    # README says 440 for STS16; its two gold files hold 254 + 249 scored lines
    ("sts12-16", "sts16", {}, 503, {"unscored pair (blank gold line)": 2_567}),
    ("mrpc", "train", {}, 2_407, {"non-paraphrase pair (unused)": 1_169}),  # 3,576 rows
    ("mrpc", "val", {}, 346, {"non-paraphrase pair (unused)": 154}),  # 500
    ("mrpc", "test", {}, 1_147, {"non-paraphrase pair (unused)": 578}),  # 1,725
    ("pubmedqa", "train", {}, 500, {"PubMedQA test id (leakage rule 4)": 500}),
    ("pubmedqa", "test", {}, 500, {}),
    ("scifact", "train", {}, 919, {}),
    ("flickr8k", "all", {"pairs_per_image": 2}, 16_184, {}),  # 8,092 images (40,460 captions / 5) x 2 pairs
    ("flickr8k", "train", {"pairs_per_image": 1}, 6_000, {"caption of a non-train image": 10_460}),
]


@pytest.mark.parametrize(("name", "split", "options", "examples", "drops"), PAIRS)
def test_pair_sources_match_readme(
    shared_data: Path, name: str, split: str, options: dict[str, int], examples: int, drops: dict[str, int]
) -> None:
    r = records(shared_data, name, split, **options)
    assert isinstance(r, Pairs)
    assert len(r.examples) == examples and dict(r.dropped) == drops


def test_twitter_pit_votes(shared_data: Path) -> None:
    r = records(shared_data, "twitter-pit", "dev")
    assert isinstance(r, Pairs)
    assert len(r.examples) == 522 + 537 + 411  # (3, 2), (4, 1), (5, 0) of the 4,727 pairs
    assert r.dropped["debatable votes (2, 3)"] == 585


def test_snli_trecqa_scifact_details(shared_data: Path) -> None:
    for split, rows in (("dev", 9_842), ("test", 9_824)):
        r = records(shared_data, "snli", split)
        assert isinstance(r, Pairs)
        negatives_per_premise = {e.anchor: len(e.negatives) for e in r.examples}
        contradictions = sum(negatives_per_premise.values())
        contradictions += r.dropped["contradiction whose premise has no entailment (unused)"]
        assert len(r.examples) + r.dropped["neutral pair (unused)"] + contradictions == rows
    for split, questions in (("train", 93), ("dev", 81), ("test", 95)):
        r = records(shared_data, "trecqa", split)
        assert isinstance(r, Pairs)
        assert len({e.anchor for e in r.examples}) + r.dropped["question without a correct answer"] == questions
    sf = records(shared_data, "scifact", "train")
    assert isinstance(sf, Pairs) and len({e.anchor for e in sf.examples}) == 807  # 809 claim ids, 2 repeated texts
    assert all(len(e.positive) > 100 for e in sf.examples)


@pytest.fixture(scope="module")
def small(shared_data: Path) -> Iterator[dict]:  # type: ignore[type-arg]
    yield load_recipe(RECIPES / "shared-small.yaml", data_root=shared_data)


def test_shared_small_recipe(small: dict) -> None:  # type: ignore[type-arg]
    report = small.report  # type: ignore[attr-defined]
    by_task = report.rows_by_task()
    assert set(by_task) == {"query", "similarity", "classification", "clustering"}
    assert all(2_500 <= n <= 3_500 for n in by_task.values()), by_task
    assert 11_000 <= sum(by_task.values()) <= 14_000  # ~10 minutes at ~1,300 pairs/min
    excluded = {d.name for d in report.datasets if d.excluded}
    assert excluded == {"scifact", "sick", "stackoverflow"}
    assert not report.missing_evaluations
    flickr = next(d for d in report.datasets if d.name == "flickr8k")
    assert flickr.leakage.by_evaluation["SICK-R"] > 0 and flickr.leakage.by_evaluation["STS15"] > 0  # rule 2


def test_shared_recipes_validate(shared_data: Path) -> None:
    for name in ("shared-small.yaml", "shared-full.yaml"):
        recipe, root = read_recipe(RECIPES / name)
        assert recipe.evaluate_scifact and recipe.dedupe_against_eval
        assert root == shared_data.resolve()

"""The pipeline report splits in-domain from unseen evaluation tasks and compares with the best dense rival
(issue 14: report changes that need no retraining). References are written by hand."""

from __future__ import annotations

import pytest

from mote.data.leakage import eval_domains
from mote.data.recipe import Recipe
from mote.pipeline.intervals import best_dense
from mote.pipeline.report import domain_table, rivals_of, split_means, variant_means


def _recipe(datasets: dict[str, dict[str, object]], **flags: object) -> Recipe:
    return Recipe.model_validate({"datasets": datasets, **flags})


def test_a_task_is_in_domain_when_its_source_or_a_near_duplicate_corpus_was_trained_on() -> None:
    recipe = _recipe({"sts12-train": {"source": "sts12-16"}, "banking77": {}, "trecqa": {}, "scifact": {}},
                     evaluate_scifact=True)
    got = eval_domains(recipe, ["STS12", "STSBenchmark", "Banking77Classification", "TrecQADev", "MRPC",
                                "WikiQADev", "TweetEvalHate", "SciFact"])
    assert got == {
        "STS12": "in-domain",  # another split of a trained source
        "STSBenchmark": "in-domain",  # built from STS12-16 sentences: a near-duplicate corpus
        "Banking77Classification": "in-domain",
        "TrecQADev": "in-domain",
        "MRPC": "unseen",
        "WikiQADev": "unseen",
        "TweetEvalHate": "unseen",
        "SciFact": "unseen",  # in the recipe, but excluded while SciFact is evaluated: never trained on
    }


def test_sick_is_in_domain_when_flickr_captions_were_trained_on() -> None:
    assert eval_domains(_recipe({"flickr8k": {}}), ["SICK-R"]) == {"SICK-R": "in-domain"}
    assert eval_domains(_recipe({"banking77": {}}), ["SICK-R"]) == {"SICK-R": "unseen"}


def test_unknown_task_is_an_error() -> None:
    with pytest.raises(ValueError, match='Did you mean "MRPC"'):
        eval_domains(_recipe({"banking77": {}}), ["MRCP"])


ROWS = {  # per-task means over seeds, as aggregate() writes them
    "base": {"tasks": {"STS12": 70.0, "Banking77Classification": 80.0, "MRPC": 84.0, "WikiQADev": 68.0,
                       "TweetEvalHate": 50.0}, "mean_over_types": (70.0, None)},
    "joint-instr": {"tasks": {"STS12": 78.0, "Banking77Classification": 82.0, "MRPC": 85.0, "WikiQADev": 66.0,
                              "TweetEvalHate": 49.0}, "mean_over_types": (72.0, 0.2)},
    "joint-noinstr": {"tasks": {"STS12": 77.0, "Banking77Classification": 83.0, "MRPC": 86.0, "WikiQADev": 69.0,
                                "TweetEvalHate": 50.0}, "mean_over_types": (73.0, None)},
    "mote": {"tasks": {"STS12": 79.0, "Banking77Classification": 84.0, "MRPC": 86.0, "WikiQADev": 70.0,
                       "TweetEvalHate": 52.0}, "mean_over_types": (74.0, 0.3)},
}
DOMAINS = {"STS12": "in-domain", "Banking77Classification": "in-domain", "MRPC": "unseen", "WikiQADev": "unseen",
           "TweetEvalHate": "unseen"}


def test_split_means_average_over_task_types_within_each_domain() -> None:
    got = split_means(ROWS, DOMAINS)
    # in-domain: STS (79) and Classification (84) -> 81.5; unseen: PairClassification 86, Reranking 70,
    # Classification 52 -> (86 + 70 + 52) / 3 = 69.333...
    assert got["mote"]["in-domain"] == pytest.approx(81.5)
    assert got["mote"]["unseen"] == pytest.approx(208 / 3)
    assert got["base"]["unseen"] == pytest.approx((84 + 68 + 50) / 3)


def test_best_dense_rival_is_the_best_dense_variant_of_each_mean() -> None:
    means = variant_means(ROWS, DOMAINS)
    assert best_dense(means, "all tasks") == "joint-noinstr"  # 73.0 beats joint-instr's 72.0; mote is not dense
    assert best_dense({"mote": means["mote"]}, "all tasks") is None
    # per mean: joint-instr is the better dense variant in-domain here, joint-noinstr on unseen tasks
    means["joint-instr"]["in-domain"] = 80.5
    assert rivals_of(means) == {"all tasks": "joint-noinstr", "in-domain": "joint-instr", "unseen": "joint-noinstr"}


def test_domain_table_reports_both_means_and_deltas_against_base_and_best_dense() -> None:
    table = domain_table(ROWS, DOMAINS)
    mote = next(line for line in table.splitlines() if line.startswith("| mote |"))
    # in-domain 81.50, vs base (75.00) +6.50, vs joint-noinstr (80.00) +1.50; unseen 69.33, vs base 67.33 +2.00,
    # vs joint-noinstr (68.33) +1.00
    assert mote == "| mote | – | 81.50 | +6.50 | +1.50 | 69.33 | +2.00 | +1.00 |"
    assert "2 in-domain tasks" in table and "3 unseen tasks" in table
    assert "best dense rival per mean (the dense trained variant scoring highest there): in-domain joint-noinstr, " \
           "unseen joint-noinstr" in table


def test_tasks_left_out_of_training_do_not_make_their_sources_in_domain() -> None:
    # the 4-expert preset trains no similarity data: STS is out of scope, so unseen
    recipe = _recipe({"sts12-train": {"source": "sts12-16"}, "banking77": {}})
    assert eval_domains(recipe, ["STS12", "Banking77Classification"], task_set=["classification"]) == {
        "STS12": "unseen", "Banking77Classification": "in-domain"}


def test_a_variant_missing_a_task_gets_no_mean_for_that_domain() -> None:
    rows = {"base": ROWS["base"], "mote": {**ROWS["mote"], "tasks": {k: v for k, v in ROWS["mote"]["tasks"].items()
                                                                     if k != "WikiQADev"}}}
    got = split_means(rows, DOMAINS)
    assert "unseen" not in got["mote"] and got["mote"]["in-domain"] == pytest.approx(81.5)
    assert "| mote | – | 81.50 | +6.50 | – | – | – | – |" in domain_table(rows, DOMAINS)

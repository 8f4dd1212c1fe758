"""Issue 12: ratio resampling, exact budgets for the separate models, configurable task sets with
out-of-scope task types served by another expert."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

import pytest
from torch.utils.data import BatchSampler, ConcatDataset, SequentialSampler

from mote.model.sentence import load, mote_model
from mote.pipeline.config import PipelineConfig
from mote.tasks import TaskSet
from mote.train.run import split_steps, train
from mote.train.sampler import WeightedBatchSampler, ratio_probabilities

sys.path.insert(0, str(Path(__file__).parent))
from train_helpers import config, synthetic_datasets

NAMES = ["msmarco", "nq", "sts", "banking"]
SIZES = [900, 100, 300, 60]
TASK_OF = {"msmarco": "query", "nq": "query", "sts": "similarity", "banking": "classification"}


def test_ratio_probabilities_by_hand() -> None:
    # no ratios: each task 1/3; the query share split 900:100 over its two datasets
    assert ratio_probabilities(NAMES, SIZES, TASK_OF, None) == pytest.approx([0.3, 1 / 30, 1 / 3, 1 / 3])
    # task ratios 2:1:1 -> query 0.5 (0.45 + 0.05), similarity 0.25, classification 0.25
    got = ratio_probabilities(NAMES, SIZES, TASK_OF, {"query": 2, "similarity": 1, "classification": 1})
    assert got == pytest.approx([0.45, 0.05, 0.25, 0.25])
    # a dataset's own ratio wins over its task's; the rest of the task keeps the task ratio
    got = ratio_probabilities(NAMES, SIZES, TASK_OF, {"nq": 1, "query": 1, "similarity": 1, "classification": 1})
    assert got == pytest.approx([0.25, 0.25, 0.25, 0.25])
    with pytest.raises(ValueError, match='Did you mean "similarity"'):
        ratio_probabilities(NAMES, SIZES, TASK_OF, {"similarty": 1})
    with pytest.raises(ValueError, match="no ratio for dataset 'banking'.*missing tasks: \\['classification'\\]"):
        ratio_probabilities(NAMES, SIZES, TASK_OF, {"query": 1, "similarity": 1})


def test_weighted_sampler_up_and_down_samples() -> None:
    sets = [list(range(400)), list(range(40))]
    samplers = [BatchSampler(SequentialSampler(s), 4, drop_last=True) for s in sets]
    sampler = WeightedBatchSampler(ConcatDataset(sets), samplers, seed=1, probabilities=[0.5, 0.5])
    batches = list(sampler)
    assert len(batches) == 110 and batches == list(sampler)
    share = Counter(int(b[0] >= 400) for b in batches)[1] / len(batches)
    assert 0.35 < share < 0.65  # the 40-row dataset (10 batches) is drawn ~55 times: up-sampled, repeated


def test_ratio_sampling_trains(tiny_st_dir: Path, tmp_path: Path) -> None:
    summary = train(config(tiny_st_dir, tmp_path / "run", mode="joint", max_steps=4, sampling="ratio"),
                    synthetic_datasets())
    assert summary["steps"] == 4


def test_split_steps_is_exact() -> None:
    assert split_steps(150, ["query", "similarity", "classification", "clustering"]) == {
        "classification": 38, "clustering": 38, "query": 37, "similarity": 37}
    assert sum(split_steps(150, ["a", "b", "c", "d"]).values()) == 150
    with pytest.raises(ValueError, match="cannot be split over 4"):
        split_steps(3, ["a", "b", "c", "d"])


def test_separate_split_budget_sees_exactly_the_budget(tiny_st_dir: Path, tmp_path: Path) -> None:
    cfg = config(tiny_st_dir, tmp_path / "sep", mode="separate", max_steps=8, split_budget=True)
    summary = train(cfg, synthetic_datasets())
    steps = {t: s["steps"] for t, s in summary["models"].items()}
    assert steps == {"classification": 3, "query": 3, "similarity": 2}
    assert sum(s["examples_seen"] for s in summary["models"].values()) == 8 * cfg.train.batch_size


def test_task_set_serves_out_of_scope_types() -> None:
    ts = TaskSet.from_names(["query", "document", "classification", "clustering"],
                            serves={"classification": ["STS", "PairClassification"]})
    assert ts.for_mteb("STS", None) == "classification" and ts.for_mteb("PairClassification", None) == "classification"
    assert ts.prompts()["STS"] == "classification: "  # dense models route STS the same way
    with pytest.raises(ValueError, match="No task of"):
        TaskSet.from_names(["query", "document"]).for_mteb("STS", None)
    with pytest.raises(ValueError, match="mapped to both"):  # STS already belongs to similarity
        TaskSet.from_names(["similarity", "classification"], serves={"classification": ["STS"]})
    with pytest.raises(ValueError, match="Unknown task in serves"):
        TaskSet.from_names(["query"], serves={"clustering": ["STS"]})


def test_out_of_scope_training_leaves_the_task_out(tiny_st_dir: Path, tmp_path: Path) -> None:
    cfg = config(tiny_st_dir, tmp_path / "run", max_steps=2)
    cfg = cfg.model_validate(cfg.model_dump() | {
        "model": cfg.model.model_dump() | {"tasks": ["query", "document", "classification"],
                                           "serves": {"classification": ["STS"]}},
        "data": cfg.data.model_dump() | {"tasks": ["query", "document", "classification"]},
    })
    summary = train(cfg, synthetic_datasets())
    assert set(summary["datasets"]) == {"retrieval", "labels"}  # the similarity data is left out
    model = load(tmp_path / "run" / "final")
    assert mote_model(model).config.tasks.for_mteb("STS", None) == "classification"
    with pytest.raises(ValueError, match="Unknown task in data.tasks"):
        cfg.model_validate(cfg.model_dump() | {"data": cfg.data.model_dump() | {"tasks": ["similarity"]}})


def test_pipeline_task_set_validation() -> None:
    cfg = PipelineConfig.model_validate({"recipe": "r", "output_dir": "o", "task_set": ["query", "document"],
                                         "serves": {"document": ["STS"]}})
    assert cfg.task_set == ["query", "document"]
    with pytest.raises(ValueError, match="Unknown task in serves"):
        PipelineConfig.model_validate({"recipe": "r", "output_dir": "o", "task_set": ["query", "document"],
                                       "serves": {"similarity": ["STS"]}})
    with pytest.raises(ValueError, match="Unknown task in 'tasks'"):
        PipelineConfig.model_validate({"recipe": "r", "output_dir": "o", "task_set": ["query", "document"],
                                       "tasks": {"similarity": {}}})


def test_every_preset_config_loads() -> None:
    from mote.pipeline.config import load_pipeline_config
    from mote.train.config import load_config

    repo = Path(__file__).resolve().parents[1]
    for path in sorted((repo / "configs").glob("pipeline-*.yaml")):
        load_pipeline_config(path)
    for path in sorted((repo / "configs").glob("train-*.yaml")):
        load_config(path)
    scope = load_pipeline_config(repo / "configs" / "pipeline-cpu-4experts.yaml")
    assert "similarity" not in (scope.task_set or []) and scope.serves["classification"][0] == "STS"


def test_docs_do_not_claim_the_paper_chose_the_blocks() -> None:
    from mote.model.upcycle import select_layers

    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    assert "as in the paper: blocks 1, 3, 5" not in readme and "does not say which half" in readme
    assert select_layers("every-other", 6) == [1, 3, 5] and select_layers("0,2,4", 6) == [0, 2, 4]

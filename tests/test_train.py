"""Training: routing during training, resume after SIGKILL, non-finite loss, config, samplers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import load_file

from mote.model.routing import TaskExperts
from mote.model.sentence import encode, load, mote_model
from mote.train.config import load_config
from mote.train.run import train
from mote.train.sampler import TemperatureBatchSampler, temperature_probabilities
from mote.train.trainer import NonFiniteLossError

sys.path.insert(0, str(Path(__file__).parent))
from train_helpers import config, synthetic_datasets

HERE = Path(__file__).parent


def _expert_params(model: object) -> dict[tuple[int, int], torch.Tensor]:
    out = {}
    for b, bank in enumerate(m for m in mote_model(model).modules() if isinstance(m, TaskExperts)):  # type: ignore[arg-type]
        for e, expert in enumerate(bank.experts):
            out[(b, e)] = torch.cat([p.detach().flatten() for p in expert.parameters()])
    return out


def test_mote_training_routes_each_task_to_its_expert(tiny_st_dir: Path, tmp_path: Path) -> None:
    summary = train(config(tiny_st_dir, tmp_path / "run", max_steps=6, sampling="round-robin"), synthetic_datasets())
    assert summary["steps"] == 6
    from mote.model.sentence import upcycle

    before = _expert_params(upcycle(str(tiny_st_dir), layers="all"))
    model = load(tmp_path / "run" / "final")
    assert model.max_seq_length == 64  # the base's length, not the training length (32)
    after = _expert_params(model)
    # experts 0-3 (query, document, similarity, classification) trained; 4 (clustering) had no data
    for (b, e), p in after.items():
        changed = not torch.equal(p, before[(b, e)])
        assert changed == (e != 4), (b, e)
    for task in ("query", "document", "clustering"):
        assert encode(model, ["alpha beta"], task=task).shape == (1, 32)
    metrics = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    seen = {k for m in metrics for k in m if k.startswith("loss/")}
    assert seen == {"loss/query", "loss/similarity", "loss/classification"}
    assert (tmp_path / "run" / "final" / "mote_train_config.yaml").is_file()
    curve = json.loads((tmp_path / "run" / "train_summary.json").read_text())["loss_first_vs_last_quarter"]
    assert set(curve) == {"dataset/retrieval", "dataset/sts", "dataset/labels", "task/query", "task/similarity",
                          "task/classification"}
    assert all(v["steps"] == 2 for v in curve.values())


def test_existing_run_needs_resume(tiny_st_dir: Path, tmp_path: Path) -> None:
    train(config(tiny_st_dir, tmp_path / "run", max_steps=3), synthetic_datasets())
    with pytest.raises(FileExistsError, match="--resume"):
        train(config(tiny_st_dir, tmp_path / "run", max_steps=3), synthetic_datasets())


def _run(base: Path, out: Path, steps: int, resume: bool = False) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, str(HERE / "train_script.py"), str(base), str(out), str(steps)] + (
        ["--resume"] if resume else []
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}  # tiny model: one thread is fastest
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)


def _final_weights(out: Path) -> dict[str, torch.Tensor]:
    return load_file(str(out / "final" / "model.safetensors"))


def _batches(out: Path) -> list[tuple[int, str]]:
    rows = [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]
    return [(r["step"], r["batch"]) for r in rows]


def test_resume_after_sigkill_matches_uninterrupted_run(tiny_st_dir: Path, tmp_path: Path) -> None:
    steps = 40
    ref = _run(tiny_st_dir, tmp_path / "ref", steps)
    assert ref.wait(timeout=300) == 0, ref.stderr.read().decode()[-3000:]  # type: ignore[union-attr]

    killed = _run(tiny_st_dir, tmp_path / "killed", steps)
    deadline = time.time() + 240
    while not (tmp_path / "killed" / "checkpoint-10").exists():
        assert killed.poll() is None, "the run finished before it could be killed; make it longer"
        assert time.time() < deadline
        time.sleep(0.02)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed" / "final").exists()
    resumed = _run(tiny_st_dir, tmp_path / "killed", steps, resume=True)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read().decode()[-3000:]  # type: ignore[union-attr]

    a, b = _final_weights(tmp_path / "ref"), _final_weights(tmp_path / "killed")
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) <= 1e-6
    # no example skipped or repeated: the same batches, step by step
    assert _batches(tmp_path / "ref") == _batches(tmp_path / "killed")
    assert len(_batches(tmp_path / "ref")) == steps


def test_non_finite_loss_stops_and_keeps_checkpoint(tiny_st_dir: Path, tmp_path: Path) -> None:
    data = synthetic_datasets()
    cfg = config(
        tiny_st_dir,
        tmp_path / "run",
        max_steps=6,
        save_steps=1,
        sampling="round-robin",
        tasks={"query": {"temperature": 1e-40}},
    )
    with pytest.raises(NonFiniteLossError, match=r"step \d+ \(dataset 'retrieval', task 'query'\)"):
        train(cfg, {"sts": data["sts"], "retrieval": data["retrieval"]})
    assert (tmp_path / "run" / "checkpoint-1" / "model.safetensors").is_file()


def test_joint_and_separate_modes(tiny_st_dir: Path, tmp_path: Path) -> None:
    data = synthetic_datasets()
    joint = train(config(tiny_st_dir, tmp_path / "joint", mode="joint", max_steps=3), data)
    assert joint["mode"] == "joint"
    model = load(tmp_path / "joint" / "final")
    assert model.prompts["query"] == "search_query: "  # instruction-conditioned dense model
    sep = train(config(tiny_st_dir, tmp_path / "sep", mode="separate", max_steps=2), data)
    assert set(sep["models"]) == {"query", "similarity", "classification"}
    for task in sep["models"]:
        assert (tmp_path / "sep" / "separate" / task / "final" / "model.safetensors").is_file()


def test_default_instructions_follow_the_base(tiny_st_dir: Path, tmp_path: Path) -> None:
    """instructions: auto (the default) -> the tiny base declares no prompts -> no prefixes: a joint model saves
    none, and a MoTE model's tasks carry none (training and encode agree)."""
    from mote.model.sentence import mote_model

    data = synthetic_datasets()
    train(config(tiny_st_dir, tmp_path / "joint", mode="joint", max_steps=2, instructions="auto"), data)
    assert not any(load(tmp_path / "joint" / "final").prompts.values())  # ST 6 lists query/document as ""
    train(config(tiny_st_dir, tmp_path / "mote", max_steps=2, instructions="auto"), data)
    tasks = mote_model(load(tmp_path / "mote" / "final")).config.tasks
    assert not tasks.instructed and [t.instruction for t in tasks.tasks] == [""] * 5


def test_freeze_shared_trains_only_the_experts(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.model.sentence import upcycle

    train(config(tiny_st_dir, tmp_path / "run", max_steps=3, freeze="shared"), synthetic_datasets())
    before = upcycle(str(tiny_st_dir), layers="all").state_dict()
    after = load(tmp_path / "run" / "final").state_dict()
    experts = [k for k in after if ".experts." in k]
    shared = [k for k in after if ".experts." not in k and "position_ids" not in k]
    assert experts and shared
    assert all(torch.equal(after[k], before[k]) for k in shared)  # every shared weight is the base's
    assert any(not torch.equal(after[k], before[k]) for k in experts)
    with pytest.raises(ValueError, match="freeze: 'shared' freezes everything but the experts"):
        config(tiny_st_dir, tmp_path / "j", mode="joint", freeze="shared")


def test_config_validation(tmp_path: Path) -> None:
    (tmp_path / "c.yaml").write_text("data: {recipe: r.yaml}\ntrain: {output_dir: o, max_stepz: 3}\n")
    with pytest.raises(ValueError, match="max_stepz"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("data: {recipe: r.yaml}\ntrain: {output_dir: o}\ntasks: {qury: {}}\n")
    with pytest.raises(ValueError, match='Did you mean "query"'):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "c.yaml").write_text("data: {recipe: r.yaml}\ntrain: {output_dir: o}\n")
    cfg = load_config(tmp_path / "c.yaml", ["train.max_steps=7", "tasks.query.temperature=0.01", "train.static=true"])
    assert cfg.train.max_steps == 7 and cfg.tasks["query"].temperature == 0.01
    assert cfg.task_training("query").temperature == cfg.default.temperature  # static: one setting for all
    with pytest.raises(ValueError, match="key=value"):
        load_config(tmp_path / "c.yaml", ["train.max_steps"])
    # a data recipe given as the config trains a MoTE model with the defaults
    (tmp_path / "my-recipe.yaml").write_text("datasets: {banking77: {}}\n")
    cfg = load_config(tmp_path / "my-recipe.yaml", ["train.max_steps=5"])
    assert cfg.data.recipe == str(tmp_path / "my-recipe.yaml") and cfg.model.mode == "mote"
    assert cfg.train.output_dir == str(Path("runs") / "my-recipe") and cfg.train.max_steps == 5


def test_temperature_sampler() -> None:
    assert temperature_probabilities([100, 1], 1.0) == pytest.approx([100 / 101, 1 / 101])
    assert temperature_probabilities([100, 1], 0.0) == pytest.approx([0.5, 0.5])
    assert temperature_probabilities([100, 1], 0.5) == pytest.approx([10 / 11, 1 / 11])
    from torch.utils.data import BatchSampler, ConcatDataset, SequentialSampler

    sets = [list(range(400)), list(range(100))]
    samplers = [BatchSampler(SequentialSampler(s), 4, drop_last=True) for s in sets]
    sampler = TemperatureBatchSampler(ConcatDataset(sets), samplers, seed=3, alpha=0.0)
    batches = list(sampler)
    assert len(batches) == 125 and batches == list(sampler)  # deterministic per seed and epoch
    counts = Counter(int(b[0] >= 400) for b in batches)
    assert abs(counts[0] / 125 - 0.5) < 0.15  # alpha 0: both datasets drawn about equally


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.distributed
def test_ddp_two_cpu_ranks_stay_identical(tiny_st_dir: Path, tmp_path: Path) -> None:
    """2 gloo ranks; round-robin single-task batches put different tasks (experts) on the two ranks in a
    step, which must neither hang nor desynchronise DDP."""
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), str(HERE / "ddp_script.py"), str(tiny_st_dir), str(out), "6"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == ranks[1]["world"] == 2
    assert ranks[0]["steps"] == ranks[1]["steps"] == 6
    assert ranks[0]["digest"] == ranks[1]["digest"]
    # and the run really trained several experts (different tasks on different ranks/steps)
    steps = [json.loads(x) for x in (out / "batches.jsonl").read_text().splitlines()]
    assert len({s["dataset"] for s in steps}) >= 2


def test_mixed_batching_routes_each_row(tiny_st_dir: Path, tmp_path: Path) -> None:
    """batching: mixed merges the tasks' datasets; a batch then holds query and classification rows, each
    routed to its own expert with its own instruction and temperature."""
    from mote.train.collator import MoteDataCollator
    from mote.train.datasets import MIXED, prepare
    from mote.train.run import build_model, task_set

    data = synthetic_datasets()
    cfg = config(tiny_st_dir, tmp_path / "run", max_steps=4,
                 tasks={"query": {"batching": "mixed", "temperature": 0.02},
                        "classification": {"batching": "mixed", "temperature": 0.1}})
    tasks = task_set(cfg)
    model = build_model(cfg, tasks)
    prepared = prepare({"retrieval": data["retrieval"], "labels": data["labels"]}, cfg, model, tasks, routed=True)
    assert list(prepared.datasets) == [MIXED]
    ds = prepared.datasets[MIXED]
    # the labelled set has no hard negatives, so the merged set keeps the common 0 negative columns
    assert len(ds) == 96 and ds.column_names[:3] == ["anchor", "positive", "label"]
    labels = ds["label"]
    assert all(v < 0 for v in labels[:48]) and sorted(set(labels[48:])) == [0, 1, 2]  # unlabeled never masked
    collate = MoteDataCollator(preprocess_fn=model.preprocess, task_names=tasks.names,
                               instructions=dict(tasks.prompts()))
    batch = collate([ds[0], ds[60]])
    assert batch["anchor_task_ids"].tolist() == [0, 3] and batch["positive_task_ids"].tolist() == [1, 3]
    assert model.tokenizer.decode(batch["anchor_input_ids"][0]).startswith("[CLS] search _ query :")
    loss = prepared.losses[MIXED]
    loss._set_row_temperature([{"task_ids": batch["anchor_task_ids"]}])
    assert loss._row_temperature.tolist() == pytest.approx([0.02, 0.1])
    summary = train(cfg, {"retrieval": data["retrieval"], "labels": data["labels"]})
    assert summary["steps"] == 4 and summary["task_of"] == {MIXED: MIXED}


def test_mixed_batching_rejects_scored_pairs(tiny_st_dir: Path, tmp_path: Path) -> None:
    cfg = config(tiny_st_dir, tmp_path / "run", tasks={"similarity": {"batching": "mixed"}})
    with pytest.raises(ValueError, match="cannot join a mixed batch"):
        train(cfg, {"sts": synthetic_datasets()["sts"]})


@pytest.mark.distributed
def test_accelerate_launch_two_cpu_processes(tiny_st_dir: Path, tmp_path: Path) -> None:
    """accelerate's multi-CPU launcher goes through mpirun (Debian: openmpi-bin)."""
    import shutil

    if shutil.which("mpirun") is None:
        pytest.skip("accelerate launch on several CPU processes needs mpirun: apt-get install openmpi-bin")
    out = tmp_path / "acc"
    (tmp_path / "hostfile").write_text("localhost slots=2\n")
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--config_file",
           str(HERE.parent / "configs" / "accelerate-cpu-2proc.yaml"), "--mpirun_hostfile", str(tmp_path / "hostfile"),
           "--main_process_port", str(_free_port()), str(HERE / "ddp_script.py"), str(tiny_st_dir), str(out), "4"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env)
    assert res.returncode == 0, res.stderr[-4000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["world"] == 2 and ranks[0]["digest"] == ranks[1]["digest"]


def test_evaluation_during_training_scores_mteb_tasks(tiny_st_dir: Path, tmp_path: Path, shared_data: Path) -> None:
    """train.eval scores an MTEB task every N steps through sentence-transformers' evaluator hook: the scores
    reach the summary, the log and the card, and equal what `mote evaluate` gives the saved checkpoint."""
    from mote.evaluate import evaluate

    cfg = config(tiny_st_dir, tmp_path / "run", max_steps=4, save_steps=4, learning_rate=5e-3,
                 eval={"tasks": ["STSBenchmark"], "steps": 4, "data_root": str(shared_data), "select_best": False})
    summary = train(cfg, synthetic_datasets(n=32))
    rows = summary["evaluations"]
    assert [r["step"] for r in rows] == [4] and rows[0]["mean"] == rows[0]["STSBenchmark"]
    # the reference: mote evaluate on the saved final model, fp32, at the training length the evaluator saw
    model = load(tmp_path / "run" / "final")
    model.max_seq_length = 32
    model.save(str(tmp_path / "at-32"))
    ref = evaluate(tmp_path / "at-32", "extended", tasks=["STSBenchmark"], data_root=shared_data, precision="fp32",
                   cache_dir=None)
    assert abs(ref["tasks"]["STSBenchmark"]["score"] - rows[0]["STSBenchmark"]) < 0.01
    card = (tmp_path / "run" / "final" / "README.md").read_text(encoding="utf-8")
    assert "### Evaluation (mote evaluate" in card and f"| STSBenchmark | {rows[0]['STSBenchmark']:.2f} |" in card


def test_select_best_keeps_the_best_checkpoint_not_the_last(tiny_st_dir: Path, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """With select_best, the final model is the checkpoint whose mean score was best (here the first one)."""
    from types import SimpleNamespace

    from safetensors.torch import load_file

    import mote.evaluate.run
    from mote.model.weights import weights_dir

    scores = iter([80.0, 50.0])  # step 3 best, step 6 worse
    monkeypatch.setattr(mote.evaluate.run, "run_task",
                        lambda *a, **k: (SimpleNamespace(score=next(scores)), None, None))
    (tmp_path / "data" / "stsbenchmark").mkdir(parents=True)
    cfg = config(tiny_st_dir, tmp_path / "run", max_steps=6, save_steps=3, save_total_limit=2, learning_rate=5e-3,
                 eval={"tasks": ["STSBenchmark"], "steps": 3, "data_root": str(tmp_path / "data")})
    summary = train(cfg, synthetic_datasets(n=32))
    assert [(r["step"], r["mean"]) for r in summary["evaluations"]] == [(3, 80.0), (6, 50.0)]
    assert summary["best_checkpoint"] == str(tmp_path / "run" / "checkpoint-3")
    final = load_file(weights_dir(tmp_path / "run" / "final") / "model.safetensors")
    best = load_file(weights_dir(tmp_path / "run" / "checkpoint-3") / "model.safetensors")
    last = load_file(weights_dir(tmp_path / "run" / "checkpoint-6") / "model.safetensors")
    assert all(torch.equal(final[k], best[k]) for k in final)
    assert not all(torch.equal(final[k], last[k]) for k in final)
    state = json.loads((tmp_path / "run" / "checkpoint-6" / "trainer_state.json").read_text())
    assert state["best_model_checkpoint"] == str(tmp_path / "run" / "checkpoint-3")  # not the staging path


def test_report_to_tensorboard_writes_event_files(tiny_st_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("tensorboardX")
    train(config(tiny_st_dir, tmp_path / "run", max_steps=2, save_steps=2, report_to="tensorboard"),
          synthetic_datasets(n=16))
    events = list((tmp_path / "run" / "runs").rglob("events.out.tfevents.*"))
    assert events and events[0].stat().st_size > 0


@pytest.mark.parametrize(
    ("train_fields", "match"),
    [
        ({"report_to": "tensorbord"}, 'Did you mean "tensorboard"'),
        ({"report_to": ["none", "tensorboard"]}, "'none' cannot be combined"),
        ({"save_steps": 3, "eval": {"tasks": ["STSBenchmark"], "steps": 2}}, "multiple of train.eval.steps"),
    ],
)
def test_report_and_eval_settings_are_checked(tiny_st_dir: Path, tmp_path: Path, train_fields: dict[str, Any],
                                              match: str) -> None:
    with pytest.raises(ValueError, match=match):
        config(tiny_st_dir, tmp_path / "run", **train_fields)

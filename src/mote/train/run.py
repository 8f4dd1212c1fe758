"""``mote train``: config -> data -> model (up-cycled or dense) -> sentence-transformers trainer -> model.

Reads top to bottom: :func:`train` builds everything and runs one trainer per model (one for ``mote``
and ``joint``, one per task for ``separate``).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import yaml
from datasets import Dataset
from sentence_transformers import SentenceTransformer, SentenceTransformerTrainingArguments
from sentence_transformers.base.sampler import MultiDatasetBatchSamplers
from transformers import TrainerState

from mote.model.io import atomic_dir, atomic_write_text
from mote.model.resolve import declared_prompts, display_name, resolve_model
from mote.model.sentence import card_facts, save, upcycle
from mote.runtime import Runtime, resolve, setup
from mote.tasks import AUTO, TaskSet
from mote.train.callbacks import JsonlMetrics, loss_curve_summary
from mote.train.collator import MoteDataCollator
from mote.train.config import TrainConfig
from mote.train.datasets import prepare
from mote.train.resume import INPUTS_FILE, check_run_folder, checkpoint_step, complete_checkpoint, input_digests
from mote.train.sampler import (
    TemperatureBatchSampler,
    WeightedBatchSampler,
    no_duplicates_sampler,
    ratio_probabilities,
)
from mote.train.trainer import BATCHES_FILE, MoteTrainer

log = logging.getLogger(__name__)
CONFIG_FILE = "mote_train_config.yaml"


def task_set(config: TrainConfig) -> TaskSet:
    """The task table of a run: its tasks, each with the prefix of the chosen instruction set (``auto``: the
    base's declared prompts) and the overrides."""
    choice = config.model.instructions
    prompts = declared_prompts(resolve_model(config.model.base)) if choice == AUTO else None
    return TaskSet.from_names(config.model.tasks, config.model.instruction_overrides, serves=config.model.serves,
                              instruction_set=choice, base_prompts=prompts)


def load_data(config: TrainConfig) -> dict[str, Dataset]:
    """The recipe's datasets (``mote.data``), capped per dataset when configured."""
    from mote.data.recipe import load_recipe

    datasets: dict[str, Dataset] = load_recipe(config.data.recipe, data_root=config.data.data_root)
    cap = config.data.max_examples_per_dataset
    if cap:
        datasets = {k: d.select(range(min(cap, len(d)))) for k, d in datasets.items()}
    return datasets


def select_tasks(datasets: dict[str, Dataset], config: TrainConfig) -> dict[str, Dataset]:
    """Keep the datasets of ``data.tasks`` (default: all). A dataset whose task is not in ``model.tasks``
    is an error naming both fixes, never a silent drop."""
    wanted = config.data.tasks
    if wanted is None:
        return datasets
    groups = group_by_task(datasets)
    kept = {name: ds for task, group in groups.items() if task in wanted for name, ds in group.items()}
    dropped = sorted(name for task, group in groups.items() if task not in wanted for name in group)
    if dropped:
        log.info("data.tasks %s: leaving out %s", wanted, dropped)
    if not kept:
        raise ValueError(f"data.tasks {wanted} keeps none of the recipe's datasets (their tasks: {sorted(groups)}).")
    return kept


def check_model_section(config: TrainConfig) -> None:
    """``model.base`` resolves and, for MoTE, ``model.layers`` names blocks the base has (cheap: reads configs)."""
    from mote.model.io import read_json
    from mote.model.upcycle import select_layers
    from mote.model.weights import weights_dir

    base = resolve_model(config.model.base)
    if config.model.mode != "mote" or not Path(base).is_dir():
        return
    n_layers = read_json(weights_dir(base) / "config.json").get("num_hidden_layers")
    if isinstance(n_layers, int):
        try:
            select_layers(config.model.layers, n_layers)
        except ValueError as e:
            raise ValueError(f"model.layers: {e}") from None


def build_model(config: TrainConfig, tasks: TaskSet) -> SentenceTransformer:
    base = resolve_model(config.model.base)
    if config.model.mode == "mote":
        model = upcycle(base, tasks, layers=config.model.layers)
    else:
        model = SentenceTransformer(base, device="cpu")
        model.prompts = dict(tasks.prompts()) if tasks.instructed else {}
    model.eval_max_seq_length = model.max_seq_length  # type: ignore[attr-defined,assignment]  # restored before saving
    model.max_seq_length = config.model.max_seq_length
    for name, param in model.named_parameters():
        # HF's pooler head: sentence-transformers never uses it, so it gets no gradient; freeze: shared trains
        # the experts only
        if ".pooler." in name or (config.train.freeze == "shared" and ".experts." not in name):
            param.requires_grad_(False)
    return model


EVAL_NAME = "mteb"  # evaluation-during-training metrics: eval_mteb_<task>, eval_mteb_mean


def training_arguments(
    config: TrainConfig, output_dir: Path, rt: Runtime | None = None
) -> SentenceTransformerTrainingArguments:
    t = config.train
    rt = rt or resolve(t.precision, t.device)
    sampler: Any = {
        "proportional": MultiDatasetBatchSamplers.PROPORTIONAL,
        "round-robin": MultiDatasetBatchSamplers.ROUND_ROBIN,
        "temperature": functools.partial(TemperatureBatchSampler, alpha=config.data.alpha),
        "ratio": MultiDatasetBatchSamplers.PROPORTIONAL,  # replaced in _fit, once the datasets are known
    }[config.data.sampling]
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return SentenceTransformerTrainingArguments(
        output_dir=str(output_dir),
        per_device_train_batch_size=t.batch_size,
        max_steps=t.max_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        warmup_steps=int(t.warmup_ratio * t.max_steps),
        lr_scheduler_type="linear",
        seed=t.seed,
        bf16=rt.precision == "bf16",
        fp16=rt.precision == "fp16",
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        logging_steps=t.logging_steps,
        batch_sampler=no_duplicates_sampler,
        multi_dataset_batch_sampler=sampler,
        dataloader_drop_last=t.dataloader_drop_last,
        report_to=t.report_to,
        eval_strategy="steps" if t.eval is not None else "no",
        eval_steps=t.eval.steps if t.eval is not None else None,
        load_best_model_at_end=bool(t.eval is not None and t.eval.select_best),
        metric_for_best_model=f"{EVAL_NAME}_mean" if t.eval is not None and t.eval.select_best else None,
        greater_is_better=True if t.eval is not None and t.eval.select_best else None,
        use_cpu=rt.device == "cpu",  # so accelerate sets up multi-CPU DDP under torchrun
        ddp_backend="gloo" if distributed and rt.device == "cpu" else None,
        # every expert joins each forward under DDP (see TaskExperts._unused_zero); the pooler is frozen
        ddp_find_unused_parameters=False,
        disable_tqdm=False,
    )


def _finished(output_dir: Path, config: TrainConfig) -> dict[str, Any] | None:
    """The saved summary of a run that already finished (final model, summary, last checkpoint at max_steps),
    marked ``already_finished``; None when there is training left."""
    done = output_dir / "train_summary.json"
    if not ((output_dir / "final").is_dir() and done.is_file()):
        return None
    summary: dict[str, Any] = json.loads(done.read_text(encoding="utf-8"))
    if int(summary.get("steps", 0)) < config.train.max_steps:
        return None
    log.info("resume: the run in %s already finished (%d of %d steps); nothing to train, its summary is kept.",
             output_dir, summary["steps"], config.train.max_steps)
    return {**summary, "already_finished": True}


def _fit(
    config: TrainConfig,
    model: SentenceTransformer,
    raw: dict[str, Dataset],
    tasks: TaskSet,
    output_dir: Path,
    resume: bool,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    if resume and (done := _finished(output_dir, config)) is not None:
        return done
    main_process = int(os.environ.get("RANK", "0")) == 0
    checkpoint = complete_checkpoint(output_dir, main_process) if resume else None
    if checkpoint is None and resume:
        log.info("resume: no checkpoint in %s yet; starting from the beginning.", output_dir)
    prepared = prepare(raw, config, model, tasks, routed=config.model.mode == "mote")
    rt = setup(config.train.precision, config.train.device, config.train.threads, what="train")
    args = training_arguments(config, output_dir, rt)
    args.router_mapping = prepared.router_mapping
    args.prompts = prepared.prompts
    if config.data.sampling == "ratio":
        names = list(prepared.datasets)
        probabilities = ratio_probabilities(
            names, [len(prepared.datasets[n]) for n in names], prepared.task_of, config.data.ratios
        )
        log.info("ratio sampling: %s", {n: round(p, 4) for n, p in zip(names, probabilities, strict=True)})
        args.multi_dataset_batch_sampler = functools.partial(WeightedBatchSampler, probabilities=probabilities)
    collator = MoteDataCollator(
        preprocess_fn=model.preprocess,
        router_mapping=args.router_mapping,
        prompts=args.prompts,
        task_names=tasks.names,
        instructions=dict(tasks.prompts()) if tasks.instructed else {},
        routed=config.model.mode == "mote",
    )
    evaluator = None
    if config.train.eval is not None:
        from mote.train.evaluator import MtebEvaluator

        e = config.train.eval
        evaluator = MtebEvaluator(e.tasks, e.data_root, e.suite, e.batch_size, name=EVAL_NAME)
    trainer = MoteTrainer(
        model=model,
        args=args,
        evaluator=evaluator,
        data_collator=collator,
        train_dataset=prepared.datasets,
        loss=prepared.losses,
        task_of=prepared.task_of,
        callbacks=[
            JsonlMetrics(output_dir / "metrics.jsonl", also_truncate=(output_dir / BATCHES_FILE,)),
            *(callbacks or []),
        ],
    )
    start = time.perf_counter()
    if checkpoint is not None and checkpoint_step(checkpoint) >= config.train.max_steps:
        # killed after its last checkpoint, before the final model: publish that checkpoint (training on from
        # it would run a step past max_steps)
        log.info("resume: %s is the last step (%d); saving it as the final model.", checkpoint, config.train.max_steps)
        trainer._load_from_checkpoint(checkpoint)
        trainer.state = TrainerState.load_from_json(str(Path(checkpoint) / "trainer_state.json"))
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        train_loss = float(sum(losses) / len(losses)) if losses else float("nan")
    else:
        train_loss = trainer.train(resume_from_checkpoint=checkpoint).training_loss
    seconds = time.perf_counter() - start
    # the training length is a training setting: the saved model keeps the base's length, so every variant
    # is evaluated at one length (a model saved at 128 would silently truncate long documents later)
    model.max_seq_length = getattr(model, "eval_max_seq_length", model.max_seq_length)
    if trainer.args.should_save:
        with atomic_dir(output_dir / "final", overwrite=True) as tmp:
            save(model, tmp, _card_facts(config, trainer, prepared.datasets, args, rt))
            (tmp / CONFIG_FILE).write_text(yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False))
    summary = {
        "mode": config.model.mode,
        "steps": trainer.state.global_step,
        "train_seconds": round(seconds, 2),
        "train_loss": train_loss,
        "examples_seen": trainer.state.global_step * config.train.batch_size * max(1, args.world_size),
        "resumed_from": checkpoint,
        "device": rt.device,
        "precision": rt.precision,
        "precision_reason": rt.reason,
        "datasets": {k: len(v) for k, v in prepared.datasets.items()},
        "task_of": prepared.task_of,
        "loss_first_vs_last_quarter": loss_curve_summary(output_dir / BATCHES_FILE),
    }
    if config.train.eval is not None:
        summary["evaluations"] = evaluations(trainer.state.log_history)
        summary["best_checkpoint"] = trainer.state.best_model_checkpoint
        summary["best_metric"] = trainer.state.best_metric
    if trainer.args.should_save:
        atomic_write_text(output_dir / "train_summary.json", json.dumps(summary, indent=2) + "\n")
    return summary


def evaluations(log_history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The evaluation-during-training rows of the trainer's log history: step and score per task (x100)."""
    prefix = f"eval_{EVAL_NAME}_"
    return [{"step": h.get("step"), **{k.removeprefix(prefix): v for k, v in h.items() if k.startswith(prefix)}}
            for h in log_history if f"{prefix}mean" in h]


def _card_facts(config: TrainConfig, trainer: Any, datasets: dict[str, Any], args: Any, rt: Runtime
                ) -> dict[str, Any]:
    """What the trained model's card says about it and its training (data, budget, evaluations)."""
    model, steps = trainer.model, trainer.state.global_step
    t = config.train
    training = {
        "mode": config.model.mode,
        "instructions": config.model.instructions,
        "recipe": config.data.recipe,
        "datasets (examples)": {k: len(v) for k, v in datasets.items()},
        "sampling": config.data.sampling,
        "steps": steps,
        "batch size": t.batch_size * max(1, args.world_size),
        "examples seen": steps * t.batch_size * max(1, args.world_size),
        "learning rate": t.learning_rate,
        "max_seq_length (training)": config.model.max_seq_length,
        "precision": rt.precision,
        "seed": t.seed,
    }
    if t.freeze != "none":
        training["frozen"] = t.freeze
    extra: dict[str, Any] = {"training": training}
    rows = evaluations(trainer.state.log_history)
    if rows:
        best = trainer.state.best_model_checkpoint
        step = int(best.rsplit("-", 1)[-1]) if best else rows[-1]["step"]
        chosen = next((r for r in rows if r["step"] == step), rows[-1])
        training["final model"] = f"checkpoint of step {step} (best mean score)" if best else f"step {steps}"
        extra["evaluation"] = {k: v for k, v in chosen.items() if k not in ("step", "mean")}
    if config.model.mode == "mote":
        return card_facts(model, **extra)
    method = {"joint": "joint multi-task training (one dense model for every task)",
              "separate": "single-task training (one of the task models of a separate run)"}[config.model.mode]
    return card_facts(model, kind="dense", method=method, base_model=display_name(config.model.base),
                      tags=[f"mote-{config.model.mode}"], **extra)


def train(
    config: TrainConfig,
    datasets: dict[str, Dataset] | None = None,
    resume: bool = False,
    callbacks: list[Any] | None = None,
) -> dict[str, Any]:
    """Train as configured; returns a summary. ``datasets`` overrides the recipe (tests, notebooks);
    ``callbacks`` are extra transformers ``TrainerCallback`` objects."""
    setup(config.train.precision, config.train.device, config.train.threads, what="train")
    check_model_section(config)  # a missing base or a bad layer spec fails before the data is read
    tasks = task_set(config)
    out = Path(config.train.output_dir)
    check_run_folder(out, config.model_dump(mode="json"), resume, CONFIG_FILE)  # before writing anything
    if resume and config.model.mode != "separate" and (done := _finished(out, config)) is not None:
        return done  # nothing to train: not even the data is read
    raw = select_tasks(datasets if datasets is not None else load_data(config), config)
    out.mkdir(parents=True, exist_ok=True)
    settings = config.model_dump(mode="json")
    atomic_write_text(out / CONFIG_FILE, yaml.safe_dump(settings, sort_keys=False))
    atomic_write_text(out / INPUTS_FILE, json.dumps(input_digests(settings), indent=2) + "\n")
    if config.model.mode != "separate":
        return _fit(config, build_model(config, tasks), raw, tasks, out, resume, callbacks)
    summaries = {}
    groups = group_by_task(raw)
    steps = split_steps(config.train.max_steps, sorted(groups)) if config.train.split_budget else {}
    for task, group in groups.items():
        log.info("separate: training the %r model on %s", task, sorted(group))
        model = build_model(config, tasks)
        cfg = config
        if steps:  # this model's share of the budget, its checkpoints and logs scaled to it
            n = steps[task]
            cfg = config.model_copy(deep=True)
            cfg.train.max_steps = n
            cfg.train.save_steps = min(config.train.save_steps, max(1, n // 2))
            cfg.train.logging_steps = min(config.train.logging_steps, max(1, n // 10))
        summaries[task] = _fit(cfg, model, group, tasks, out / "separate" / task, resume, callbacks)
    return {"mode": "separate", "models": summaries}


def split_steps(total: int, tasks: list[str]) -> dict[str, int]:
    """``total`` optimizer steps split over the task models exactly: the remainder goes one step each to the
    first tasks (sorted), so the steps sum to ``total``."""
    if total < len(tasks):
        raise ValueError(f"train.max_steps {total} cannot be split over {len(tasks)} task models ({tasks}); "
                         f"give at least {len(tasks)} steps or set train.split_budget=false.")
    q, r = divmod(total, len(tasks))
    return {t: q + (1 if i < r else 0) for i, t in enumerate(sorted(tasks))}


def group_by_task(raw: dict[str, Dataset]) -> dict[str, dict[str, Dataset]]:
    """Datasets grouped by the anchor's task (retrieval query->document datasets group under 'query')."""
    groups: dict[str, dict[str, Dataset]] = {}
    for name, ds in raw.items():
        cols = ds.column_names
        task = str(ds[0]["anchor_task"] if "anchor_task" in cols else ds[0]["task"])
        groups.setdefault(task, {})[name] = ds
    return groups

"""``mote pipeline``: make and evaluate every variant x seed, cached by config hash, then write the report.

A variant's folder is ``output_dir/variants/<name>/seed<seed>-<hash>``; it is finished when its
``result.json`` exists, so a rerun skips finished variants and an interrupted one resumes (training resumes
from its last checkpoint).
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import yaml

from mote import __version__
from mote._errors import unknown_name
from mote.model.io import atomic_write_text
from mote.model.resolve import resolve_model
from mote.pipeline.config import PipelineConfig
from mote.pipeline.report import write_report
from mote.pipeline.variants import Variant, all_variants

log = logging.getLogger(__name__)
KIND_ORDER = {"base": 0, "train": 1, "separate": 1, "average": 2, "merge": 3}


def _file_digest(path: str) -> str:
    p = Path(path)
    return hashlib.sha256(p.read_bytes()).hexdigest()[:16] if p.is_file() else path


def _payload(config: PipelineConfig, variant: Variant, seed: int, with_eval: bool) -> dict[str, Any]:
    from mote.data.recipe import DATA_VERSION

    source = all_variants().get(variant.source or "")
    source_hash = (variant_hash if with_eval else build_hash)(config, source, seed) if source else None
    described = asdict(variant)
    del described["counterpart"]  # whom the report compares it with: changes no model, so no hash
    if not described["parameters"]:  # a later field: absent from older hashes, so their cached models stay valid
        del described["parameters"]
    payload = {
        "variant": described,
        "source": source_hash,
        "base": config.base,
        "recipe": _file_digest(config.recipe),
        "data_root": config.data_root,
        "budget": config.budget.model_dump() | {"precision": _resolved(config.budget.precision, config.device)},
        "tasks": {k: v.model_dump() for k, v in sorted(config.tasks.items())},
        "alpha": config.temperature_alpha,
        "ratios": config.ratios,
        "task_set": config.task_set,
        "serves": config.serves,
        "seed": seed,
        "merge": _merge_settings(config, variant),
        "mote": __version__,
        "data": DATA_VERSION,
    }
    if with_eval:
        payload["eval"] = _eval_settings(config)
    return payload


def _digest(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()[:10]


def _eval_settings(config: PipelineConfig) -> dict[str, Any]:
    return config.eval.model_dump() | {"precision": _resolved(config.eval.precision, config.device)}


def build_hash(config: PipelineConfig, variant: Variant, seed: int) -> str:
    """Hash of everything that determines the variant's *model* (the job folder): a changed evaluation
    re-evaluates the cached model instead of building it again."""
    return _digest(_payload(config, variant, seed, with_eval=False))


def eval_hash(config: PipelineConfig) -> str:
    """Hash of the evaluation settings a result was scored with, and of the per-item record format its
    evaluation saved (a result scored before records existed is re-scored: its intervals need them)."""
    from mote.evaluate.items import FORMAT

    return _digest(_eval_settings(config) | {"items": FORMAT})


def variant_hash(config: PipelineConfig, variant: Variant, seed: int) -> str:
    """Hash of everything that determines the variant's result, evaluation included: the job folder name of
    the first pipelines (read to reuse their models, see :func:`job_folder`)."""
    return _digest(_payload(config, variant, seed, with_eval=True))


def job_folder(config: PipelineConfig, variant: Variant, seed: int,
               previous_evals: Sequence[dict[str, Any]] = (), migrate: bool = True) -> Path:
    """The variant's job folder, named by :func:`build_hash`.

    A folder of the older layout (named by :func:`variant_hash`, evaluation included) holds a model built with
    the same settings when its name matches the current config with the current or any earlier evaluation
    settings of this output folder (``previous_evals``, see :func:`_eval_history`): it is renamed to the new
    name so the model is reused. Its result's paths are rewritten first, in place, then the folder renamed, so
    an interrupted migration is redone by the next run.
    """
    root = Path(config.output_dir) / "variants" / variant.name
    new_name = f"seed{seed}-{build_hash(config, variant, seed)}"
    folder = root / new_name
    if folder.exists() or not migrate:
        return folder
    candidates = [config]
    for settings in previous_evals:
        try:  # settings an older mote accepted, or a precision this machine cannot run: skip them
            candidates.append(config.model_copy(update={"eval": type(config.eval).model_validate(settings)}))
        except ValueError:
            continue
    for cfg in candidates:
        try:
            old_name = f"seed{seed}-{variant_hash(cfg, variant, seed)}"
        except ValueError:
            continue
        legacy = root / old_name
        if (legacy / "result.json").is_file():
            text = (legacy / "result.json").read_text(encoding="utf-8")
            # paths into the folder, relative or absolute, end in VARIANT/OLD_NAME: that segment is renamed
            moved = json.loads(text.replace(f"{variant.name}/{old_name}", f"{variant.name}/{new_name}"))
            moved["eval_hash"] = moved.get("eval_hash") or eval_hash(cfg)
            atomic_write_text(legacy / "result.json", json.dumps(moved, indent=2) + "\n")
            legacy.rename(folder)
            break
    return folder


def _resolved(precision: str, device: str) -> str:
    """The precision ``auto`` stands for on this machine: results differ by precision, so the cache key does."""
    from mote.runtime import resolve

    rt = resolve(precision, device)
    return f"{rt.device}/{rt.precision}"


def check_eval_selection(config: PipelineConfig) -> None:
    """The evaluation's suite, tasks and task types exist (an error names the key and the valid names)."""
    from mote.evaluate.suites import select_tasks

    try:
        select_tasks(config.eval.suite, config.eval.tasks, config.eval.task_types)
    except ValueError as e:
        raise ValueError(f"eval: {e}") from None


def plan(config: PipelineConfig, only: list[str] | None = None) -> list[tuple[Variant, int]]:
    """(variant, seed) jobs, sources before derived variants, key variants with the extra seeds."""
    variants = all_variants()
    names = list(only or config.selected())
    for name in names:
        if name not in variants:
            raise unknown_name("variant", name, variants, "Name variants as in the config's `variants` list.")
    for name in list(names):  # derived variants need their source
        src = variants[name].source
        if src and src not in names:
            names.append(src)
    jobs = []
    for name in sorted(names, key=lambda n: KIND_ORDER[variants[n].kind]):
        v = variants[name]
        key = config.is_key(name) or _is_source_of_key(config, v, names)
        seeds = list(dict.fromkeys(config.seeds + (config.key_seeds if key else [])))
        if v.kind == "base":  # untrained: every seed is the same model, and the evaluation is deterministic
            seeds = seeds[:1]
        jobs += [(v, s) for s in seeds]
    return jobs


def _is_source_of_key(config: PipelineConfig, v: Variant, names: list[str]) -> bool:
    return any(d.source == v.name and config.is_key(d.name) for d in all_variants().values() if d.name in names)


def _merge_settings(config: PipelineConfig, variant: Variant) -> dict[str, Any] | None:
    if variant.method is None:
        return None
    m = config.merge
    return {"parameters": config.merge_parameters(variant.method, variant), "probe_size": m.probe_size,
            "seed": m.probe_seed, "precision": _resolved(config.budget.precision, config.device)}


def _train_config(config: PipelineConfig, variant: Variant, seed: int, out: Path) -> Any:
    from mote.train.config import TrainConfig

    b = config.budget
    model: dict[str, Any] = {"base": config.base, "max_seq_length": b.max_seq_length, "serves": config.serves}
    data: dict[str, Any] = {
        "model": model | ({"tasks": config.task_set} if config.task_set else {}),
        "data": {"recipe": config.recipe, "data_root": config.data_root, "alpha": config.temperature_alpha,
                 "ratios": config.ratios, "tasks": config.task_set},
        "train": {
            "output_dir": str(out),
            "batch_size": b.batch_size,
            "max_steps": b.max_steps,
            "learning_rate": b.learning_rate,
            "mini_batch_size": b.mini_batch_size,
            "warmup_ratio": b.warmup_ratio,
            "precision": b.precision,
            "device": config.device,
            "seed": seed,
            "save_steps": max(10, b.max_steps // 4),
            "logging_steps": max(1, b.max_steps // 20),
        },
        "tasks": {k: v.model_dump() for k, v in config.tasks.items()},
    }
    for section, values in variant.train.items():
        data[section].update(values)
    return TrainConfig.model_validate(data)


def build_variant(
    config: PipelineConfig, variant: Variant, seed: int, folder: Path, sources: dict[tuple[str, int], dict[str, Any]]
) -> tuple[str, dict[str, Any]]:
    """Make the variant's model; returns its folder and facts for the report (train time, examples)."""
    if variant.kind == "base":
        return resolve_model(config.base), {"train_seconds": 0.0, "examples_seen": 0}
    if variant.kind == "train":
        from mote.train.run import train

        summary = train(_train_config(config, variant, seed, folder / "train"), resume=True)
        return str(folder / "train" / "final"), {
            "train_seconds": summary["train_seconds"],
            "examples_seen": summary["examples_seen"],
            "precision": summary.get("precision"),
        }
    if variant.kind == "average":
        from mote.model.sentence import average, load

        src = sources[(variant.source or "", seed)]
        start = time.perf_counter()
        average(load(src["model_dir"]), out=folder / "model", overwrite=True)
        return str(folder / "model"), {
            "train_seconds": src["train_seconds"],
            "examples_seen": src["examples_seen"],
            "derive_seconds": time.perf_counter() - start,
        }
    if variant.kind == "separate":
        return _train_separate(config, variant, seed, folder)
    if variant.kind == "merge":
        return _merge(config, variant, seed, folder, sources[(variant.source or "", seed)])
    raise ValueError(f"Variant kind {variant.kind!r} is not supported by this version of mote.")


def _train_separate(config: PipelineConfig, variant: Variant, seed: int, folder: Path) -> tuple[str, dict[str, Any]]:
    """One model per task group; the budget (steps) is split exactly between them so examples seen match."""
    from mote.train.run import train

    cfg = _train_config(config, variant, seed, folder / "train")
    cfg.train.split_budget = True
    summary = train(cfg, resume=True)
    models = {task: str(folder / "train" / "separate" / task / "final") for task in summary["models"]}
    return str(folder / "train" / "separate"), {
        "train_seconds": sum(s["train_seconds"] for s in summary["models"].values()),
        "examples_seen": sum(s["examples_seen"] for s in summary["models"].values()),
        "models": models,
        "steps_per_model": {t: s["steps"] for t, s in summary["models"].items()},
        "precision": next(iter(summary["models"].values())).get("precision"),
    }


def write_probe(config: PipelineConfig, path: Path) -> Path:
    """A probe JSONL sampled from the recipe's training data: ``probe_size`` rows split evenly over tasks."""
    rows = _probe_rows(config.recipe, config.data_root, config.merge.probe_size, config.merge.probe_seed)
    atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return path


@functools.lru_cache(maxsize=4)
def _probe_rows(recipe: str, data_root: str | None, size: int, seed: int) -> tuple[dict[str, Any], ...]:
    """Loaded once per pipeline run (every merge variant and seed shares the probe), not once per merge.

    Rows keep what the task's training loss needs (``score`` for CoSENT/AnglE, ``label`` and ``dataset``
    for the same-label mask); each task's share is split evenly over its scored and unscored rows, so
    every kind the task trained on is probed (at least 2 rows each)."""
    import random

    from mote.data.recipe import load_recipe
    from mote.train.run import group_by_task

    groups = group_by_task(load_recipe(recipe, data_root=data_root))
    rng = random.Random(seed)
    per_task = max(2, size // len(groups))
    rows: list[dict[str, Any]] = []
    for task, datasets in sorted(groups.items()):
        kinds: dict[bool, list[tuple[str, int]]] = {}
        for name, ds in sorted(datasets.items()):
            kinds.setdefault("score" in ds.column_names, []).extend((name, i) for i in range(len(ds)))
        share = max(2, per_task // len(kinds))
        for _, pool in sorted(kinds.items()):
            for name, i in rng.sample(pool, min(share, len(pool))):
                ex = datasets[name][i]
                row: dict[str, Any] = {
                    "anchor": ex["anchor"], "positive": ex["positive"], "task": task, "dataset": name,
                    "anchor_task": ex.get("anchor_task") or task, "positive_task": ex.get("positive_task") or task,
                }
                if ex.get("score") is not None:
                    row["score"] = float(ex["score"])
                if ex.get("label") is not None:
                    row["label"] = str(ex["label"])
                rows.append(row)
    return tuple(rows)


def _merge(
    config: PipelineConfig, variant: Variant, seed: int, folder: Path, src: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    from mote.merge.config import MergeConfig
    from mote.merge.run import REPORT, run_merge

    assert variant.method is not None
    probe = write_probe(config, folder / "probe.jsonl")
    common: dict[str, Any] = {
        "method": variant.method,
        "parameters": config.merge_parameters(variant.method, variant),
        "probe": {"jsonl": str(probe), "size": None},
        "out": str(folder / "model"),
        "overwrite": True,
        "device": config.device,
        "precision": config.budget.precision,  # a learned merge is training: the budget's precision
    }
    if variant.source == "separate":
        tasks = sorted(src["models"])
        cfg = MergeConfig(base=config.base, models=[src["models"][t] for t in tasks], model_tasks=tasks, **common)
    else:
        from mote.model.sentence import load, mote_model

        tasks = list(mote_model(load(src["model_dir"])).config.tasks.names)
        cfg = MergeConfig(mote_model=src["model_dir"], **common)
    out = run_merge(cfg)
    report = json.loads((out / REPORT).read_text())
    return str(out), {
        "train_seconds": src["train_seconds"],
        "examples_seen": src["examples_seen"],
        "derive_seconds": report["wall_time_s"],
        "learned": report.get("learned"),
        "merge_tasks": tasks,
    }


def run_variant(
    config: PipelineConfig,
    variant: Variant,
    seed: int,
    sources: dict[tuple[str, int], dict[str, Any]],
    say: Callable[[str], None],
    previous_evals: Sequence[dict[str, Any]] = (),
) -> dict[str, Any]:
    from mote.evaluate import evaluate
    from mote.model.sentence import info, load

    digest = build_hash(config, variant, seed)
    folder = job_folder(config, variant, seed, previous_evals)
    done = folder / "result.json"
    scored_with = eval_hash(config)
    cached: dict[str, Any] | None = json.loads(done.read_text()) if done.is_file() else None
    current = cached is not None and (not variant.evaluated or cached.get("eval_hash") == scored_with)
    if not current and config.archive:  # _restore gives only an entry scored with these settings
        restored = _restore(config, variant, seed, digest, folder, say)
        if restored is not None:
            return restored
    if cached is not None and current:
        if not cached.get("restored_from_archive"):
            say(f"{variant.name} (seed {seed}): cached ({folder})")
        return cached
    if cached is not None and not _model_present(cached):  # scores of other settings, and no model to rescore
        cached = None
    if cached is not None:  # built already; the evaluation settings changed
        model_dir = resolve_model(config.base) if variant.kind == "base" else cached["model_dir"]
        facts = {k: cached[k] for k in BUILD_FACTS if k in cached}
        say(f"{variant.name} (seed {seed}): built already, evaluation settings changed")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        if variant.source:
            ensure_model(config, variant.source, seed, sources, say)
        say(f"{variant.name} (seed {seed}): building ({variant.description})")
        model_dir, facts = build_variant(config, variant, seed, folder, sources)
        if variant.source and sources[(variant.source, seed)].get("rebuilt_model_differs"):
            facts["source_rebuilt"] = True  # made from a rebuild that differs from the archived (scored) source
        facts["machine"] = _machine()
    if not variant.evaluated:  # a source only (the separate models): nothing to score
        result = {"variant": variant.name, "seed": seed, "hash": digest, "kind": variant.kind,
                  "model_dir": model_dir, **facts}
        result["model_digest"] = model_digest(result)
        atomic_write_text(done, json.dumps(result, indent=2) + "\n")
        return result
    report = info(load(model_dir))
    say(f"{variant.name} (seed {seed}): evaluating on {config.eval.suite}")
    e = config.eval
    summary = evaluate(
        model_dir,
        e.suite,
        tasks=e.tasks,
        task_types=e.task_types,
        data_root=e.data_root,
        out=folder / "eval",
        overwrite=True,  # the job's own folder: a job killed after evaluating is evaluated again
        precision=e.precision,
        device=config.device,
        batch_size=e.batch_size,
    )
    result = {
        "variant": variant.name,
        "seed": seed,
        "hash": digest,
        "kind": variant.kind,
        "model_dir": model_dir,
        **facts,
        "total_params": report.total_params,
        "active_params": report.active_params,
        "eval_max_seq_length": summary.get("settings", {}).get("max_seq_length"),
        "type_averages": summary["type_averages"],
        "mean_over_types": summary["mean_over_types"],
        "mean_over_tasks": summary["mean_over_tasks"],
        "tasks": {k: v["score"] for k, v in summary["tasks"].items()},
        "eval_seconds": summary["timing"].get("total_seconds"),
        "eval_precision": summary.get("settings", {}).get("precision"),
        "eval_hash": scored_with,
    }
    if variant.kind != "base":
        result["model_digest"] = model_digest(result)
    atomic_write_text(done, json.dumps(result, indent=2) + "\n")
    return result


def _restore(config: PipelineConfig, variant: Variant, seed: int, digest: str, folder: Path,
             say: Callable[[str], None]) -> dict[str, Any] | None:
    """The job's archived result written into ``folder`` (scores and per-item records, no model), or None."""
    from mote.pipeline import archive

    assert config.archive is not None
    entry = archive.load(config.archive, variant.name, seed, digest)
    if entry is None:
        others = sorted(p.name for p in (Path(config.archive) / variant.name).glob(f"seed{seed}-*.json.gz"))
        if others:  # e.g. another precision (CPU kind), budget or mote data version: said, never silent
            say(f"{variant.name} (seed {seed}): the archive holds {', '.join(others)} but not seed{seed}-{digest} "
                "(other build settings: precision, budget, data version...); building it")
        return None
    if variant.evaluated and entry["result"].get("eval_hash") != eval_hash(config):
        say(f"{variant.name} (seed {seed}): archived with other evaluation settings; building and scoring it")
        return None
    say(f"{variant.name} (seed {seed}): restored from the archive "
        f"({archive.entry_path(config.archive, variant.name, seed, digest)})")
    return archive.restore(entry, folder)


def _model_present(result: dict[str, Any]) -> bool:
    if result.get("kind") == "base":
        return True
    paths = [result.get("model_dir"), *(result.get("models") or {}).values()]
    return all(p and Path(p).exists() for p in paths)


def ensure_model(config: PipelineConfig, name: str, seed: int, sources: dict[tuple[str, int], dict[str, Any]],
                 say: Callable[[str], None]) -> None:
    """A source job restored from the archive has its scores but not its model: a derived job needs the model,
    so it is built again in the source's job folder with the same settings and seed (and its source's, in
    turn). The archived scores are kept; the result records the model's new place."""
    src = sources[(name, seed)]
    if _model_present(src):
        return
    variant = all_variants()[name]
    folder = job_folder(config, variant, seed, migrate=False)
    if variant.source:
        ensure_model(config, variant.source, seed, sources, say)
    say(f"{name} (seed {seed}): building its model again for a derived variant (its scores are the archived ones)")
    model_dir, facts = build_variant(config, variant, seed, folder, sources)
    src["model_dir"] = model_dir
    if "models" in facts:
        src["models"] = facts["models"]
    rebuilt = model_digest(src)
    if src.get("model_digest") and rebuilt != src["model_digest"]:
        log.warning("%s (seed %d): the rebuilt model differs from the archived one (another machine or library "
                    "version?): its archived scores are of the first model, the derived variant is made from the "
                    "rebuilt one.", name, seed)
        src["rebuilt_model_differs"] = True
    src["model_digest"] = rebuilt
    atomic_write_text(folder / "result.json", json.dumps(src, indent=2) + "\n")


def model_digest(result: dict[str, Any]) -> str:
    """sha256 (16 hex) of the safetensors weights of a result's model(s): a rebuilt model is compared with it."""
    h = hashlib.sha256()
    folders = list((result.get("models") or {}).values()) or [result["model_dir"]]  # separate: its models only
    for folder in folders:
        for f in sorted(Path(folder).rglob("*.safetensors")):
            with f.open("rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 22), b""):  # type: ignore[misc]
                    h.update(block)
    return h.hexdigest()[:16]


def _archive(config: PipelineConfig, variant: Variant, seed: int, result: dict[str, Any],
             say: Callable[[str], None]) -> None:
    """Add a finished job to the config's archive unless the archive holds it with the same scores' settings."""
    from mote.pipeline import archive

    if not config.archive or result.get("restored_from_archive"):
        return
    digest = build_hash(config, variant, seed)
    try:
        held = archive.load(config.archive, variant.name, seed, digest)
    except ValueError:
        held = None  # a damaged entry is replaced by the job it stands for
    if held is not None and held["result"].get("eval_hash") == result.get("eval_hash"):
        return
    path = archive.save(config.archive, result, job_folder(config, variant, seed, migrate=False), digest)
    say(f"{variant.name} (seed {seed}): archived ({path})")


# what building a model records (kept when only the evaluation is redone); the rest of a result is scores
BUILD_FACTS = ("train_seconds", "examples_seen", "precision", "derive_seconds", "learned", "merge_tasks",
               "models", "steps_per_model", "machine", "source_rebuilt")


def _machine() -> dict[str, str]:
    """Where a job was built (the CPU of ``machine_info``): a matrix that outlives one machine mixes CPUs, and
    the report says which."""
    from mote.evaluate.summary import machine_info

    m = machine_info()
    return {"cpu": m["cpu"], "cpu_kind": m["cpu_kind"]}


def run_pipeline(
    config: PipelineConfig,
    only: list[str] | None = None,
    say: Callable[[str], None] = print,
    report_only: bool = False,
) -> Path:
    """Run every (variant, seed) job (cached), then write REPORT.md, report.json and the plot.

    ``report_only``: build nothing; report the jobs already finished and list the missing ones (a partial
    report of a long run, honestly labelled). With ``config.archive``, archived jobs are restored instead of
    run again and every finished job is added to the archive (:mod:`mote.pipeline.archive`)."""
    out = Path(config.output_dir)
    jobs = plan(config, only)
    check_eval_selection(config)  # before any job runs: a typo in eval.tasks must not cost a training run
    from mote.runtime import resolve

    resolve(config.budget.precision, config.device)  # fp16 on a CPU, cuda without a GPU: refused before any write
    resolve(config.eval.precision, config.device)
    previous_evals = _eval_history(out, config, record=not report_only)
    if not report_only:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "pipeline_config.yaml", yaml.safe_dump(config.model_dump(mode="json"),
                                                                       sort_keys=False))
    results: dict[tuple[str, int], dict[str, Any]] = {}
    eval_dirs: dict[tuple[str, int], Path] = {}  # where each result's evaluation (and per-item records) lies
    missing: list[str] = []
    for i, (variant, seed) in enumerate(jobs, 1):
        if report_only:
            done = job_folder(config, variant, seed, previous_evals, migrate=False) / "result.json"
            if not done.is_file():  # the older layout, by the full hash
                done = out / "variants" / variant.name / f"seed{seed}-{variant_hash(config, variant, seed)}" / \
                    "result.json"
            result = json.loads(done.read_text()) if done.is_file() else None
            if result is None and config.archive:  # restoring scores builds nothing
                done = job_folder(config, variant, seed, migrate=False) / "result.json"
                result = _restore(config, variant, seed, build_hash(config, variant, seed), done.parent, say)
            if result is not None and (not variant.evaluated or result.get("eval_hash", eval_hash(config)) ==
                                       eval_hash(config)):
                results[(variant.name, seed)] = result
                eval_dirs[(variant.name, seed)] = done.parent / "eval"
                if done.parent == job_folder(config, variant, seed, migrate=False):
                    _archive(config, variant, seed, result, say)
            else:
                missing.append(f"{variant.name} (seed {seed})")
            continue
        say(f"[{i}/{len(jobs)}] {variant.name} seed {seed}")
        results[(variant.name, seed)] = run_variant(config, variant, seed, results, say, previous_evals)
        eval_dirs[(variant.name, seed)] = job_folder(config, variant, seed, migrate=False) / "eval"
        _archive(config, variant, seed, results[(variant.name, seed)], say)
    if report_only:
        say(f"report only: {len(results)} of {len(jobs)} jobs finished; missing: {', '.join(missing) or 'none'}")
        if not results:
            raise FileNotFoundError(
                f"No finished job in {str(out)!r} for this config: nothing to report. Run `mote pipeline` without "
                "--report-only first (a finished job is cached under variants/), or check output_dir."
            )
    _name_merge_tasks(results)
    analyses = _analyses(config, results, out, say)
    return write_report(config, list(results.values()), out, missing=missing, eval_dirs=eval_dirs,
                        analyses=analyses)


def _analyses(config: PipelineConfig, results: dict[tuple[str, int], dict[str, Any]], out: Path,
              say: Callable[[str], None]) -> list[dict[str, Any]]:
    """The analyses that apply to the finished jobs (:mod:`mote.pipeline.analyses`), on the pipeline's probe."""
    from mote.pipeline.analyses import KINDS, planned, run_analyses

    kinds: list[str] = list(KINDS) if config.analyses == "auto" else list(config.analyses)
    if not results or not planned(kinds, results, min(s for _, s in results)):
        return []
    probe = write_probe(config, out / "analysis" / "probe.jsonl")
    return run_analyses(config, results, out, probe, say)


EVAL_HISTORY = "eval_history.json"  # every evaluation setting this output folder was run with (append-only)


def _eval_history(out: Path, config: PipelineConfig, record: bool = True) -> list[dict[str, Any]]:
    """Earlier evaluation settings of ``out``: the append-only ``eval_history.json``, seeded from the saved
    pipeline_config.yaml of a run made before the history existed. ``record`` adds the current settings."""
    history: list[dict[str, Any]] = []
    path = out / EVAL_HISTORY
    try:
        if path.is_file():
            history = [h for h in json.loads(path.read_text(encoding="utf-8")) if isinstance(h, dict)]
        saved = out / "pipeline_config.yaml"
        if saved.is_file():
            data = yaml.safe_load(saved.read_text(encoding="utf-8"))
            if isinstance(data, dict) and isinstance(data.get("eval"), dict) and data["eval"] not in history:
                history.append(data["eval"])
    except (json.JSONDecodeError, yaml.YAMLError, UnicodeDecodeError, TypeError):
        pass
    current = config.eval.model_dump(mode="json")
    if record and current not in history:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps([*history, current], indent=2) + "\n")
    return history


def _name_merge_tasks(results: dict[tuple[str, int], dict[str, Any]]) -> None:
    """Results cached by an earlier mote (0.1) lack the task order of a merge's learned weights: add it."""
    from mote.model.sentence import load, mote_model

    variants = all_variants()
    for (name, seed), r in results.items():
        if r.get("learned") and not r.get("merge_tasks"):
            src = results.get((variants[name].source or "", seed), {})
            if "models" in src:
                r["merge_tasks"] = sorted(src["models"])
            elif "model_dir" in src:
                r["merge_tasks"] = list(mote_model(load(src["model_dir"])).config.tasks.names)

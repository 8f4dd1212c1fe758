"""``run_merge(config) -> Path``: read, validate, merge, and write a dense sentence-transformers folder.

The output folder (written atomically) holds the base's module files (pooling, prompts, tokenizer; for a
MoTE input, its dense skeleton), the merged ``model.safetensors``, ``merge_report.json`` (method,
parameters, learned coefficients, loss curve, wall time, peak RSS) and ``merge_config.yaml``.

Memory: dense merges read every input lazily by tensor name (:class:`~mote.model.weights.LazyStateDict`),
so a per-tensor method holds the output plus one tensor per model; Fisher/RegMean statistics go through
temporary safetensors files; Self Positioning holds the base model, the N stacked task vectors and one
merged copy with its gradient: about (N + 3) x the model size.
"""

from __future__ import annotations

import json
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor
from tqdm.auto import tqdm

from mote import __version__
from mote._yaml import apply_overrides
from mote.merge.config import MergeConfig, load_merge_config
from mote.merge.engine import merge_state_dicts
from mote.merge.experts import merge_experts
from mote.merge.probe import (
    ProbeExample,
    ProbeTaskSettings,
    backbone,
    load_probe_jsonl,
    module_prefix,
    with_task_settings,
)
from mote.merge.registry import LearnedMethod, get_method
from mote.merge.stats import diagonal_fisher, gram_matrices
from mote.merge.task_vector import StateDict, check_compatible, is_mergeable
from mote.model.io import WEIGHTS, atomic_dir, check_writable, read_json
from mote.model.resolve import declared_prompts, resolve_model
from mote.model.sentence import load
from mote.model.weights import INDEX, LazyStateDict, save_state, weights_dir
from mote.runtime import setup

REPORT = "merge_report.json"
SKIP_FILES = (WEIGHTS, INDEX, "model-*.safetensors", "*.bin", "README.md", REPORT)


def run_merge(config: MergeConfig | str | Path, overrides: list[str] | None = None) -> Path:
    """Run the merge described by ``config`` (a :class:`MergeConfig` or a YAML path); return the output folder."""
    if isinstance(config, MergeConfig):
        cfg = MergeConfig(**apply_overrides(config.model_dump(), overrides)) if overrides else config
    else:
        cfg = load_merge_config(config, overrides)
    if Path(cfg.out).exists() and not cfg.overwrite:  # fail before the work, not after
        raise FileExistsError(f"Output folder {cfg.out!r} already exists. Choose another out, or set overwrite: true.")
    check_writable(Path(cfg.out).parent, "merged model")
    start = time.perf_counter()
    # only the learned merge runs its probe in the chosen precision; statistics (Fisher/RegMean) stay fp32
    rt = setup(cfg.precision if get_method(cfg.method).learned else "fp32", cfg.device, what="merge")
    cfg = cfg.model_copy(update={"device": rt.device})
    # the learned merge's probe passes run in the resolved precision (its merged weights are computed in fp32);
    # Fisher/RegMean statistics and the per-tensor arithmetic stay fp32 (accumulated statistics lose too much)
    with rt.autocast():
        if cfg.mote_model is not None:
            return _run_mote(cfg, start)
        return _run_dense(cfg, start)


def _run_dense(cfg: MergeConfig, start: float) -> Path:
    assert cfg.base is not None and cfg.models is not None
    base_dir = Path(resolve_model(cfg.base))
    model_dirs = [resolve_model(m) for m in cfg.models]
    prompts = merged_prompts(base_dir, model_dirs)
    probe, probe_losses = _probe(cfg, prompts, model_dirs)
    merged, report = merge_models(base_dir, model_dirs, cfg.method, cfg.parameters, probe, cfg.model_tasks,
                                  cfg.progress, cfg.device)
    with atomic_dir(cfg.out, overwrite=cfg.overwrite) as tmp:
        shutil.copytree(base_dir, tmp, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*SKIP_FILES))
        _set_prompts(tmp, prompts)
        save_state(weights_dir(tmp) / WEIGHTS, merged)
        _write_report(tmp, cfg, {**report, "probe_losses": probe_losses}, start)
    return Path(cfg.out)


def merge_models(
    base_dir: str | Path,
    model_dirs: Sequence[str | Path],
    method: str,
    parameters: Mapping[str, Any],
    probe: Sequence[ProbeExample] | None = None,
    model_tasks: Sequence[str] | None = None,
    progress: bool = False,
    device: str = "cpu",
) -> tuple[StateDict, dict[str, Any]]:
    """Merge dense fine-tunes of ``base_dir``; return the merged state dict (on CPU) and the report fields.

    ``device`` runs the probe forward passes of the methods that need a probe (learned ones, fisher, regmean).
    """
    check_same_architecture(base_dir, model_dirs)
    base = LazyStateDict(base_dir)
    models = [LazyStateDict(m) for m in model_dirs]
    check_compatible(base, models, labels=[f"model {str(m)!r}" for m in model_dirs])
    spec = get_method(method)
    if isinstance(spec, LearnedMethod):
        return _learned_dense(spec, base_dir, models, parameters, probe, progress, device)
    kwargs = spec.validate(parameters, len(models))
    with tempfile.TemporaryDirectory(prefix="mote-merge-stats-") as tmp:
        stats = (_dense_stats(spec.stats, model_dirs, probe, model_tasks, Path(tmp), device, progress)
                 if spec.stats else None)
        merged, copied = merge_state_dicts(spec, kwargs, models, base, stats=stats, progress=progress)
    return merged, {"copied_from_base": copied}


def check_same_architecture(base_dir: str | Path, model_dirs: Sequence[str | Path]) -> None:
    """Every input is a complete model folder of the base's architecture (same tensor names and shapes are not
    enough: a RoBERTa and a BERT of one size share them, and merging them gives a model of neither)."""
    def arch(folder: str | Path) -> tuple[Any, Any]:
        config = read_json(weights_dir(folder) / "config.json")  # missing or corrupt: an error naming the file
        return config.get("model_type"), config.get("architectures")

    want = arch(base_dir)
    for folder in model_dirs:
        got = arch(folder)
        if got[0] != want[0]:
            hint = " A MoTE model's experts are merged with `mote_model:`, not `models:`." if got[0] == "mote" else ""
            raise ValueError(
                f"Model {str(folder)!r} is a {got[0]!r} model ({weights_dir(folder) / 'config.json'}), the base "
                f"{str(base_dir)!r} a {want[0]!r} one. Merge only fine-tunes of the same base architecture.{hint}"
            )


def _learned_dense(
    spec: LearnedMethod, base_dir: str | Path, models: Sequence[Mapping[str, Tensor]], parameters: Mapping[str, Any],
    probe: Sequence[ProbeExample] | None, progress: bool, device: str,
) -> tuple[StateDict, dict[str, Any]]:
    """A learned method over the fine-tunes' task vectors, fitted through the base model on the probe."""
    options = spec.validate({"progress": progress, **parameters}, len(models))
    st = load(base_dir, device=device)
    inner = backbone(st)
    on_disk = set(LazyStateDict(base_dir))
    base = {n: t.detach() for n, t in inner.state_dict().items() if n in on_disk}
    names = [n for n in sorted(base) if is_mergeable(n, base[n])]
    vectors = {n: torch.stack([m[n].to(device).float() - base[n].float() for m in models]) for n in names}
    result = spec.fn(st, base, vectors, probe or [], options, module_prefix(st, inner))
    merged = {n: result.state[n] if n in result.state else t.cpu() for n, t in base.items()}
    return merged, {spec.name: result.report(), "copied_from_base": sorted(set(base) - set(names))}


def _dense_stats(
    kind: str, model_dirs: Sequence[str | Path], probe: Sequence[ProbeExample] | None,
    model_tasks: Sequence[str] | None, tmp: Path, device: str, progress: bool = False,
) -> list[LazyStateDict]:
    """Each model's Fisher or Gram matrices, measured on its task's probe examples, saved under ``tmp``."""
    out = []
    # one probe pass per model: the slow part of fisher/regmean (the per-tensor merge has its own bar)
    bar = tqdm(list(enumerate(model_dirs)), desc=f"merge:{kind} statistics", unit="model", disable=not progress)
    for i, folder in bar:
        examples = list(probe or [])
        if model_tasks is not None:
            examples = [ex for ex in examples if ex["task"] == model_tasks[i]]
        if not examples:
            raise ValueError(f"No probe examples for model {str(folder)!r} (task {model_tasks and model_tasks[i]!r}).")
        st = load(folder, device=device)
        inner = backbone(st)
        prefix = module_prefix(st, inner)
        if kind == "fisher":
            values = diagonal_fisher(st, examples, {prefix + n: n for n, _ in inner.named_parameters()})
        else:
            linears = {prefix + n: f"{n}.weight" for n, m in inner.named_modules() if isinstance(m, torch.nn.Linear)}
            values = gram_matrices(st, examples, linears)
        target = tmp / f"stats-{i}"
        target.mkdir()
        save_state(target / WEIGHTS, {k: v.cpu() for k, v in values.items()})
        out.append(LazyStateDict(target))
        del st, values
    return out


def _run_mote(cfg: MergeConfig, start: float) -> Path:
    assert cfg.mote_model is not None
    model = load(cfg.mote_model, device=cfg.device)
    probe, probe_losses = _probe(cfg, {k: v or "" for k, v in model.prompts.items()}, [_folder(cfg.mote_model)])
    parameters = {"progress": cfg.progress, **cfg.parameters} if get_method(cfg.method).learned else cfg.parameters
    result = merge_experts(model, cfg.method, parameters, probe=probe, base_ref=cfg.base)
    with atomic_dir(cfg.out, overwrite=cfg.overwrite) as tmp:
        result.model.save(str(tmp))
        _write_report(tmp, cfg, {**result.report, "probe_losses": probe_losses}, start)
    return Path(cfg.out)


def merged_prompts(base_dir: str | Path, model_dirs: Sequence[str | Path]) -> dict[str, str]:
    """The prompts the merged model carries: the fine-tunes' when they all saved the same ones (they were
    trained with those instructions), else the base's."""
    found = [declared_prompts(m) for m in model_dirs]
    if found and found[0] and all(p == found[0] for p in found):
        return found[0]
    return declared_prompts(base_dir)


def _set_prompts(folder: Path, prompts: Mapping[str, str]) -> None:
    path = folder / "config_sentence_transformers.json"
    config = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    if (config.get("prompts") or {}) == dict(prompts):
        return
    config["prompts"] = dict(prompts)
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def with_prompts(examples: Sequence[ProbeExample], prompts: Mapping[str, str]) -> list[dict[str, Any]]:
    """Prepend the prompt of the anchor's (``anchor_task`` or ``task``) and positive's route to each text."""
    out = []
    for ex in examples:
        row = dict(ex)
        row["anchor"] = prompts.get(ex.get("anchor_task", ex["task"]), "") + ex["anchor"]
        row["positive"] = prompts.get(ex.get("positive_task", ex["task"]), "") + ex["positive"]
        out.append(row)
    return out


def _probe(
    cfg: MergeConfig, prompts: Mapping[str, str], model_dirs: Sequence[str | Path | None] = ()
) -> tuple[list[dict[str, Any]] | None, dict[str, Any] | None]:
    """The probe rows, each carrying its task's training loss settings, and a report of those settings.

    A task's settings: ``probe.task_settings``, else the training config saved with the first of
    ``model_dirs`` that has one (``mote_train_config.yaml``), else none (the probe's defaults).
    """
    if cfg.probe is None:
        return None, None
    examples = load_probe_jsonl(cfg.probe.jsonl, cfg.probe.size, cfg.probe.seed, cfg.probe.tasks)
    tasks = sorted({ex["task"] for ex in examples})
    settings: dict[str, ProbeTaskSettings] = {}
    sources = []
    trained = _trained_task_settings(model_dirs, [t for t in tasks if t not in (cfg.probe.task_settings or {})])
    if trained is not None:
        settings.update(trained[0])
        sources.append(trained[1])
    given = {t: s for t, s in (cfg.probe.task_settings or {}).items() if t in tasks}
    if given:
        settings.update(given)
        sources.insert(0, "probe.task_settings")
    examples = with_task_settings(examples, settings)
    used = {"source": "; ".join(sources) or "defaults",
            "settings": {t: s.model_dump() for t, s in sorted(settings.items())}}
    return (with_prompts(examples, prompts) if cfg.probe.prompts else examples), used


def _folder(reference: str) -> str | None:
    try:
        return resolve_model(reference)
    except (OSError, ValueError):
        return None


def _trained_task_settings(
    model_dirs: Sequence[str | Path | None], tasks: Sequence[str]
) -> tuple[dict[str, ProbeTaskSettings], str] | None:
    """Each task's loss settings from the first training config saved with a model (None when none is)."""
    if not tasks:
        return None
    import logging

    from mote.train.config import TrainConfig
    from mote.train.run import CONFIG_FILE

    for folder in model_dirs:
        path = Path(folder) / CONFIG_FILE if folder is not None else None
        if path is None or not path.is_file():
            continue
        try:
            config = TrainConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
        except (ValueError, yaml.YAMLError) as e:
            logging.getLogger(__name__).warning(
                "Probe losses: cannot read the training config %s (%s); using the defaults.", path, e
            )
            return None
        return {t: ProbeTaskSettings.from_training(config.task_training(t)) for t in tasks}, str(path)
    return None


def peak_rss_bytes() -> int:
    """Peak resident memory of this process so far (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak if sys.platform == "darwin" else peak * 1024)


def _learned(result: Mapping[str, Any] | None) -> dict[str, Any]:
    """Top-level report fields for a learned merge: coefficients and loss curve (None for fixed methods)."""
    if result is None:
        return {"learned": None, "loss_curve": None}
    keys = ("weights", "lambda", "coefficients", "initial_probe_loss", "final_probe_loss")
    return {"learned": {k: result[k] for k in keys}, "loss_curve": result["loss_curve"]}


def _write_report(folder: Path, cfg: MergeConfig, fields: Mapping[str, Any], start: float) -> None:
    """``merge_report.json``, ``merge_config.yaml`` and the model card of the merged model in ``folder``."""
    report = {
        "method": cfg.method,
        "parameters": cfg.parameters,
        "inputs": {"base": cfg.base, "models": cfg.models, "mote_model": cfg.mote_model},
        "probe": cfg.probe.model_dump() if cfg.probe else None,
        **_learned(fields.get(cfg.method) if get_method(cfg.method).learned else None),
        **fields,
        "wall_time_s": time.perf_counter() - start,
        "peak_rss_bytes": peak_rss_bytes(),
        "mote_version": __version__,
    }
    (folder / REPORT).write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    (folder / "merge_config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False),
                                              encoding="utf-8")
    _write_card(folder, cfg, report)


def _write_card(folder: Path, cfg: MergeConfig, report: Mapping[str, Any]) -> None:
    """The merged model's card: the method, its sources, parameters and learned coefficients."""
    from sentence_transformers import SentenceTransformer

    from mote.model.card import write_card
    from mote.model.resolve import display_name
    from mote.model.sentence import card_facts

    model = SentenceTransformer(str(folder), device="cpu")
    if cfg.mote_model is not None:
        sources = [f"the task experts of the MoTE model {cfg.mote_model}"]
        mote_config = read_json(weights_dir(Path(resolve_model(cfg.mote_model))) / "config.json")
        base = display_name(cfg.base or mote_config.get("base_model")) or "its base"
    else:
        sources = [f"base: {display_name(cfg.base)}", *[f"fine-tune: {m}" for m in cfg.models or []]]
        base = display_name(cfg.base) or "its base"
    learned = report.get("learned") or {}
    facts = card_facts(
        model, kind="merged", method=f"model merging, method `{cfg.method}`", sources=sources,
        parameters=dict(cfg.parameters) or None,
        coefficients={k: learned[k] for k in ("weights", "lambda") if learned.get(k) is not None} or None,
        base_model=base, tags=["merge", f"merge-{cfg.method}"],
    )
    write_card(model, folder, facts, f"{cfg.method} merge ({len(cfg.models or []) or 'experts'}) of {base}")

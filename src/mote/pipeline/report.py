"""The pipeline report: one row per variant (mean and spread over seeds), deltas against the baseline."""

from __future__ import annotations

import json
import statistics
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mote.model.io import atomic_write_text
from mote.pipeline import intervals, targets
from mote.pipeline.analyses import markdown as analysis_markdown


def _mean_sd(values: Sequence[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def _fmt(mean: float, sd: float | None) -> str:
    return f"{mean:.2f}" if sd is None else f"{mean:.2f} ± {sd:.2f}"


def aggregate(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per variant: seeds, per-type and overall means (with standard deviation over seeds), costs."""
    by_variant: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        if "type_averages" not in r:  # a source only (the separate models): no scores
            continue
        by_variant.setdefault(r["variant"], []).append(r)
    rows: dict[str, dict[str, Any]] = {}
    for name, runs in by_variant.items():
        types = sorted({t for r in runs for t in r["type_averages"]})
        rows[name] = {
            "seeds": [r["seed"] for r in runs],
            "types": {t: _mean_sd([r["type_averages"][t] for r in runs]) for t in types},
            "mean_over_types": _mean_sd([r["mean_over_types"] for r in runs]),
            "mean_over_tasks": _mean_sd([r["mean_over_tasks"] for r in runs]),
            "tasks": {t: statistics.fmean(r["tasks"][t] for r in runs) for t in runs[0]["tasks"]},
            "train_seconds": statistics.fmean(r.get("train_seconds") or 0.0 for r in runs),
            "derive_seconds": statistics.fmean(r.get("derive_seconds") or 0.0 for r in runs),
            "eval_seconds": statistics.fmean(r.get("eval_seconds") or 0.0 for r in runs),
            "examples_seen": runs[0].get("examples_seen", 0),
            "total_params": runs[0]["total_params"],
            "active_params": runs[0]["active_params"],
            "eval_max_seq_length": runs[0].get("eval_max_seq_length"),
        }
    return rows


def to_markdown(rows: dict[str, dict[str, Any]], baseline: str, title: str) -> str:
    types = sorted({t for r in rows.values() for t in r["types"]})
    base = rows.get(baseline)
    head = [
        "variant",
        "seeds",
        *types,
        "avg (types)",
        "avg (tasks)",
        f"Δ avg vs {baseline}",
        "examples seen",
        "train s",
        "merge s",
        "params total / active (M)",
    ]
    lines = [f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, r in rows.items():
        delta = "" if base is None else f"{r['mean_over_types'][0] - base['mean_over_types'][0]:+.2f}"
        cells = [
            name,
            str(len(r["seeds"])),
            *[_fmt(*r["types"][t]) if t in r["types"] else "" for t in types],
            _fmt(*r["mean_over_types"]),
            _fmt(*r["mean_over_tasks"]),
            delta,
            str(r["examples_seen"]),
            f"{r['train_seconds']:.0f}",
            f"{r['derive_seconds']:.0f}" if r["derive_seconds"] else "",
            f"{r['total_params'] / 1e6:.1f} / {r['active_params'] / 1e6:.1f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if base is not None:
        lines += [
            "",
            f"Per task-type deltas against {baseline} (mean over seeds):",
            "",
            "| variant | " + " | ".join(types) + " |",
            "|" + "---|" * (len(types) + 1),
        ]
        for name, r in rows.items():
            deltas = [
                f"{r['types'][t][0] - base['types'][t][0]:+.2f}" if t in r["types"] and t in base["types"] else ""
                for t in types
            ]
            lines.append(f"| {name} | " + " | ".join(deltas) + " |")
    lengths = {r["eval_max_seq_length"] for r in rows.values()}
    lines += [
        "",
        f"Evaluation max_seq_length: {', '.join(str(x) for x in sorted(lengths, key=str))} (one length "
        "for every variant). Scores are MTEB main scores x 100; ± is the standard deviation over seeds.",
        "'examples seen' is what training consumed (steps x batch; for merges, their source models' total; "
        "a merge or average adds none). 'train s' is the training wall time of the model (or of the models a "
        "merge starts from); 'merge s' is the time to average or merge them.",
        "",
    ]
    return "\n".join(lines)


def variant_means(rows: dict[str, dict[str, Any]], domains: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per variant: the mean over task types on all tasks, and on the in-domain and on the unseen tasks."""
    split = split_means(rows, domains)
    return {name: {intervals.ALL: r["mean_over_types"][0], **split[name]} for name, r in rows.items()}


def rivals_of(means: dict[str, dict[str, float]]) -> dict[str, str]:
    """The best dense rival of each mean (:func:`mote.pipeline.intervals.best_dense`)."""
    return {d: r for d in intervals.DOMAINS if (r := intervals.best_dense(means, d)) is not None}


def split_means(rows: dict[str, dict[str, Any]], domains: dict[str, str]) -> dict[str, dict[str, float]]:
    """Per variant and domain (in-domain / unseen): the mean over task types of the per-type mean over tasks."""
    from mote.data.evaluations.tasks import TASKS
    from mote.evaluate.summary import mean_over_types

    out: dict[str, dict[str, float]] = {}
    for name, r in rows.items():
        out[name] = {}
        for d in sorted(set(domains.values())):
            tasks = [t for t, x in domains.items() if x == d]
            # a variant lacking a task of a domain gets no mean there: means over different task sets don't compare
            if all(t in r["tasks"] for t in tasks):
                out[name][d] = mean_over_types({t: r["tasks"][t] for t in tasks}, {t: TASKS[t].type for t in tasks})
    return out


def domain_table(rows: dict[str, dict[str, Any]], domains: dict[str, str],
                 instructions: Mapping[str, str] | None = None) -> str:
    """Mean over task types on in-domain and on unseen tasks, with deltas against the base and the best dense
    rival: gain without forgetting shows as a positive unseen delta. ``instructions``: variant -> the
    instruction set it was trained with."""
    means = variant_means(rows, domains)
    rivals = rivals_of(means)
    n = {d: sorted(t for t, x in domains.items() if x == d) for d in ("in-domain", "unseen")}
    named = ", ".join(f"{d} {rivals[d]}" for d in ("in-domain", "unseen") if d in rivals) or "none in this run"
    lines = [
        "## In-domain and unseen tasks",
        "",
        f"{len(n['in-domain'])} in-domain tasks (a split of their source, or a corpus built from it, was trained "
        f"on): {', '.join(n['in-domain']) or 'none'}. {len(n['unseen'])} unseen tasks: "
        f"{', '.join(n['unseen']) or 'none'}. Means over task types (mean over seeds); best dense rival per mean "
        f"(the dense trained variant scoring highest there): {named}.",
        "",
        "| variant | instructions | in-domain | Δ base | Δ best dense | unseen | Δ base | Δ best dense |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]

    def cells(name: str, d: str) -> list[str]:
        own = means[name].get(d)
        if own is None:
            return ["–", "–", "–"]
        base = means.get("base", {}).get(d)
        best = means[rivals[d]].get(d) if d in rivals else None
        return [f"{own:.2f}", f"{own - base:+.2f}" if base is not None else "–",
                f"{own - best:+.2f}" if best is not None else "–"]

    for name in rows:
        used = (instructions or {}).get(name, "–")
        lines.append(f"| {name} | {used} | " + " | ".join(cells(name, "in-domain") + cells(name, "unseen")) + " |")
    return "\n".join(lines) + "\n"


def task_table(rows: dict[str, dict[str, Any]]) -> str:
    """Per-task scores (mean over seeds), variants as columns."""
    names = list(rows)
    tasks = list(next(iter(rows.values()))["tasks"]) if rows else []
    lines = ["| task | " + " | ".join(names) + " |", "|" + "---|" * (len(names) + 1)]
    for t in tasks:
        lines.append(f"| {t} | " + " | ".join(f"{rows[n]['tasks'].get(t, float('nan')):.2f}" for n in names) + " |")
    return "\n".join(lines)


def setup_lines(config: Any, results: Sequence[dict[str, Any]]) -> list[str]:
    """What was run, on what: budget, recipe, evaluation, precision (as resolved), machine and versions."""
    from mote.evaluate.summary import machine_info

    b = config.budget
    m = machine_info()
    steps = sorted({json.dumps(r["steps_per_model"], sort_keys=True) for r in results if "steps_per_model" in r})
    lines = [
        "## Setup",
        "",
        f"- Base `{config.base}`; recipe `{Path(config.recipe).name}`; seeds {config.seeds}, key seeds "
        f"{config.key_seeds}; baseline `{config.baseline}`.",
        f"- Budget per trained variant: {b.max_steps} steps x batch {b.batch_size} = {b.max_steps * b.batch_size} "
        f"examples, lr {b.learning_rate}, train max_seq_length {b.max_seq_length}, "
        f"precision {_prec(results, 'precision', b.precision)}"
        + (f"; `separate` splits it into {steps} steps per task model." if steps else "."),
        f"- Evaluation: suite `{config.eval.suite}`" + (f", tasks {config.eval.tasks}" if config.eval.tasks else "")
        + f", precision {_prec(results, 'eval_precision', config.eval.precision)}.",
        f"- Merges: probe {config.merge.probe_size} training examples (seed {config.merge.probe_seed}); "
        f"parameters {json.dumps({v: config.merge_parameters(v) for v in _methods(results)})}"
        + "".join(f"; `{name}` adds {json.dumps(own)}" for name, own in _own_parameters(results).items()) + ".",
        f"- Machine: {m['cpu_count']} CPUs ({m.get('cpu', m['processor'])}; CPU kind {m.get('cpu_kind', '?')}), "
        f"{m['platform']}; Python {m['python']}, "
        f"torch {m['torch']}, transformers {m['transformers']}, sentence-transformers "
        f"{m['sentence_transformers']}, mteb {m['mteb']}.",
        *provenance_lines(results),
        "",
    ]
    return lines


def provenance_lines(results: Sequence[dict[str, Any]]) -> list[str]:
    """The machines the jobs were built on (an archived matrix spans machines) and the derived jobs made from a
    source model rebuilt on another machine whose weights differ from the archived source's (whose scores the
    report keeps)."""
    def _n(k: int) -> str:
        return f"{k} job{'s' if k != 1 else ''}"

    counts = Counter(f"{m['cpu']} ({m['cpu_kind']})" if (m := r.get("machine")) else None for r in results)
    named = [f"{where}: {_n(k)}" for where, k in counts.items() if where]
    if counts.get(None):
        named.append(f"not recorded: {_n(counts[None])} (archived before jobs recorded their machine)")
    lines = []
    if len(named) == 1 and not counts.get(None):
        lines.append(f"- Jobs ran on {named[0]}.")
    elif named:
        lines.append("- Jobs ran on: " + "; ".join(named) + ".")
    rebuilt = [f"{r['variant']} (seed {r['seed']})" for r in results if r.get("source_rebuilt")]
    if rebuilt:
        lines.append("- Derived from a source model rebuilt on another machine (its weights differ from the "
                     "archived source's, whose scores the report keeps): " + ", ".join(rebuilt) + ".")
    return lines


def _own_parameters(results: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    from mote.pipeline.variants import all_variants

    known = all_variants()
    return {n: known[n].parameters for n in dict.fromkeys(r["variant"] for r in results)
            if n in known and known[n].parameters}


def _methods(results: Sequence[dict[str, Any]]) -> list[str]:
    from mote.pipeline.variants import all_variants

    known = all_variants()
    return sorted({m for r in results if (m := getattr(known.get(r["variant"]), "method", None))})


def plot(rows: dict[str, dict[str, Any]], png: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(rows)
    means = [rows[n]["mean_over_types"][0] for n in names]
    errs = [rows[n]["mean_over_types"][1] or 0.0 for n in names]
    fig, ax = plt.subplots(figsize=(max(6, len(names) * 0.9), 4))
    ax.bar(names, means, yerr=errs, capsize=4, color="#4a7ab8")
    ax.set_ylabel("MTEB-style average over task types")
    lo = min(means) - 2
    ax.set_ylim(lo, max(means) + 2)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)
    return png


def learned_table(results: Sequence[dict[str, Any]]) -> str:
    """Self Positioning's learned task weights, scale and probe loss, one row per (variant, seed)."""
    learned = [r for r in results if r.get("learned")]
    if not learned:
        return ""
    lines = ["", "## Learned merge coefficients", "",
             "| variant | seed | task weights | lambda | probe loss first -> last |", "|---|---|---|---|---|"]
    for r in learned:
        lr = r["learned"]
        tasks = r.get("merge_tasks") or []
        lines.append(f"| {r['variant']} | {r['seed']} | {_weights(lr['weights'], tasks)} | {float(lr['lambda']):.3f} | "
                     f"{lr['initial_probe_loss']:.3f} -> {lr['final_probe_loss']:.3f} |")
    return "\n".join(lines) + "\n"


def _weights(weights: Any, tasks: Sequence[str]) -> str:
    """``{"all": [w1, ...]}`` -> ``"all: query 0.31, similarity 0.25"`` (per-layer groups joined by <br>)."""
    if not isinstance(weights, dict):
        weights = {"all": weights}

    def name(i: int) -> str:
        return f"{tasks[i]} " if i < len(tasks) else ""

    return "<br>".join(f"{g}: " + ", ".join(f"{name(i)}{float(x):.2f}" for i, x in enumerate(ws))
                       for g, ws in weights.items())


def write_report(
    config: Any, results: Sequence[dict[str, Any]], out: Path, missing: Sequence[str] = (),
    eval_dirs: Mapping[tuple[str, int], Path] | None = None, n_resamples: int = 1000,
    analyses: Sequence[dict[str, Any]] = (),
) -> Path:
    """REPORT.md, report.json and report.png in ``out``. ``eval_dirs``: (variant, seed) -> the evaluation
    folder whose per-item records give the confidence intervals (none: the report has no intervals)."""
    rows = aggregate(results)
    md = to_markdown(rows, config.baseline, f"Pipeline report: {config.name}")
    if missing:
        md = md.replace("\n", f"\n\n**PARTIAL REPORT**: {len(missing)} job(s) not run yet: {', '.join(missing)}. "
                        "Seeds and deltas below cover only the finished jobs.\n", 1)
    domains = _domains(config, rows)
    if domains:
        md += "\n" + domain_table(rows, domains, instruction_sets(config, rows))
    means = variant_means(rows, domains)
    rivals = rivals_of(means)
    cis, left_out = _intervals(rows, domains, config.baseline, rivals, eval_dirs or {}, n_resamples)
    md += "\n" + intervals.markdown(cis, config.baseline, left_out)
    checked = targets.check_targets(means, _sources(rows), rivals, cis)
    md += "\n" + targets.markdown(checked)
    md += "\n" + "\n".join(setup_lines(config, results))
    md += "\n## Per task\n\n" + task_table(rows) + "\n"
    md += learned_table(results)
    if rows:
        plot(rows, out / "report.png")
        md += "\n![overall average per variant](report.png)\n"
    else:  # only sources were built (e.g. variants: [separate])
        md += ("\nNo variant was evaluated: the jobs run build models that other variants use (e.g. `separate` for "
               "the `separate-*` merges). Add an evaluated variant to score them.\n")
    md += analysis_markdown(list(analyses))
    atomic_write_text(out / "REPORT.md", md)
    extra = {"domains": domains, "split_means": split_means(rows, domains), "means": means, "rivals": rivals,
             "best_dense_rival": rivals.get(intervals.ALL), "intervals": cis, "intervals_left_out": left_out,
             "targets": checked, "instructions": instruction_sets(config, rows), "analyses": list(analyses)}
    atomic_write_text(out / "report.json", json.dumps({"rows": rows, **extra, "runs": list(results)}, indent=2) + "\n")
    return out / "REPORT.md"


def instruction_sets(config: Any, rows: Mapping[str, Any]) -> dict[str, str]:
    """Variant -> the instruction set it was trained with, as resolved for this base (derived variants: their
    source's; the base: none)."""
    from mote.model.resolve import declared_prompts, resolve_model
    from mote.pipeline.variants import all_variants
    from mote.tasks import TaskSet, resolve_instructions

    known = all_variants()
    try:
        prompts = declared_prompts(resolve_model(config.base))
    except (OSError, ValueError):
        prompts = {}
    names = getattr(config, "task_set", None) or TaskSet().names
    out = {}
    for name in rows:
        v = known.get(name)
        while v is not None and v.source:
            v = known.get(v.source)
        if v is None or v.kind == "base":
            out[name] = "–"
            continue
        choice = v.train.get("model", {}).get("instructions", "auto")
        try:
            out[name] = resolve_instructions(choice, names, prompts)[1]
        except ValueError as e:  # a custom set naming a task outside this run's task set: say so, keep the report
            out[name] = f"? ({e})"
    return out


def _sources(rows: Mapping[str, Any]) -> dict[str, str | None]:
    from mote.pipeline.variants import all_variants

    known = all_variants()
    return {name: known[name].source for name in rows if name in known}


def _intervals(rows: dict[str, dict[str, Any]], domains: dict[str, str], baseline: str, rivals: dict[str, str],
               eval_dirs: Mapping[tuple[str, int], Path], n: int) -> tuple[dict[str, Any], dict[str, str]]:
    from mote.data.evaluations.tasks import TASKS
    from mote.pipeline.variants import all_variants

    tasks = list(dict.fromkeys(t for r in rows.values() for t in r["tasks"]))
    sides, common, left_out = intervals.load_sides({k: v for k, v in eval_dirs.items() if k[0] in rows}, tasks)
    types = {t: TASKS[t].type for t in tasks}
    known = all_variants()
    counterparts = {v: c for v in sides if v in known and (c := known[v].counterpart)}
    return intervals.compare(sides, common, types, domains, baseline, rivals, n=n,
                             counterparts=counterparts), left_out


def _domains(config: Any, rows: dict[str, dict[str, Any]]) -> dict[str, str]:
    """In-domain / unseen per evaluated task, against the pipeline's recipe."""
    from mote.data.leakage import eval_domains
    from mote.data.recipe import read_recipe

    tasks = list(dict.fromkeys(t for r in rows.values() for t in r["tasks"]))  # every task any variant has
    recipe, _ = read_recipe(config.recipe)
    return eval_domains(recipe, tasks, getattr(config, "task_set", None))


def _prec(results: Sequence[dict[str, Any]], key: str, requested: str) -> str:
    """``auto -> bf16`` style: what was asked and what the runs used (several when cached runs differ)."""
    used = sorted({str(r[key]) for r in results if r.get(key)})
    return f"{requested} -> {'/'.join(used)}" if used else requested

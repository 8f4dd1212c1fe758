"""Paired bootstrap intervals for the pipeline report: every variant against the baseline, the best dense
rival and the base, per task and for the means over task types (all tasks, in-domain, unseen).

A variant's side is all its seeds whose evaluation saved per-item records (:mod:`mote.evaluate.items`);
the score on a resample is the mean over those seeds. The best dense rival is chosen per mean (the dense
trained variant with the highest mean there), so "beats the best dense variant" is read against the
strongest rival of each mean, not one fixed variant.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from statistics import fmean
from typing import Any

from mote.evaluate.bootstrap import Bootstrap, Interval
from mote.evaluate.items import read_records

ALL = "all tasks"
DOMAINS = (ALL, "in-domain", "unseen")
DENSE_RIVALS = ("joint-noinstr", "joint-instr", "joint-temperature", "joint-ratio")  # trained dense variants


def load_sides(eval_dirs: Mapping[tuple[str, int], Path], tasks: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """Variant -> one ``{task: record}`` per seed that has a record for every task in ``tasks``."""
    sides: dict[str, list[dict[str, Any]]] = {}
    for (variant, _seed), folder in sorted(eval_dirs.items()):
        records = read_records(folder / "items")
        if all(t in records for t in tasks):
            sides.setdefault(variant, []).append({t: records[t] for t in tasks})
    return sides


def domain_tasks(tasks: Sequence[str], domains: Mapping[str, str]) -> dict[str, list[str]]:
    out = {ALL: list(tasks)}
    for d in DOMAINS[1:]:
        out[d] = [t for t in tasks if domains.get(t) == d]
    return {d: ts for d, ts in out.items() if ts}


def best_rivals(sides: Mapping[str, Sequence[Mapping[str, Any]]], groups: Mapping[str, Sequence[str]],
                types: Mapping[str, str]) -> dict[str, str]:
    """Per mean: the dense trained variant scoring highest there (absent when no dense variant ran)."""
    from mote.evaluate.items import score

    def mean(variant: str, tasks: Sequence[str]) -> float:
        per_task = {t: fmean(score(s[t]) for s in sides[variant]) for t in tasks}
        by_type: dict[str, list[float]] = {}
        for t, v in per_task.items():
            by_type.setdefault(types[t], []).append(v)
        return fmean(fmean(v) for v in by_type.values())

    present = [v for v in DENSE_RIVALS if v in sides]
    return {d: max(present, key=lambda v: mean(v, ts)) for d, ts in groups.items()} if present else {}


def compare(
    sides: Mapping[str, Sequence[Mapping[str, Any]]],
    types: Mapping[str, str],
    domains: Mapping[str, str],
    baseline: str,
    n: int = 1000,
    level: float = 0.95,
) -> dict[str, Any]:
    """Every variant vs the baseline, the best dense rival (per mean) and the base: JSON-ready intervals."""
    if not sides:
        return {}
    tasks = list(next(iter(next(iter(sides.values())))))
    groups = domain_tasks(tasks, domains)
    rivals = best_rivals(sides, groups, types)
    boot = Bootstrap(n=n)
    out: dict[str, Any] = {"n_resamples": n, "level": level, "rivals": rivals, "groups": groups,
                           "seeds": {v: len(s) for v, s in sides.items()}, "variants": {}}
    for variant, side in sides.items():
        against: dict[str, Any] = {}
        for label, ref_of in (("baseline", lambda _d: baseline), ("best dense", lambda d: rivals.get(d)),
                              ("base", lambda _d: "base")):
            means, per_task = {}, {}
            for d, ts in groups.items():
                ref = ref_of(d)
                if ref is None or ref == variant or ref not in sides:
                    continue
                iv = boot.mean_interval((variant, side), (ref, sides[ref]), {t: types[t] for t in ts}, level)
                means[d] = {"against": ref, **iv.as_dict()}
            ref = ref_of(ALL)
            if ref is not None and ref != variant and ref in sides:
                per_task = {t: _iv(boot.task_interval((variant, side), (ref, sides[ref]), t, level)) for t in tasks}
            against[label] = {"means": means, "tasks": per_task}
        out["variants"][variant] = against
    return out


def _iv(iv: Interval) -> dict[str, Any]:
    return iv.as_dict()


def _cell(iv: Mapping[str, Any] | None) -> str:
    if not iv:
        return "–"
    mark = " ✓" if iv["resolved"] else ""
    return f"{iv['delta']:+.2f} [{iv['low']:+.2f}, {iv['high']:+.2f}]{mark}"


def markdown(result: Mapping[str, Any], baseline: str) -> str:
    """The report's section: means with intervals against each reference, then per-task deltas against the
    best dense rival (✓: the 95 % interval excludes zero)."""
    if not result:
        return ("## Confidence intervals\n\nNo evaluation of this run saved per-item records (evaluated before "
                "mote 0.3): re-run the pipeline to re-score the cached models.\n")
    rivals = result["rivals"]
    groups = [d for d in DOMAINS if d in result["groups"]]
    lines = [
        "## Confidence intervals (paired bootstrap)",
        "",
        f"Differences in points, [{100 * (1 - result['level']) / 2:.1f}, {100 - 100 * (1 - result['level']) / 2:.1f}] "
        f"percentile interval over {result['n_resamples']} paired resamples of each task's items (pairs, examples, "
        "queries; clustering: MTEB's k-means runs), every variant scored as the mean over its seeds; "
        "✓ marks a difference whose interval excludes zero (resolved). Best dense rival per mean: "
        + ", ".join(f"{d}: {rivals[d]}" for d in groups if d in rivals) + ".",
        "",
    ]
    for label, title in (("best dense", "Δ vs the best dense rival"), ("baseline", f"Δ vs {baseline}"),
                         ("base", "Δ vs the base (untrained)")):
        lines += [f"**{title}**", "", "| variant | seeds | " + " | ".join(groups) + " |",
                  "|---|---:|" + "---|" * len(groups)]
        for variant, against in result["variants"].items():
            means = against[label]["means"]
            lines.append(f"| {variant} | {result['seeds'][variant]} | "
                         + " | ".join(_cell(means.get(d)) for d in groups) + " |")
        lines.append("")
    tasks = result["groups"][ALL]
    rival = rivals.get(ALL)
    if rival:
        lines += [f"**Per task, Δ vs {rival}** (the best dense rival on all tasks; ✓ resolved)", "",
                  "| task | " + " | ".join(v for v in result["variants"] if v != rival) + " |",
                  "|---|" + "---|" * (len(result["variants"]) - (rival in result["variants"]))]
        for t in tasks:
            cells = []
            for variant, against in result["variants"].items():
                if variant == rival:
                    continue
                iv = against["best dense"]["tasks"].get(t)
                cells.append("–" if not iv else f"{iv['delta']:+.2f}{' ✓' if iv['resolved'] else ''}")
            lines.append(f"| {t} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)

"""Paired bootstrap intervals for the pipeline report: every variant against the baseline, the best dense
rival and the base, per task and for the means over task types (all tasks, in-domain, unseen).

A variant's side is all its seeds whose evaluation saved per-item records (:mod:`mote.evaluate.items`);
on each resample the side's seeds are drawn too (:mod:`mote.evaluate.bootstrap`). The best dense rival is
chosen per mean (:func:`best_dense`: the dense trained variant with the highest mean there), so "beats the
best dense variant" is read against the strongest rival of each mean, not one fixed variant.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mote.evaluate.bootstrap import Bootstrap
from mote.evaluate.items import read_records
from mote.pipeline.variants import trained

ALL = "all tasks"
DOMAINS = (ALL, "in-domain", "unseen")
# the dense trained variants a user could pick instead of MoTE or a merge: the rival is the best of them
# (derived from the matrix, like the targets' MoTE variants: a joint variant added there is a rival)
DENSE_RIVALS = trained("joint")


def best_dense(means: Mapping[str, Mapping[str, float]], domain: str) -> str | None:
    """The dense trained variant with the highest mean on ``domain`` (``means``: variant -> domain -> mean
    over task types); None when no dense variant has that mean. The one definition of the rival."""
    present = [v for v in DENSE_RIVALS if domain in means.get(v, {})]
    return max(present, key=lambda v: means[v][domain]) if present else None


def load_sides(eval_dirs: Mapping[tuple[str, int], Path], tasks: Sequence[str]
               ) -> tuple[dict[str, list[dict[str, Any]]], list[str], dict[str, str]]:
    """Variant -> one ``{task: record}`` per seed; the tasks every such seed has a record for; and the tasks
    left out, each with why (the evaluation's own reason when it gave one). Seeds without any record
    (evaluated before records existed) are left out whole."""
    found = {key: read_records(folder / "items") for key, folder in sorted(eval_dirs.items())}
    found = {key: recs for key, recs in found.items() if recs}
    common = [t for t in tasks if found and all(t in recs for recs in found.values())]
    left_out: dict[str, str] = {}
    for t in tasks:
        if t not in common:
            left_out[t] = next((why for key in found if (why := _why(eval_dirs[key], t))), "no per-item record")
    sides: dict[str, list[dict[str, Any]]] = {}
    for (variant, _seed), recs in found.items():
        sides.setdefault(variant, []).append({t: recs[t] for t in common})
    return sides, common, left_out


def _why(folder: Path, task: str) -> str | None:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
        return str((summary.get("items") or {}).get("without", {}).get(task) or "") or None
    except (OSError, ValueError, AttributeError):
        return None


def domain_tasks(tasks: Sequence[str], domains: Mapping[str, str]) -> dict[str, list[str]]:
    out = {ALL: list(tasks)}
    for d in DOMAINS[1:]:
        out[d] = [t for t in tasks if domains.get(t) == d]
    return {d: ts for d, ts in out.items() if ts}


def compare(
    sides: Mapping[str, Sequence[Mapping[str, Any]]],
    tasks: Sequence[str],
    types: Mapping[str, str],
    domains: Mapping[str, str],
    baseline: str,
    rivals: Mapping[str, str],
    n: int = 1000,
    level: float = 0.95,
    counterparts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Every variant vs the baseline, the best dense rival of each mean (``rivals``: domain -> variant) and
    the base, on the means over task types and per task: JSON-ready intervals. ``counterparts`` (variant ->
    the dense variant trained the same way without experts) adds each MoTE variant vs its counterpart on the
    means: what the experts add with everything else equal."""
    if not sides or not tasks:
        return {}
    groups = domain_tasks(tasks, domains)
    boot = Bootstrap(n=n)
    refs = {"baseline": {d: baseline for d in groups}, "best dense": dict(rivals), "base": {d: "base" for d in groups}}
    out: dict[str, Any] = {"n_resamples": n, "level": level, "rivals": dict(rivals), "groups": groups,
                           "seeds": {v: len(s) for v, s in sides.items()}, "variants": {}}
    for variant, side in sides.items():
        against: dict[str, Any] = {}
        counterpart = (counterparts or {}).get(variant)
        if counterpart and counterpart not in sides:
            out.setdefault("counterparts_not_run", {})[variant] = counterpart
            counterpart = None
        own = {"counterpart": {d: counterpart for d in groups} if counterpart else {}}
        for label, by_domain in {**refs, **own}.items():
            means = {}
            for d, ts in groups.items():
                ref = by_domain.get(d)
                if ref is not None and ref != variant and ref in sides:
                    iv = boot.mean_interval((variant, side), (ref, sides[ref]), {t: types[t] for t in ts}, level)
                    means[d] = {"against": ref, **iv.as_dict()}
            ref = by_domain.get(ALL)
            per_task = {}
            if label != "counterpart" and ref is not None and ref != variant and ref in sides:
                per_task = {t: {"against": ref, **boot.task_interval((variant, side), (ref, sides[ref]), t,
                                                                      level).as_dict()} for t in tasks}
            against[label] = {"means": means, "tasks": per_task}
        out["variants"][variant] = against
    return out


def cell(iv: Mapping[str, Any] | None) -> str:
    if not iv:
        return "–"
    mark = " ✓" if iv["resolved"] else ""
    return f"{iv['delta']:+.2f} [{iv['low']:+.2f}, {iv['high']:+.2f}]{mark}"


def markdown(result: Mapping[str, Any], baseline: str, left_out: Mapping[str, str] | None = None) -> str:
    """The report's section: the means with intervals against each reference, then per task against the best
    dense rival and against the baseline (✓: the 95 % interval excludes zero)."""
    skipped = "".join(f"\n- {t}: {why}" for t, why in (left_out or {}).items())
    if not result:
        return ("## Confidence intervals\n\nNo interval: no evaluation of this run saved per-item records (they "
                "are saved since the records were added; re-running the pipeline re-scores the cached models)."
                + (f"\n\nTasks without a record:{skipped}" if skipped else "") + "\n")
    rivals = result["rivals"]
    groups = [d for d in DOMAINS if d in result["groups"]]
    tail = 100 * (1 - result["level"]) / 2
    lines = [
        "## Confidence intervals (paired bootstrap)",
        "",
        f"Differences in points with their [{tail:.1f}, {100 - tail:.1f}] percentile interval over "
        f"{result['n_resamples']} paired resamples: each task's items (pairs, examples, queries; clustering: "
        "MTEB's k-means runs) and each variant's seeds are drawn with replacement, so an interval holds the test "
        "sets' sampling and seed-to-seed spread; ✓ marks a difference whose interval excludes zero (resolved). "
        "Best dense rival per mean: " + ", ".join(f"{d}: {rivals[d]}" for d in groups if d in rivals) + ".",
        "",
    ]
    if skipped:
        lines += [f"Tasks without intervals (no per-item record for every run):{skipped}", ""]
    for label, title in (("best dense", "Δ vs the best dense rival"), ("baseline", f"Δ vs {baseline}"),
                         ("base", "Δ vs the base (untrained)")):
        lines += [f"**{title}**", "", "| variant | seeds | " + " | ".join(groups) + " |",
                  "|---|---:|" + "---|" * len(groups)]
        for variant, against in result["variants"].items():
            means = against[label]["means"]
            lines.append(f"| {variant} | {result['seeds'][variant]} | "
                         + " | ".join(cell(means.get(d)) for d in groups) + " |")
        lines.append("")
    paired = {v: a["counterpart"]["means"] for v, a in result["variants"].items()
              if a.get("counterpart", {}).get("means")}
    if paired:
        lines += ["**Δ vs the dense counterpart** (the same training and instructions without experts)", "",
                  "| variant | counterpart | seeds | " + " | ".join(groups) + " |",
                  "|---|---|---:|" + "---|" * len(groups)]
        for variant, means in paired.items():
            against = next(iter(means.values()))["against"]
            lines.append(f"| {variant} | {against} | {result['seeds'][variant]} | "
                         + " | ".join(cell(means.get(d)) for d in groups) + " |")
        lines.append("")
    missing = result.get("counterparts_not_run") or {}
    if missing:
        lines += ["Not compared with their dense counterpart (not in this run): "
                  + ", ".join(f"{v} ({c})" for v, c in missing.items()) + ".", ""]
    for label, ref in (("best dense", rivals.get(ALL)), ("baseline", baseline)):
        shown = [v for v in result["variants"] if result["variants"][v][label]["tasks"]]
        if not ref or not shown:
            continue
        lines += [f"**Per task, Δ vs {ref}**" + (" (the best dense rival on all tasks)" if label == "best dense"
                                                  else ""), "",
                  "| task | " + " | ".join(shown) + " |", "|---|" + "---|" * len(shown)]
        for t in result["groups"][ALL]:
            lines.append(f"| {t} | " + " | ".join(cell(result["variants"][v][label]["tasks"].get(t))
                                                 for v in shown) + " |")
        lines.append("")
    return "\n".join(lines)

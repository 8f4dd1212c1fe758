"""Markdown tables from pipeline reports (``report.json`` written by ``mote pipeline``): the README's experiment
table (in-domain and unseen means with paired bootstrap intervals against the best dense rival and the base),
a budget table of two reports of the same variants, and a before/after table of two reports of one preset.

    python benchmarks/pipeline_tables.py benchmarks/results/pipeline-cpu/report.json
    python benchmarks/pipeline_tables.py benchmarks/results/pipeline-cpu/report.json --budget 4x.json
        (and each MoTE variant against its dense counterpart at both budgets)
    python benchmarks/pipeline_tables.py AFTER.json --before BEFORE.json
    python benchmarks/pipeline_tables.py REPORT.json --types     (the per-type table of mote <= 0.2)
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mote.pipeline.intervals import DENSE_RIVALS, cell
from mote.pipeline.targets import MOTE_VARIANTS
from mote.pipeline.variants import all_variants

TYPES = ("Classification", "Clustering", "PairClassification", "Reranking", "Retrieval", "STS")
SHORT = {"Classification": "Class.", "Clustering": "Clust.", "PairClassification": "PairCl.", "Reranking": "Rerank.",
         "Retrieval": "Retr.", "STS": "STS"}
LABELS = {"mote-ea": "mote-ea (Expert Averaging)", "mote-sp": "mote-sp (Self Positioning over experts)",
          "separate-sp": "separate-sp (Self Positioning)"}


def _rows(path: Path) -> dict[str, dict[str, Any]]:
    rows: dict[str, dict[str, Any]] = json.loads(path.read_text(encoding="utf-8"))["rows"]
    return rows


def _mean_sd(row: dict[str, Any]) -> str:
    mean, sd = row["mean_over_types"]
    return f"{mean:.2f} ± {sd:.2f}" if len(row["seeds"]) > 1 and sd else f"{mean:.2f}"  # base: one model, sd 0


def result_table(rows: dict[str, dict[str, Any]], baseline: str = "joint-instr") -> str:
    base = rows[baseline]["mean_over_types"][0]
    head = " | ".join(SHORT[t] for t in TYPES)
    lines = [f"| variant | seeds | avg over types | Δ vs {baseline} | {head} |",
             "|---|---|---:|---:|" + "---:|" * len(TYPES)]
    for name, row in rows.items():
        label = LABELS.get(name, name)
        label = f"**{label}** (baseline)" if name == baseline else (f"**{label}**" if name == "mote" else label)
        seeds = len(set(row["seeds"])) if name != "base" else 1
        delta = row["mean_over_types"][0] - base
        types = " | ".join(f"{row['types'][t][0]:.2f}" if t in row["types"] else "–" for t in TYPES)
        lines.append(f"| {label} | {seeds} | {_mean_sd(row)} | {delta:+.2f} | {types} |")
    return "\n".join(lines) + "\n"


def before_after_table(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> str:
    lines = ["| variant | seeds before / after | avg over types before | after | change |", "|---|---|---:|---:|---:|"]
    for name in dict.fromkeys([*before, *after]):
        b, a = before.get(name), after.get(name)
        seeds = f"{len(set(b['seeds'])) if b else 0} / {len(set(a['seeds'])) if a else 0}"
        change = f"{a['mean_over_types'][0] - b['mean_over_types'][0]:+.2f}" if a and b else "–"
        lines.append(f"| {name} | {seeds} | {_mean_sd(b) if b else '–'} | {_mean_sd(a) if a else '–'} | {change} |")
    return "\n".join(lines) + "\n"


def experiment_table(report: dict[str, Any]) -> str:
    """Per variant: instruction set, seeds, in-domain and unseen means, each with its paired bootstrap interval
    against that mean's best dense rival; unseen against the base (forgetting shows as a negative)."""
    means, cis = report["split_means"], report.get("intervals") or {}
    variants = cis.get("variants", {})
    rivals = cis.get("rivals", {})
    lines = [f"| variant | instructions | seeds | in-domain | Δ best dense ({rivals.get('in-domain', '–')}) | unseen | "
             f"Δ best dense ({rivals.get('unseen', '–')}) | Δ base (unseen) |",
             "|---|---|---:|---:|---|---:|---|---|"]
    for name, row in report["rows"].items():
        m = means.get(name, {})
        against = variants.get(name, {})
        best = against.get("best dense", {}).get("means", {})
        base = against.get("base", {}).get("means", {})
        seeds = len(set(row["seeds"])) if name != "base" else 1
        lines.append(
            f"| {name} | {report.get('instructions', {}).get(name, '–')} | {seeds} | "
            f"{m['in-domain']:.2f} | {cell(best.get('in-domain'))} | {m['unseen']:.2f} | {cell(best.get('unseen'))} | "
            f"{cell(base.get('unseen'))} |" if "in-domain" in m and "unseen" in m else
            f"| {name} | – | {seeds} | – | – | – | – | – |")
    return "\n".join(lines) + "\n"


def _best(means: dict[str, dict[str, float]], names: tuple[str, ...], domain: str) -> str | None:
    present = [n for n in names if domain in means.get(n, {})]
    return max(present, key=lambda n: means[n][domain]) if present else None


def _gap(report: dict[str, Any], variant: str, rival: str, domain: str) -> str:
    """``variant`` minus ``rival`` on one mean, with the report's paired interval where it is against that rival."""
    iv = (report.get("intervals") or {}).get("variants", {}).get(variant, {}).get("best dense", {}).get("means", {})
    iv = iv.get(domain)
    if iv and iv.get("against") == rival:
        return cell(iv)
    means = report["split_means"]
    return f"{means[variant][domain] - means[rival][domain]:+.2f}"


def budget_table(reports: dict[str, dict[str, Any]]) -> str:
    """Per budget: the best MoTE variant's and the best folded model's gap to the best dense rival, per mean.
    (shared-small-4x grows every source but those used whole at 1x, PubMedQA and TREC-QA: the mixture shifts a
    little with the budget, too.)"""
    lines = ["| budget | mean | best dense | best MoTE | MoTE − dense | best folded | folded − dense |",
             "|---|---|---|---|---:|---|---:|"]
    folded = tuple(v.name for v in all_variants().values() if v.source in MOTE_VARIANTS)
    for label, report in reports.items():
        means = report["split_means"]
        for d in ("in-domain", "unseen"):
            bd, bm, bf = (_best(means, names, d) for names in (DENSE_RIVALS, MOTE_VARIANTS, folded))
            if bd is None:
                continue
            gap, fgap = (_gap(report, name, bd, d) if name else "–" for name in (bm, bf))
            lines.append(f"| {label} | {d} | {bd} {means[bd][d]:.2f} | {bm or '–'} | {gap} | {bf or '–'} | {fgap} |")
    return "\n".join(lines) + "\n"


def counterpart_table(reports: dict[str, dict[str, Any]]) -> str:
    """Per MoTE variant and budget: its gap to its dense counterpart (the same training and instructions
    without experts), with the report's paired interval: what the experts add."""
    found: dict[str, dict[str, Any]] = {}  # variant -> budget -> domain -> interval
    for label, report in reports.items():
        for name, against in (report.get("intervals") or {}).get("variants", {}).items():
            means = against.get("counterpart", {}).get("means", {})
            if means:
                found.setdefault(name, {})[label] = means
    if not found:
        return "No MoTE variant with its dense counterpart in these reports (or they predate the comparison).\n"
    cols = [(label, d) for label in reports for d in ("in-domain", "unseen")]
    lines = ["| variant | counterpart | " + " | ".join(f"{label} {d}" for label, d in cols) + " |",
             "|---|---|" + "---|" * len(cols)]
    for name in sorted(found, key=lambda n: MOTE_VARIANTS.index(n) if n in MOTE_VARIANTS else len(MOTE_VARIANTS)):
        by_budget = found[name]
        against = next(iv["against"] for means in by_budget.values() for iv in means.values())
        lines.append(f"| {name} | {against} | "
                     + " | ".join(cell(by_budget.get(label, {}).get(d)) for label, d in cols) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--before", type=Path, help="An earlier report of the same preset: print a before/after table.")
    ap.add_argument("--budget", type=Path, help="The same variants at another budget: print the budget table.")
    ap.add_argument("--types", action="store_true", help="The per-type table (no in-domain / unseen split).")
    ap.add_argument("--baseline", default="joint-instr")
    args = ap.parse_args()
    if args.before:
        print(before_after_table(_rows(args.before), _rows(args.report)))
    elif args.budget:
        reports = {p.parent.name: json.loads(p.read_text(encoding="utf-8")) for p in (args.report, args.budget)}
        print(budget_table(reports))
        print("What the experts add (each MoTE variant minus its dense counterpart):\n")
        print(counterpart_table(reports))
    elif args.types:
        print(result_table(_rows(args.report), args.baseline))
    else:
        print(experiment_table(json.loads(args.report.read_text(encoding="utf-8"))))


if __name__ == "__main__":
    main()

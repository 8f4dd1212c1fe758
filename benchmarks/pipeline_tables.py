"""Markdown tables from pipeline reports (``report.json`` written by ``mote pipeline``): the README's experiment
table, and a before/after table of two reports of the same preset.

    python benchmarks/pipeline_tables.py benchmarks/results/pipeline-cpu/report.json
    python benchmarks/pipeline_tables.py AFTER.json --before BEFORE.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

TYPES = ("Classification", "Clustering", "PairClassification", "Reranking", "STS")
SHORT = {"Classification": "Class.", "Clustering": "Clust.", "PairClassification": "PairCl.", "Reranking": "Rerank.",
         "STS": "STS"}
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("report", type=Path)
    ap.add_argument("--before", type=Path, help="An earlier report of the same preset: print a before/after table.")
    ap.add_argument("--baseline", default="joint-instr")
    args = ap.parse_args()
    after = _rows(args.report)
    print(before_after_table(_rows(args.before), after) if args.before else result_table(after, args.baseline))


if __name__ == "__main__":
    main()

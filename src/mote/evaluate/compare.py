"""Compare evaluation runs side by side: a markdown table with deltas against a baseline, and a bar chart."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mote._errors import unknown_name
from mote.model.io import atomic_write

Row = tuple[str, dict[str, float]]  # row label -> {model: score}


def load_summary(result_dir: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(result_dir) / "summary.json"
    if not path.is_file():
        raise FileNotFoundError(f"No summary.json in {str(result_dir)!r}; pass folders written by evaluate(out=...).")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"Corrupt JSON in {str(path)!r} ({e}): evaluate the model again with --out.") from None
    wanted = ("tasks", "type_averages", "mean_over_types", "mean_over_tasks")
    lacking = [k for k in wanted if not isinstance(data, dict) or k not in data]
    if lacking:
        raise ValueError(f"{str(path)!r} is not an evaluation summary (no {', '.join(map(repr, lacking))}): pass "
                         "folders written by `mote evaluate --out`, or evaluate the model again.")
    return dict(data)


def _labels(result_dirs: Sequence[str | os.PathLike[str]]) -> list[str]:
    labels = [Path(d).name or str(d) for d in result_dirs]
    if len(set(labels)) != len(labels):  # same folder names in different places: use the full paths
        labels = [str(d) for d in result_dirs]
    return labels


def comparison_rows(summaries: dict[str, dict[str, Any]]) -> list[Row]:
    """Rows: every task (first-seen order), then each task type's average, then both overall means."""
    tasks: dict[str, None] = {}
    types: dict[str, None] = {}
    for s in summaries.values():
        tasks.update(dict.fromkeys(s["tasks"]))
        types.update(dict.fromkeys(s["type_averages"]))
    rows: list[Row] = [(t, {m: s["tasks"][t]["score"] for m, s in summaries.items() if t in s["tasks"]}) for t in tasks]
    rows += [
        (f"avg {t}", {m: s["type_averages"][t] for m, s in summaries.items() if t in s["type_averages"]}) for t in types
    ]
    rows.append(("mean over task types", {m: s["mean_over_types"] for m, s in summaries.items()}))
    rows.append(("mean over tasks", {m: s["mean_over_tasks"] for m, s in summaries.items()}))
    return rows


def _cell(row: dict[str, float], model: str, baseline: str) -> str:
    if model not in row:
        return "–"
    text = f"{row[model]:.2f}"
    if model != baseline and baseline in row:
        text += f" ({row[model] - row[baseline]:+.2f})"
    return text


def to_markdown(rows: list[Row], models: list[str], baseline: str) -> str:
    head = "| task | " + " | ".join(f"{m} (baseline)" if m == baseline else m for m in models) + " |"
    lines = [head, "|---|" + "---:|" * len(models)]
    for label, row in rows:
        bold = label.startswith("mean over")
        name = f"**{label}**" if bold else label
        lines.append(f"| {name} | " + " | ".join(_cell(row, m, baseline) for m in models) + " |")
    lines.append("")
    lines.append(f"Scores are MTEB main scores x 100; (±x) = difference from the baseline {baseline!r}.")
    return "\n".join(lines) + "\n"


def plot(rows: list[Row], models: list[str], png: str | os.PathLike[str]) -> Path:
    """Grouped horizontal bar chart, one bar per model per row (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n_rows, n_models = len(rows), len(models)
    height = 0.8 / n_models
    fig, ax = plt.subplots(figsize=(9, 0.35 * n_rows * max(1, n_models) / 1.5 + 1.5))
    for j, model in enumerate(models):
        ys = [i + j * height for i in range(n_rows)]
        ax.barh(ys, [row.get(model, 0.0) for _, row in rows], height=height, label=model)
    ax.set_yticks([i + 0.4 - height / 2 for i in range(n_rows)], [label for label, _ in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("MTEB main score x 100")
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    out = Path(png)
    atomic_write(out, lambda f: fig.savefig(f, dpi=120, format="png"))
    plt.close(fig)
    return out


def compare(
    result_dirs: Sequence[str | os.PathLike[str]],
    baseline: str,
    png: str | os.PathLike[str] | None = "compare.png",
    overwrite: bool = False,
) -> str:
    """Markdown table of the runs in ``result_dirs`` (columns named after the folders), with deltas
    against the run named ``baseline``; also writes a bar chart to ``png`` unless it is None."""
    if not result_dirs:
        raise ValueError("Pass at least one result folder to compare.")
    resolved = [Path(d).resolve() for d in result_dirs]
    twice = sorted({str(d) for d in result_dirs if resolved.count(Path(d).resolve()) > 1})
    if twice:
        raise ValueError(f"Result folder {twice[0]!r} is given more than once: pass each run once.")
    if png is not None and Path(png).exists() and not overwrite:
        raise FileExistsError(f"Bar chart {str(png)!r} already exists. Choose another --png, or pass --overwrite.")
    models = _labels(result_dirs)
    if baseline not in models:
        raise unknown_name("baseline", baseline, models, "The baseline is one of the compared result folders' names.")
    summaries = {m: load_summary(d) for m, d in zip(models, result_dirs, strict=True)}
    rows = comparison_rows(summaries)
    table = to_markdown(rows, models, baseline)
    if png is not None:
        written = plot(rows, models, png)
        table += f"\nBar chart: {written}\n"
    return table

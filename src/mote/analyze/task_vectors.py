"""``mote analyze task-vectors``: how far, and in which directions, did per-task fine-tunes move from the base?

For separate models fine-tuned from one base (the Self Positioning setting), each task vector is ``tau_i =
theta_i - theta_base`` over every mergeable tensor (:mod:`mote.merge.task_vector`). The report gives each
vector's L2 norm (overall and per parameter group), the pairwise cosines (overall and per group: near-orthogonal
vectors are what makes merging them by addition work), and each model's examples seen. With models of one task
at several budgets, it fits ``norm = c * examples ** b`` on a log-log scale (per task, and over all models): the
Self Positioning paper's observation that task-vector norms grow with the data a task saw, which is why a fixed
uniform merge weight lets big datasets drown small ones.

A model is labelled ``TASK`` or ``TASK@anything`` (``query@600``): models sharing the part before ``@`` are one
task's budget sweep. Examples seen come from ``--examples LABEL=N`` or the training run's ``train_summary.json``
beside the model's ``final/`` folder.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mote.analyze._output import pyplot, write_result
from mote.analyze.conflict import group_of


def examples_seen(model: str | os.PathLike[str]) -> int | None:
    """``examples_seen`` recorded by ``mote train`` for a model folder (``.../final``), if any."""
    summary = Path(model).parent / "train_summary.json"
    if summary.is_file():
        value = json.loads(summary.read_text(encoding="utf-8")).get("examples_seen")
        return int(value) if value is not None else None
    return None


def power_fit(examples: list[float], norms: list[float]) -> dict[str, Any] | None:
    """Least squares of ``log norm = log c + b log examples``; None with fewer than two distinct budgets."""
    pairs = [(math.log(x), math.log(y)) for x, y in zip(examples, norms, strict=True) if x > 0 and y > 0]
    if len({p[0] for p in pairs}) < 2:
        return None
    n = len(pairs)
    mx, my = sum(p[0] for p in pairs) / n, sum(p[1] for p in pairs) / n
    sxx = sum((p[0] - mx) ** 2 for p in pairs)
    b = sum((p[0] - mx) * (p[1] - my) for p in pairs) / sxx
    a = my - b * mx
    ss_res = sum((p[1] - a - b * p[0]) ** 2 for p in pairs)
    ss_tot = sum((p[1] - my) ** 2 for p in pairs)
    return {"exponent": b, "coefficient": math.exp(a), "r2": 1 - ss_res / ss_tot if ss_tot > 0 else 1.0,
            "points": n}


def task_vectors(
    base: str | os.PathLike[str],
    models: Mapping[str, str | os.PathLike[str]],
    out: str | os.PathLike[str],
    examples: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Norms and pairwise cosines of ``models``' task vectors from ``base``, the norm-vs-examples fit; writes
    ``task_vectors.json`` and ``task_vectors.png``."""
    import torch

    from mote.merge.task_vector import check_compatible, is_mergeable
    from mote.model.resolve import resolve_model
    from mote.model.weights import LazyStateDict

    if not models:
        raise ValueError("task-vectors needs at least one fine-tuned model (LABEL=PATH).")
    base_sd = LazyStateDict(resolve_model(str(base)))
    labels = list(models)
    states = {label: LazyStateDict(resolve_model(str(path))) for label, path in models.items()}
    check_compatible(base_sd, list(states.values()), labels=[f"model {label!r}" for label in labels])
    names = [n for n in base_sd if is_mergeable(n, base_sd[n])]
    groups: dict[str, list[str]] = {"all": names}
    for n in names:
        groups.setdefault(group_of(n), []).append(n)
    # squared norms and dot products accumulate tensor by tensor: no model is held whole in memory
    dots = {g: torch.zeros(len(labels), len(labels), dtype=torch.float64) for g in groups}
    for n in names:
        base_t = base_sd[n].double()
        vecs = torch.stack([(states[label][n].double() - base_t).reshape(-1) for label in labels])
        gram = vecs @ vecs.T
        dots["all"] += gram
        dots[group_of(n)] += gram
    result: dict[str, Any] = {"base": str(base), "models": {}, "cosines": {}, "norms": {}}
    for g, d in dots.items():
        norm = d.diag().clamp_min(0).sqrt()
        denom = norm[:, None] * norm[None, :]
        cos = torch.where(denom > 0, d / denom.clamp_min(1e-300), torch.zeros_like(d))
        result["cosines"][g] = cos.tolist()
        result["norms"][g] = norm.tolist()
    seen = dict(examples or {})
    for i, label in enumerate(labels):
        n_seen = seen.get(label, examples_seen(models[label]))
        result["models"][label] = {"path": str(models[label]), "task": label.split("@", 1)[0],
                                   "norm": result["norms"]["all"][i], "examples_seen": n_seen}
    result["labels"] = labels
    known = [(m["task"], m["examples_seen"], m["norm"]) for m in result["models"].values()
             if m["examples_seen"]]
    result["fit_all"] = power_fit([k[1] for k in known], [k[2] for k in known])
    result["fit_per_task"] = {}
    for task in sorted({k[0] for k in known}):
        fit = power_fit([k[1] for k in known if k[0] == task], [k[2] for k in known if k[0] == task])
        if fit is not None:
            result["fit_per_task"][task] = fit
    write_result(out, "task_vectors", result, _plot)
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    import numpy as np

    labels = result["labels"]
    cos = np.array(result["cosines"]["all"])
    fig, axes = plt.subplots(1, 3, figsize=(18, 4.8))
    im = axes[0].imshow(cos, vmin=-1, vmax=1, cmap="coolwarm")
    axes[0].set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    axes[0].set_yticks(range(len(labels)), labels)
    for i in range(len(labels)):
        for j in range(len(labels)):
            axes[0].text(j, i, f"{cos[i, j]:.2f}", ha="center", va="center", fontsize=8)
    axes[0].set_title("cosine between task vectors (all tensors)")
    fig.colorbar(im, ax=axes[0], fraction=0.046)
    blocks = sorted((g for g in result["norms"] if g.startswith("block ")), key=lambda g: int(g.split()[1]))
    order = [g for g in ["embeddings", *blocks, "other"] if g in result["norms"]]
    width = 0.8 / max(1, len(labels))
    for i, label in enumerate(labels):
        axes[1].bar(np.arange(len(order)) + i * width, [result["norms"][g][i] for g in order], width, label=label)
    axes[1].set_xticks(np.arange(len(order)) + 0.4 - width / 2, order, rotation=30, ha="right")
    axes[1].set_ylabel("L2 norm of the task vector")
    axes[1].set_title("norm per parameter group")
    axes[1].legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    models = result["models"].values()
    known = [(m["task"], m["examples_seen"], m["norm"]) for m in models if m["examples_seen"]]
    ax = axes[2]
    for task in sorted({k[0] for k in known}):
        xs = [k[1] for k in known if k[0] == task]
        ys = [k[2] for k in known if k[0] == task]
        ax.scatter(xs, ys, label=task)
    fit = result.get("fit_all")
    if fit and known:
        line = np.geomspace(min(k[1] for k in known), max(k[1] for k in known), 50)
        ax.plot(line, fit["coefficient"] * line ** fit["exponent"], color="grey", linestyle="--",
                label=f"all: norm ~ examples^{fit['exponent']:.2f} (R2 {fit['r2']:.2f})")
    if any(k[2] > 0 for k in known):
        from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

        ax.set_xscale("log")
        ax.set_yscale("log")
        for axis in (ax.xaxis, ax.yaxis):  # plain numbers at a few ticks; no crowded minor labels
            axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
            axis.set_major_formatter(ScalarFormatter())
            axis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("examples seen in fine-tuning")
    ax.set_ylabel("task vector L2 norm")
    ax.set_title("norm vs data" if known else "norm vs data (no examples-seen recorded)")
    if known:
        ax.legend(fontsize=7)
    fig.suptitle(f"Task vectors from {result['base']}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

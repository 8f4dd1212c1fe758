"""``mote analyze landscape``: each task's loss over the plane of two task vectors, with the merges marked.

The plane is ``theta(a, b) = theta_0 + a * tau_A + b * tau_B`` for two models fine-tuned from the base
``theta_0`` (``tau = theta - theta_0``). At each grid point every probe task's own training loss
(:func:`mote.merge.probe.batch_loss`: InfoNCE or CoSENT with the task's settings) is averaged over its first
probe batches; the total is the mean of the tasks' losses each divided by its value at the base (the
normalisation Self Positioning's probe uses, so that no task's scale decides). Marked: the plain average
(0.5, 0.5), task arithmetic (lambda, lambda), Self Positioning's learned point (fitted here on the same probe
with the two task vectors, unless turned off), and any merged model given, projected onto the plane (its
distance from the plane is reported; its own loss is evaluated too).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from mote.analyze._output import pyplot, write_result


def grid_axis(low: float, high: float, points: int) -> list[float]:
    """``points`` evenly spaced values from ``low`` to ``high`` (both included)."""
    if points < 2 or not high > low:
        raise ValueError(f"A grid needs at least 2 points and high > low; got {points} points from {low} to {high}.")
    return [low + (high - low) * i / (points - 1) for i in range(points)]


def landscape(
    base: str | os.PathLike[str],
    model_a: tuple[str, str | os.PathLike[str]],
    model_b: tuple[str, str | os.PathLike[str]],
    probe: str | os.PathLike[str],
    out: str | os.PathLike[str],
    low: float = -0.5,
    high: float = 1.5,
    points: int = 9,
    batch_size: int = 16,
    batches: int = 2,
    tasks: Sequence[str] | None = None,
    marks: Mapping[str, str | os.PathLike[str]] | None = None,
    task_arithmetic_lambda: float = 0.4,
    self_positioning_steps: int = 100,
) -> dict[str, Any]:
    """Loss landscape over ``theta_0 + a tau_A + b tau_B``; writes ``landscape.json`` and ``landscape.png``.

    ``model_a`` / ``model_b``: (label, folder) of two fine-tunes of ``base``. ``probe``: a probe JSONL (rows
    ``anchor``, ``positive``, ``task`` and optional settings). ``marks``: merged models to project onto the
    plane. ``self_positioning_steps=0`` leaves Self Positioning's point out."""
    import torch

    from mote.merge.probe import backbone, batch_loss, by_task, fixed_batches, load_probe_jsonl, module_prefix
    from mote.merge.self_positioning import SelfPositioningOptions, self_position
    from mote.merge.task_vector import check_compatible, is_mergeable
    from mote.model.hf import mote_of
    from mote.model.resolve import resolve_model
    from mote.model.sentence import load
    from mote.model.weights import LazyStateDict

    axis = grid_axis(low, high, points)
    st = load(str(base))
    if mote_of(st) is not None:
        raise ValueError(f"The base {str(base)!r} is a MoTE model; the landscape is over a dense base and its dense "
                         "fine-tunes (Expert Averaging or a merge gives a dense model).")
    st.train(False)
    inner = backbone(st)
    prefix = module_prefix(st, inner)
    theta0 = {n: t.detach().clone() for n, t in inner.state_dict().items() if is_mergeable(n, t)}
    labels = (model_a[0], model_b[0])
    if labels[0] == labels[1]:
        raise ValueError(f"The two models need different labels; both are {labels[0]!r}.")
    states = [LazyStateDict(resolve_model(str(model_a[1]))), LazyStateDict(resolve_model(str(model_b[1])))]
    check_compatible(theta0, states, labels=[f"model {x!r}" for x in labels])
    tau = [{n: s[n].to(theta0[n].dtype) - theta0[n] for n in theta0} for s in states]
    examples = load_probe_jsonl(probe, tasks=tasks)
    per_task = {t: fixed_batches(rows, batch_size)[:batches] for t, rows in sorted(by_task(examples).items())}

    def params(a: float, b: float) -> dict[str, Any]:
        return {prefix + n: theta0[n] + a * tau[0][n] + b * tau[1][n] for n in theta0}

    @torch.no_grad()
    def losses(p: Mapping[str, Any] | None) -> dict[str, float]:
        return {t: sum(float(batch_loss(st, bt, p)) for bt in chosen) / len(chosen) for t, chosen in per_task.items()}

    scored: dict[tuple[float, float], dict[str, float]] = {}

    def losses_at(a: float, b: float) -> dict[str, float]:
        """Each task's loss at theta_0 + a tau_A + b tau_B, scored once per point (marks often lie on the grid)."""
        key = (round(a, 12), round(b, 12))
        if key not in scored:
            scored[key] = losses(None if key == (0.0, 0.0) else params(a, b))
        return scored[key]

    origin = losses_at(0.0, 0.0)

    def total(values: Mapping[str, float]) -> float:
        return sum(values[t] / max(origin[t], 1e-12) for t in values) / len(values)

    points_marked: dict[str, dict[str, Any]] = {}

    def mark(name: str, a: float, b: float, **extra: Any) -> None:
        values = losses_at(a, b)
        points_marked[name] = {"a": a, "b": b, "losses": values, "total": total(values), **extra}

    mark("base", 0.0, 0.0)
    mark(labels[0], 1.0, 0.0)
    mark(labels[1], 0.0, 1.0)
    mark("average", 0.5, 0.5)
    mark(f"task arithmetic (lambda {task_arithmetic_lambda:g})", task_arithmetic_lambda, task_arithmetic_lambda)
    if self_positioning_steps > 0:
        vectors = {n: torch.stack([tau[0][n], tau[1][n]]) for n in theta0}
        options = SelfPositioningOptions(steps=self_positioning_steps, batch_size=batch_size)
        sp = self_position(st, theta0, vectors, examples, options, prefix)
        a_sp, b_sp = sp.coefficients["all"]
        mark("self positioning", a_sp, b_sp, weights=sp.weights["all"], lambda_=sp.lambda_)
    gram = torch.tensor([[_dot(tau[i], tau[j]) for j in range(2)] for i in range(2)], dtype=torch.float64)
    for name, path in (marks or {}).items():
        state = LazyStateDict(resolve_model(str(path)))
        check_compatible(theta0, [state], labels=[f"model {name!r}"])
        delta = {n: state[n].to(theta0[n].dtype) - theta0[n] for n in theta0}
        rhs = torch.tensor([_dot(tau[0], delta), _dot(tau[1], delta)], dtype=torch.float64)
        a_m, b_m = (float(x) for x in torch.linalg.solve(gram, rhs))
        norm2 = _dot(delta, delta)
        off_plane = max(norm2 - (a_m * float(rhs[0]) + b_m * float(rhs[1])), 0.0)
        own = losses({prefix + n: theta0[n] + delta[n] for n in theta0})
        mark(name, a_m, b_m, projected=True, off_plane_fraction=(off_plane / norm2) ** 0.5 if norm2 > 0 else 0.0,
             own_losses=own, own_total=total(own))
    for m in points_marked.values():  # e.g. Self Positioning's point beyond the grid: said (widen --low/--high)
        m["outside_grid"] = not (low <= m["a"] <= high and low <= m["b"] <= high)
    grid = {t: [[0.0] * points for _ in axis] for t in per_task}
    from tqdm.auto import tqdm

    with tqdm(total=points * points, desc="landscape grid", unit="point") as bar:
        for i, b in enumerate(axis):  # rows: b (tau_B), columns: a (tau_A)
            for j, a in enumerate(axis):
                for t, v in losses_at(a, b).items():
                    grid[t][i][j] = v
                bar.update(1)
    total_grid = [[total({t: grid[t][i][j] for t in grid}) for j in range(points)] for i in range(points)]
    result = {"base": str(base), "a": {"label": labels[0], "path": str(model_a[1])},
              "b": {"label": labels[1], "path": str(model_b[1])}, "probe": str(probe), "axis": axis,
              "tasks": list(per_task), "examples_per_task": {t: sum(len(b) for b in c) for t, c in per_task.items()},
              "cosine_a_b": float(gram[0, 1] / (gram[0, 0] * gram[1, 1]).sqrt()) if gram[0, 0] * gram[1, 1] > 0
              else 0.0, "norms": [float(gram[0, 0].sqrt()), float(gram[1, 1].sqrt())],
              "origin_losses": origin, "losses": grid, "total": total_grid, "marks": points_marked}
    write_result(out, "landscape", result, _plot)
    return result


def _dot(x: Mapping[str, Any], y: Mapping[str, Any]) -> float:
    return float(sum((x[n].double() * y[n].double()).sum() for n in x))


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    import numpy as np

    axis = np.array(result["axis"])
    panels = [(f"{t} loss", np.array(result["losses"][t])) for t in result["tasks"]]
    panels.append(("total (mean of losses / loss at base)", np.array(result["total"])))
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 4.4 * rows), squeeze=False)
    styles = {"base": "ks", "average": "w^", "self positioning": "r*"}
    for ax, (title, values) in zip(axes.flat, panels, strict=False):
        cs = ax.contourf(axis, axis, values, levels=14, cmap="viridis")
        fig.colorbar(cs, ax=ax, fraction=0.046)
        for name, m in result["marks"].items():
            style = styles.get(name, "wo" if not m.get("projected") else "cD")
            if name in (result["a"]["label"], result["b"]["label"]):
                style = "wo"
            ax.plot(m["a"], m["b"], style, markersize=9 if name == "self positioning" else 6,
                    markeredgecolor="black")
            ax.annotate(name, (m["a"], m["b"]), textcoords="offset points", xytext=(5, 4), fontsize=7,
                        bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "alpha": 0.7, "linewidth": 0})
        ax.set_xlabel(f"a (coefficient of tau {result['a']['label']})")
        ax.set_ylabel(f"b (coefficient of tau {result['b']['label']})")
        ax.set_title(title, fontsize=10)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle(f"Loss over theta_0 + a tau_A + b tau_B (cosine(tau_A, tau_B) = {result['cosine_a_b']:.2f})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

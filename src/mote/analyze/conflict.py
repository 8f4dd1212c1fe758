"""``mote analyze conflict``: do the tasks pull the shared parameters the same way?

For each task, the gradient of its own training loss (the loss the trainer and the merge probe use:
:func:`mote.merge.probe.batch_loss`, InfoNCE or CoSENT with the task's settings, routed through the task's
expert on a MoTE model) is accumulated over a few probe batches of that task, for every *shared* parameter
(on a MoTE model: everything but the expert banks; on a dense model: everything). The report gives the matrix
of pairwise cosines between the tasks' gradients, overall and per parameter group (embeddings, each block,
the rest): the Self Positioning paper's evidence that joint multi-task training pulls in conflicting
directions (negative or near-zero cosines), measured on the user's model and data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mote.analyze._output import pyplot, write_result

_BLOCK = re.compile(r"\.(?:layer|layers|block|blocks|h)\.(\d+)\.")


def group_of(name: str) -> str:
    """The parameter group of a parameter name: ``embeddings``, ``block N``, or ``other``."""
    m = _BLOCK.search(name)
    if m:
        return f"block {int(m.group(1))}"
    return "embeddings" if "embed" in name else "other"


def conflict(
    model: str | os.PathLike[str],
    probe: str | os.PathLike[str],
    out: str | os.PathLike[str],
    batch_size: int = 16,
    batches: int = 4,
    tasks: Sequence[str] | None = None,
    label: str | None = None,
) -> dict[str, Any]:
    """Per-task gradient cosines of the shared parameters; writes ``conflict.json`` and ``conflict.png``.

    ``within_task_split_half``: per task, the cosine between the gradients of the first and second half of its
    batches: the level two *unrelated* batch samples of one task already reach. Cross-task cosines are read
    against it (a cross-task cosine near the within-task one means no conflict beyond sampling noise)."""
    import torch

    from mote.merge.probe import batch_loss, by_task, fixed_batches, load_probe_jsonl
    from mote.model.hf import mote_of
    from mote.model.sentence import load

    st = load(str(model))
    st.train(False)
    routed = mote_of(st) is not None
    examples = by_task(load_probe_jsonl(probe, tasks=tasks))
    if len(examples) < 2:
        raise ValueError(f"The probe {str(probe)!r} holds {len(examples)} task(s) ({', '.join(examples)}); a "
                         "conflict needs at least two.")
    shared = {n: p for n, p in st.named_parameters() if ".experts." not in n}
    grads: dict[str, dict[str, torch.Tensor]] = {}
    halves: dict[str, tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]] = {}
    used: dict[str, int] = {}

    def gradient(chosen: Sequence[Any]) -> dict[str, torch.Tensor]:
        st.zero_grad(set_to_none=True)
        for batch in chosen:
            (batch_loss(st, batch, route=routed) / len(chosen)).backward()  # type: ignore[no-untyped-call]
        return {n: (p.grad.detach().clone() if p.grad is not None else torch.zeros_like(p))
                for n, p in shared.items()}

    for task, rows in sorted(examples.items()):
        chosen = fixed_batches(rows, batch_size)[:batches]
        if len(chosen) >= 2:  # the noise floor: how alike two halves of the SAME task's batches pull
            k = len(chosen) // 2
            first, second = gradient(chosen[:k]), gradient(chosen[k:])
            halves[task] = (first, second)
            grads[task] = {n: (first[n] * k + second[n] * (len(chosen) - k)) / len(chosen) for n in shared}
        else:
            grads[task] = gradient(chosen)
        used[task] = sum(len(b) for b in chosen)
    st.zero_grad(set_to_none=True)
    names = sorted(grads)
    groups: dict[str, list[str]] = {"all shared": list(shared)}
    for n in shared:
        groups.setdefault(group_of(n), []).append(n)
    matrices: dict[str, list[list[float]]] = {}
    for group, params in groups.items():
        flat = {t: torch.cat([grads[t][n].reshape(-1).double() for n in params]) for t in names}
        matrices[group] = [[_cos(flat[a], flat[b]) for b in names] for a in names]
    within = {t: _cos(torch.cat([a[n].reshape(-1).double() for n in shared]),
                      torch.cat([b[n].reshape(-1).double() for n in shared])) for t, (a, b) in halves.items()}
    # the cross-task cosines at the SAME sample size as the split-half floor (halves vs halves): comparing the
    # floor with cosines of twice the data would read noise as conflict or agreement
    half_sample = None
    if len(halves) == len(names):
        flat_h = {t: [torch.cat([h[n].reshape(-1).double() for n in shared]) for h in halves[t]] for t in names}
        half_sample = [[(_cos(flat_h[a][0], flat_h[b][0]) + _cos(flat_h[a][1], flat_h[b][1])) / 2 for b in names]
                       for a in names]
    result = {"model": str(model), "label": label or str(model), "probe": str(probe), "tasks": names,
              "examples_per_task": used, "routed": routed,
              "shared_parameters": sum(p.numel() for p in shared.values()), "cosines": matrices,
              "within_task_split_half": within, "cosines_half_sample": half_sample}
    write_result(out, "conflict", result, _plot)
    return result


def _cos(a: Any, b: Any) -> float:
    na, nb = float(a.norm()), float(b.norm())
    return float((a @ b) / (na * nb)) if na > 0 and nb > 0 else 0.0


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()
    import numpy as np

    names = result["tasks"]
    overall = np.array(result["cosines"]["all shared"])
    blocks = sorted((g for g in result["cosines"] if g.startswith("block ")), key=lambda g: int(g.split()[1]))
    order = ["embeddings", *blocks, "other"]
    order = [g for g in order if g in result["cosines"]]
    off = ~np.eye(len(names), dtype=bool)
    means = [float(np.array(result["cosines"][g])[off].mean()) for g in order]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
    im = ax1.imshow(overall, vmin=-1, vmax=1, cmap="coolwarm")
    ax1.set_xticks(range(len(names)), names, rotation=30, ha="right")
    ax1.set_yticks(range(len(names)), names)
    for i in range(len(names)):
        for j in range(len(names)):
            ax1.text(j, i, f"{overall[i, j]:.2f}", ha="center", va="center", fontsize=8)
    ax1.set_title("gradient cosine, all shared parameters")
    fig.colorbar(im, ax=ax1, fraction=0.046)
    ax2.bar(range(len(order)), means, color=["tab:red" if m < 0 else "tab:blue" for m in means])
    ax2.axhline(0, color="grey", linewidth=1)
    ax2.set_xticks(range(len(order)), order, rotation=30, ha="right")
    ax2.set_ylabel("mean cosine between tasks")
    ax2.set_title("per parameter group")
    within = result.get("within_task_split_half") or {}
    note = (f"; same task, split halves: {min(within.values()):.2f}..{max(within.values()):.2f}" if within else "")
    fig.suptitle(f"Task gradient conflict: {result['label']} "
                 f"({'routed through experts' if result['routed'] else 'dense'}){note}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

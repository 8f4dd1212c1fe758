"""``mote analyze spaces``: how alike are the embedding spaces the tasks' routes give the same texts?

Every model embeds one fixed text set once per task route (a MoTE model: the task's expert and instruction; a
dense model: the task's saved prompt, or the raw text when it has none). Per pair of routes the report gives
linear CKA (centred kernel alignment, Kornblith et al. 2019: 1 when one space is a rotation and rescaling of the
other, near 0 when unrelated) and the mean cosine between one text's two embeddings. A MoTE model whose experts
specialise shows routes that differ more than an instruction-only dense model's (whose routes differ only by the
prefix); routes that stay near CKA 1 are spaces the experts did not separate.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mote.analyze._output import pyplot, write_result

RAW = "(raw text)"  # the route of a dense model without prompts


def linear_cka(x: np.ndarray, y: np.ndarray) -> float:
    """Linear CKA between two representations of the same n examples (rows): ``||Yc^T Xc||_F^2 /
    (||Xc^T Xc||_F ||Yc^T Yc||_F)`` on column-centred matrices, computed in float64."""
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"linear_cka needs the same examples on both sides: {x.shape[0]} rows vs {y.shape[0]}.")
    xc = np.asarray(x, dtype=np.float64) - np.asarray(x, dtype=np.float64).mean(axis=0)
    yc = np.asarray(y, dtype=np.float64) - np.asarray(y, dtype=np.float64).mean(axis=0)
    denominator = np.linalg.norm(xc.T @ xc) * np.linalg.norm(yc.T @ yc)
    return float(np.linalg.norm(yc.T @ xc) ** 2 / denominator) if denominator > 0 else 0.0


def read_texts(path: str | os.PathLike[str], limit: int, seed: int = 0) -> list[str]:
    """Distinct texts of a file: one a line (``.txt``), or the anchors and positives of a probe JSONL (as written
    by ``mote merge`` / the pipeline); ``limit`` of them, sampled with ``seed`` when there are more."""
    from mote.merge.probe import load_probe_jsonl
    from mote.model.io import missing
    from mote.textio import read_utf8

    path = Path(path)
    if not path.is_file():
        raise missing("Text file", path)
    if path.suffix == ".jsonl":
        rows = load_probe_jsonl(path)
        texts = [t for r in rows for t in (r["anchor"], r["positive"])]
    else:
        texts = [line.strip() for line in read_utf8(path, "Text file").splitlines()]
    texts = list(dict.fromkeys(t for t in texts if t.strip()))
    if len(texts) < 2:
        raise ValueError(f"{str(path)!r} holds {len(texts)} distinct text(s); the analysis needs at least 2 "
                         "(CKA compares how the texts sit relative to each other).")
    if len(texts) > limit:
        rng = np.random.default_rng(seed)
        texts = [texts[i] for i in sorted(rng.choice(len(texts), size=limit, replace=False))]
    return texts


def routes_of(st: Any) -> list[str]:
    """The task routes of a loaded model: a MoTE model's tasks, a dense model's saved prompts, else the raw text."""
    from mote.model.hf import mote_of
    from mote.model.sentence import saved_prompts

    moe = mote_of(st)
    if moe is not None:
        return list(moe.config.tasks.names)
    return list(saved_prompts(st)) or [RAW]


def route_spaces(st: Any, texts: Sequence[str], routes: Sequence[str], batch_size: int = 32) -> dict[str, Any]:
    """Linear CKA and mean same-text cosine between every pair of ``routes`` of one loaded model."""
    import torch

    from mote.model.sentence import encode
    from mote.runtime import resolve

    runtime = resolve("auto", "cpu")
    with torch.inference_mode(), runtime.autocast():
        emb = {r: encode(st, list(texts), task=None if r == RAW else r, batch_size=batch_size).astype(np.float64)
               for r in routes}
    unit = {r: e / np.maximum(np.linalg.norm(e, axis=1, keepdims=True), 1e-12) for r, e in emb.items()}
    cka = [[linear_cka(emb[a], emb[b]) for b in routes] for a in routes]
    cosine = [[float((unit[a] * unit[b]).sum(axis=1).mean()) for b in routes] for a in routes]
    off = ~np.eye(len(routes), dtype=bool)
    return {"routes": list(routes), "cka": cka, "mean_cosine": cosine, "precision": runtime.precision,
            "mean_off_diagonal_cka": float(np.array(cka)[off].mean()) if len(routes) > 1 else None}


def spaces(
    models: Mapping[str, str | os.PathLike[str]] | Sequence[str | os.PathLike[str]],
    texts: str | os.PathLike[str],
    out: str | os.PathLike[str],
    n_texts: int = 512,
    tasks: Sequence[str] | None = None,
    batch_size: int = 32,
    seed: int = 0,
) -> dict[str, Any]:
    """Route-to-route similarity of each model's embedding spaces; writes ``spaces.json`` and ``spaces.png``.

    ``models``: label -> folder (or folders, labelled by their path). ``texts``: a ``.txt`` (one a line) or a
    probe ``.jsonl``. ``tasks``: the routes to compare (default: each model's own)."""
    from mote._errors import unknown_name
    from mote.model.sentence import load

    labelled = dict(models) if isinstance(models, Mapping) else {str(m): m for m in models}
    if not labelled:
        raise ValueError("spaces needs at least one model.")
    sample = read_texts(texts, n_texts, seed)
    result: dict[str, Any] = {"texts": str(texts), "n_texts": len(sample), "seed": seed, "models": {}}
    order: list[str] = []  # the first model's routes: every figure lists shared routes in one order
    for label, path in labelled.items():
        st = load(str(path))
        st.train(False)
        own = routes_of(st)
        order = order or own
        chosen = list(tasks) if tasks else sorted(own, key=lambda r: (order.index(r) if r in order else len(order),
                                                                      own.index(r)))
        for t in chosen:
            if t not in own:
                raise unknown_name(f"task of {label!r}", t, own, "Its routes are its tasks (MoTE) or its saved "
                                   "prompts (dense).")
        result["models"][label] = {"path": str(path), **route_spaces(st, sample, chosen, batch_size)}
    write_result(out, "spaces", result, _plot)
    return result


def _plot(result: dict[str, Any], path: Path) -> None:
    plt = pyplot()

    models = result["models"]
    fig, axes = plt.subplots(1, len(models), figsize=(5.6 * len(models) + 1.0, 4.8), squeeze=False,
                             layout="constrained")
    im = None
    for ax, (label, m) in zip(axes[0], models.items(), strict=True):
        routes, cka = m["routes"], np.array(m["cka"])
        im = ax.imshow(cka, vmin=0, vmax=1, cmap="viridis")
        ax.set_xticks(range(len(routes)), routes, rotation=30, ha="right")
        ax.set_yticks(range(len(routes)), routes)
        for i in range(len(routes)):
            for j in range(len(routes)):
                ax.text(j, i, f"{cka[i, j]:.2f}", ha="center", va="center", fontsize=8,
                        color="black" if cka[i, j] > 0.6 else "white")
        mean = m["mean_off_diagonal_cka"]
        ax.set_title(f"{label}\nmean CKA between routes: {mean:.3f}" if mean is not None else label, fontsize=10)
    if im is not None:
        fig.colorbar(im, ax=axes[0].tolist(), fraction=0.03, label="linear CKA (1 = same space up to rotation/scale)")
    fig.suptitle(f"Task routes' embedding spaces on {result['n_texts']} shared texts")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)

"""Self Positioning: learn where the merged model sits in the span of the task vectors.

Li et al. 2024, "Improving General Text Embedding Model: Tackling Task Conflict and Data Imbalance through
Model Merging", arXiv 2410.15035 (no code released; see docs/METHODS.md section 2).

Learned: N positive task weights ``a_i = exp(u_i)`` (one set per layer with ``per_layer``, AdaMerging-style)
and one global scale ``lambda = exp(v)``: N+1 scalars (G*N+1 per layer). The direction is the weighted
iterative SLERP of the task vectors (``direction: linear``: their weighted average), computed exactly in
the span from the Gram matrix (:mod:`mote.merge.direction`); the merged model is
``theta_0 + lambda * V_(1..N)``. Objective: the mean training loss of the merged model on single-task
probe batches (each task's own objective and temperature, :func:`mote.merge.probe.batch_loss`: CoSENT/AnglE
on scored pairs, InfoNCE with in-batch negatives and same-label masking on the others), plus
``mu * lambda``. Only the scalars carry gradients: the merged tensors are
passed to the sentence-transformers model through ``torch.func.functional_call``; its weights never change.

Deviation from the notes' formula: there the SLERP coefficient of ``V_i`` is ``sin(a_j/(a_i+a_j) alpha)``,
which would move the result *away* from the task with the larger weight; we use the standard orientation
(a larger ``a_i`` pulls towards ``V_i``). Both span the same family; only the meaning of ``a`` differs.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn
from tqdm.auto import tqdm

from mote.merge.direction import gram_matrix, linear_coefficients, slerp_coefficients
from mote.merge.probe import (
    ProbeExample,
    TaskSettings,
    batch_groups,
    batch_loss,
    check_probe,
    frozen,
    probe_loss,
    sampled_batches,
)
from mote.merge.registry import learned_method

_LAYER = re.compile(r"(?:^|\.)(?:layer|layers|h|block|blocks)\.(\d+)\.")


class SelfPositioningOptions(BaseModel):
    """Options of :func:`self_position` (the ``parameters`` of ``method: self_positioning``)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(default=200, ge=1, description="Optimisation steps (one single-task probe batch each).")
    lr: float = Field(default=0.05, gt=0, description="Adam learning rate on the log-weights and log-lambda.")
    batch_size: int = Field(default=32, ge=2, description="Probe batch size (in-batch negatives).")
    seed: int = Field(default=0, ge=0, description="Seed of the batch order.")
    per_layer: bool = Field(default=False, description="One set of task weights per block (AdaMerging-style).")
    direction: Literal["slerp", "linear"] = Field(default="slerp", description="Weighted iterative SLERP or mean.")
    accumulate: Literal["sum", "mean"] = Field(
        default="sum",
        description="SLERP step k uses t = a_k / (acc + a_k), acc = sum (default) or mean (the notes) of a_<k.",
    )
    mu: float = Field(default=0.01, ge=0, description="Penalty mu * lambda on the scale (the paper: mu < 0.05).")
    temperature: float = Field(
        default=0.05, gt=0, description="Temperature of probe tasks without their own (task settings or row fields)."
    )
    init_lambda: float = Field(default=1.0, gt=0, description="Initial global scale lambda.")
    normalize: bool = Field(
        default=False,
        description="Divide each batch's loss by its group's (task, scored or not) probe loss at the start, so "
        "tasks whose losses live on different scales (CoSENT vs InfoNCE) weigh equally (default: the paper's "
        "plain mean loss).",
    )
    progress: bool = Field(default=True, description="Show a tqdm bar over steps.")


@dataclass
class SelfPositioningResult:
    """Merged tensors (for the task-vector names) and what was learned."""

    state: dict[str, Tensor]
    weights: dict[str, list[float]]
    lambda_: float
    coefficients: dict[str, list[float]]
    loss_curve: list[float]
    initial_loss: float
    final_loss: float
    wall_time_s: float
    options: dict[str, Any] = field(default_factory=dict)

    def report(self) -> dict[str, Any]:
        """JSON-ready summary (no tensors)."""
        return {
            "weights": self.weights,
            "lambda": self.lambda_,
            "coefficients": self.coefficients,
            "loss_curve": self.loss_curve,
            "initial_probe_loss": self.initial_loss,
            "final_probe_loss": self.final_loss,
            "wall_time_s": self.wall_time_s,
            "options": self.options,
        }


def layer_groups(names: Sequence[str], per_layer: bool) -> dict[str, list[str]]:
    """``{"all": names}``, or one group per block index (``layer.3``) plus ``other`` for the rest."""
    if not per_layer:
        return {"all": list(names)}
    groups: dict[str, list[str]] = {}
    for name in names:
        m = _LAYER.search(name)
        groups.setdefault(f"layer.{m.group(1)}" if m else "other", []).append(name)
    return dict(sorted(groups.items(), key=lambda kv: _group_order(kv[0])))


def _group_order(group: str) -> tuple[int, int]:
    return (1, 0) if group == "other" else (0, int(group.split(".")[1]))


class _Positioner(nn.Module):
    """The N+1 (or G*N+1) scalars and the map from them to merged tensors."""

    def __init__(self, base: Mapping[str, Tensor], vectors: Mapping[str, Tensor], opts: SelfPositioningOptions,
                 prefix: str) -> None:
        super().__init__()
        self.base, self.vectors, self.opts, self.prefix = base, vectors, opts, prefix
        self.groups = layer_groups(sorted(vectors), opts.per_layer)
        n = next(iter(vectors.values())).shape[0]
        self.grams = {g: gram_matrix(_unstack(vectors, names, n), names) for g, names in self.groups.items()}
        self.log_weights = nn.Parameter(torch.zeros(len(self.groups), n, dtype=torch.float64))
        self.log_lambda = nn.Parameter(torch.tensor(math.log(opts.init_lambda), dtype=torch.float64))

    def lam(self) -> Tensor:
        return self.log_lambda.exp()

    def coefficients(self) -> dict[str, Tensor]:
        """Per group: ``lambda * c`` (the coefficient of each task vector), differentiable."""
        out = {}
        for i, (g, _) in enumerate(self.groups.items()):
            a = self.log_weights[i].exp()
            c = (slerp_coefficients(self.grams[g], a, self.opts.accumulate) if self.opts.direction == "slerp"
                 else linear_coefficients(a))
            out[g] = self.lam() * c
        return out

    def merged(self, detach: bool = False) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for g, coef in self.coefficients().items():
            for name in self.groups[g]:
                b, stack = self.base[name], self.vectors[name]  # stack: (N, *shape)
                with torch.autocast(stack.device.type, enabled=False):  # weights stay fp32 under a bf16 probe
                    value = b.to(stack.dtype) + torch.tensordot(coef.to(stack.device, stack.dtype), stack, dims=1)
                if detach:
                    out[name] = value.detach().to(device="cpu", dtype=b.dtype)
                else:
                    out[self.prefix + name] = value.to(b.dtype)
        return out


def _unstack(vectors: Mapping[str, Tensor], names: Sequence[str], n: int) -> list[dict[str, Tensor]]:
    return [{name: vectors[name][i] for name in names} for i in range(n)]


def check_vectors(base: Mapping[str, Tensor], vectors: Mapping[str, Tensor]) -> int:
    """Stacked task vectors ``{name: (N, *shape)}``: names in the base, shapes matching. Returns N."""
    if not vectors:
        raise ValueError("No task vectors to position: give at least one tensor name with (N, *shape) vectors.")
    counts = {v.shape[0] for v in vectors.values()}
    if len(counts) != 1:
        raise ValueError(f"Every stacked task vector needs the same N (first dimension); got {sorted(counts)}.")
    for name, v in vectors.items():
        if name not in base:
            raise KeyError(f"Task vector {name!r} has no base tensor.")
        if tuple(v.shape[1:]) != tuple(base[name].shape):
            raise ValueError(f"Task vector {name!r} has shape {tuple(v.shape[1:])}, base {tuple(base[name].shape)}.")
    return counts.pop()


@learned_method("self_positioning", "https://arxiv.org/abs/2410.15035", options=SelfPositioningOptions)
def self_position(
    model: nn.Module,
    base: Mapping[str, Tensor],
    vectors: Mapping[str, Tensor],
    probe: Sequence[ProbeExample],
    options: SelfPositioningOptions | None = None,
    prefix: str = "0.model.",
    task_settings: TaskSettings | None = None,
) -> SelfPositioningResult:
    """Learn task weights and lambda; return ``theta_0 + lambda * V`` for the task-vector names.

    ``model``: the sentence-transformers model (an ``nn.Module`` whose forward takes tokenized features);
    ``base``: theta_0 by state-dict name; ``vectors``: stacked task vectors ``{name: (N, *shape)}``, in task
    order; ``prefix``: where those names sit inside ``model`` (``"0.model."`` for a dense ST model);
    ``task_settings``: task -> its training loss settings (:class:`~mote.merge.probe.ProbeTaskSettings`),
    else the rows' own setting fields, else the defaults.
    Tensors without a task vector keep the model's own values. Weights of ``model`` are never changed.
    """
    opts = options or SelfPositioningOptions()
    examples = check_probe(probe)
    check_vectors(base, vectors)
    start = time.perf_counter()
    pos = _Positioner(base, vectors, opts, prefix)
    with frozen(model):
        initial = _probe_loss(model, pos, examples, opts, task_settings)
        curve = _optimise(model, pos, examples, opts, task_settings)
        final = _probe_loss(model, pos, examples, opts, task_settings)
    with torch.no_grad():
        coefs = {g: [float(x) for x in c] for g, c in pos.coefficients().items()}
        weights = {g: [float(x) for x in pos.log_weights[i].exp()] for i, g in enumerate(pos.groups)}
        state = pos.merged(detach=True)
    return SelfPositioningResult(state, weights, float(pos.lam().detach()), coefs, curve, initial, final,
                                 time.perf_counter() - start, opts.model_dump())


def _probe_loss(model: nn.Module, pos: _Positioner, examples: Sequence[ProbeExample],
                opts: SelfPositioningOptions, task_settings: TaskSettings | None) -> float:
    with torch.no_grad():
        return probe_loss(model, examples, pos.merged(), opts.batch_size, opts.temperature, task_settings)


def group_losses(model: nn.Module, pos: _Positioner, examples: Sequence[ProbeExample],
                 opts: SelfPositioningOptions, task_settings: TaskSettings | None) -> dict[tuple[str, bool], float]:
    """Probe loss of each (task, scored) group at the current position (the normalisers of ``normalize``)."""
    out = {}
    for key, group in batch_groups(examples).items():
        value = _probe_loss(model, pos, group, opts, task_settings)
        if not math.isfinite(value) or value <= 0:
            raise ValueError(f"Self Positioning normalize: the probe loss of task {key[0]!r} "
                             f"({'scored' if key[1] else 'unscored'} rows) at the start is {value}; it must be "
                             "positive and finite to divide by. Set normalize: false for this probe.")
        out[key] = value
    return out


def _optimise(model: nn.Module, pos: _Positioner, examples: Sequence[ProbeExample],
              opts: SelfPositioningOptions, task_settings: TaskSettings | None) -> list[float]:
    optimiser = torch.optim.Adam(pos.parameters(), lr=opts.lr)
    batches = sampled_batches(examples, opts.batch_size, opts.seed)
    scale = group_losses(model, pos, examples, opts, task_settings) if opts.normalize else {}
    curve: list[float] = []
    bar = tqdm(range(opts.steps), desc="self-positioning", disable=not opts.progress)
    for _ in bar:
        optimiser.zero_grad(set_to_none=True)
        batch = next(batches)
        loss = batch_loss(model, batch, pos.merged(), opts.temperature, task_settings=task_settings)
        if scale:
            loss = loss / scale[(batch[0]["task"], batch[0].get("score") is not None)]
        (loss + opts.mu * pos.lam()).backward()
        optimiser.step()
        curve.append(float(loss.detach()))
        bar.set_postfix(loss=f"{curve[-1]:.4f}", lam=f"{float(pos.lam().detach()):.3f}")
    return curve

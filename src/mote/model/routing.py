"""Deterministic routing by task: one expert per input, no gate.

The task travels with the inputs: :class:`~mote.model.hf.MoteModel` turns the ``task`` argument of a
forward call into one expert index per example and opens :func:`routed` around the backbone call.
The route lives in a :class:`contextvars.ContextVar`, so they are scoped to that one call, thread- and
async-safe, and always cleared afterwards; there is no "current task" setting on the model.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class ExpertRoute:
    """Which rows of the batch go to which expert: ``groups`` of ``(expert, rows)``.

    ``rows`` is a ``slice`` when the batch is grouped by task (what :class:`~mote.model.hf.MoteModel`
    arranges for mixed batches, so experts read views and the outputs are concatenated) or an index
    tensor otherwise.
    """

    batch: int
    groups: tuple[tuple[int, slice | torch.Tensor], ...]

    @classmethod
    def from_task_ids(cls, task_ids: torch.Tensor) -> ExpertRoute:
        ids = task_ids.reshape(-1)
        experts, counts = torch.unique_consecutive(ids, return_counts=True)
        e_list, c_list = experts.tolist(), counts.tolist()
        if len(set(e_list)) == len(e_list):  # grouped: contiguous slices
            bounds = [0, *itertools.accumulate(c_list)]
            spans = zip(e_list, bounds, bounds[1:], strict=False)
            return cls(ids.shape[0], tuple((e, slice(a, b)) for e, a, b in spans))
        groups = tuple((int(e), (ids == e).nonzero(as_tuple=True)[0]) for e in sorted(set(e_list)))
        return cls(ids.shape[0], groups)

    @property
    def experts(self) -> set[int]:
        return {e for e, _ in self.groups}


_ROUTE: ContextVar[ExpertRoute | None] = ContextVar("mote_route", default=None)


@contextmanager
def routed(task_ids: torch.Tensor) -> Iterator[ExpertRoute]:
    """Route every :class:`TaskExperts` called inside this block by ``task_ids`` (shape ``(batch,)``)."""
    route = ExpertRoute.from_task_ids(task_ids)
    token = _ROUTE.set(route)
    try:
        yield route
    finally:
        _ROUTE.reset(token)


def current_route() -> ExpertRoute:
    route = _ROUTE.get()
    if route is None:
        raise RuntimeError(
            "A MoTE expert bank was called outside a routed forward pass, so it does not know which expert "
            "to use. Call the MoteModel (or SentenceTransformer) with task=..., or wrap the call in "
            "mote.model.routing.routed(task_ids)."
        )
    return route


class TaskExperts(nn.Module):
    """A bank of per-task copies of one FFN sub-module; each example runs only its own task's expert.

    ``forward(x, *extra)`` takes the same arguments as the module it replaces; dimension 0 of ``x`` and of
    every tensor in ``extra`` is the batch. FLOPs per example equal the dense module's.
    """

    def __init__(self, experts: Sequence[nn.Module]) -> None:
        super().__init__()
        if len(experts) < 1:
            raise ValueError("TaskExperts needs at least one expert.")
        self.experts = nn.ModuleList(experts)

    def forward(self, x: torch.Tensor, *extra: torch.Tensor) -> torch.Tensor:
        route = current_route()
        if route.batch != x.shape[0]:
            raise RuntimeError(
                f"Routing got {route.batch} task ids for a batch of {x.shape[0]} inputs; "
                "give one task for the batch or one per input."
            )
        if len(route.groups) == 1:  # single-task batch: the dense path, no copies
            out: torch.Tensor = self.experts[route.groups[0][0]](x, *extra)
        else:
            out = self._dispatch(x, extra, route)
        if self.training and torch.is_grad_enabled() and _distributed():
            out = out + self._unused_zero(route.experts, x)
        return out

    def _dispatch(self, x: torch.Tensor, extra: tuple[torch.Tensor, ...], route: ExpertRoute) -> torch.Tensor:
        if all(isinstance(rows, slice) for _, rows in route.groups):
            return torch.cat([self.experts[e](x[rows], *(a[rows] for a in extra)) for e, rows in route.groups])
        out: torch.Tensor | None = None
        for e, rows in route.groups:
            y = self.experts[e](x[rows], *(a[rows] for a in extra))
            if out is None:
                out = y.new_zeros((x.shape[0], *y.shape[1:]))
            out = out.index_copy(0, rows, y)  # type: ignore[arg-type]
        assert out is not None
        return out

    def _unused_zero(self, used: set[int], like: torch.Tensor) -> torch.Tensor:
        """0 * (sum of the unrouted experts' parameters), added under DDP only.

        DDP must see the same parameters used in every forward pass of a step on every rank (a loss embeds
        anchors and documents in separate passes through different experts, which DDP's unused-parameter
        search cannot handle). The trainer turns the resulting all-zero gradients back into ``None``
        before the optimizer step, so unrouted experts are not moved by momentum or weight decay.
        """
        total = like.new_zeros(())
        for i, expert in enumerate(self.experts):
            if i not in used:
                for p in expert.parameters():
                    total = total + p.sum() * 0.0
        return total


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()

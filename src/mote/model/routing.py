"""Deterministic routing by task: one expert per input, no gate.

The task travels with the inputs: :class:`~mote.model.hf.MoteModel` turns the ``task`` argument of a
forward call into one expert index per example and opens :func:`routed` around the backbone call.
The indices live in a :class:`contextvars.ContextVar`, so they are scoped to that one call, thread- and
async-safe, and always cleared afterwards; there is no "current task" setting on the model.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn

_TASK_IDS: ContextVar[torch.Tensor | None] = ContextVar("mote_task_ids", default=None)


@contextmanager
def routed(task_ids: torch.Tensor) -> Iterator[None]:
    """Route every :class:`TaskExperts` called inside this block by ``task_ids`` (shape ``(batch,)``)."""
    token = _TASK_IDS.set(task_ids)
    try:
        yield
    finally:
        _TASK_IDS.reset(token)


def current_task_ids() -> torch.Tensor:
    ids = _TASK_IDS.get()
    if ids is None:
        raise RuntimeError(
            "A MoTE expert bank was called outside a routed forward pass, so it does not know which expert "
            "to use. Call the MoteModel (or SentenceTransformer) with task=..., or wrap the call in "
            "mote.model.routing.routed(task_ids)."
        )
    return ids


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
        ids = current_task_ids()
        if ids.shape[0] != x.shape[0]:
            raise RuntimeError(
                f"Routing got {ids.shape[0]} task ids for a batch of {x.shape[0]} inputs; "
                "give one task for the batch or one per input."
            )
        present = torch.unique(ids)
        if present.numel() == 1:  # single-task batch: no gather/scatter
            out: torch.Tensor = self.experts[int(present.item())](x, *extra)
        else:
            out = self._dispatch(x, extra, ids, present)
        if self.training and torch.is_grad_enabled() and _distributed():
            out = out + self._unused_zero(present)
        return out

    def _dispatch(
        self, x: torch.Tensor, extra: tuple[torch.Tensor, ...], ids: torch.Tensor, present: torch.Tensor
    ) -> torch.Tensor:
        out: torch.Tensor | None = None
        for e in present.tolist():
            rows = (ids == e).nonzero(as_tuple=True)[0]
            y = self.experts[e](x.index_select(0, rows), *(a.index_select(0, rows) for a in extra))
            if out is None:
                out = y.new_zeros((x.shape[0], *y.shape[1:]))
            out = out.index_copy(0, rows, y)
        assert out is not None
        return out

    def _unused_zero(self, present: torch.Tensor) -> torch.Tensor:
        """0 * (sum of the unused experts' parameters): keeps every expert in the autograd graph, so DDP
        ranks that routed to different experts in a step still all-reduce the same parameter set."""
        used = set(present.tolist())
        total = torch.zeros((), device=present.device)
        for i, expert in enumerate(self.experts):
            if i not in used:
                for p in expert.parameters():
                    total = total + p.sum() * 0.0
        return total


def _distributed() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()

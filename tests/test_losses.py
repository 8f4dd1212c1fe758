"""InfoNCE against a naive implementation; label masking; gradient caching equals the plain loss."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from mote.losses import get_loss
from mote.losses.info_nce import InfoNCELoss, info_nce_from_embeddings


def naive_info_nce(a: torch.Tensor, c: torch.Tensor, t: float, labels: list[int] | None) -> float:
    a, c = F.normalize(a, dim=-1), F.normalize(c, dim=-1)
    total = 0.0
    for i in range(a.shape[0]):
        logits = []
        for j in range(c.shape[0]):
            if labels is not None and j < a.shape[0] and j != i and labels[i] == labels[j]:
                continue  # same-label in-batch positive: not a negative
            logits.append(float(a[i] @ c[j]) / t)
        own = float(a[i] @ c[i]) / t
        total += -own + math.log(sum(math.exp(x) for x in logits))
    return total / a.shape[0]


@pytest.mark.parametrize("labels", [None, [0, 1, 0, 2], [5, 5, 5, 5]])
def test_info_nce_matches_naive(labels: list[int] | None) -> None:
    g = torch.Generator().manual_seed(0)
    a, c = torch.randn(4, 8, generator=g), torch.randn(8, 8, generator=g)  # 4 positives + 4 hard negatives
    lab = torch.tensor(labels) if labels is not None else None
    got = info_nce_from_embeddings(a, c, 0.05, lab)
    assert abs(float(got) - naive_info_nce(a, c, 0.05, labels)) < 1e-4


def test_masking_hand_example() -> None:
    # two anchors of one label whose positives are identical: unmasked, each positive is also a
    # "negative" of the other anchor, so the loss is log(2); masked, the false negative is gone -> 0.
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    c = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert abs(float(info_nce_from_embeddings(a, c, 1.0)) - math.log(2)) < 1e-6
    assert abs(float(info_nce_from_embeddings(a, c, 1.0, torch.tensor([3, 3])))) < 1e-6


class _Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": self.lin(features["input_ids"].float())}


def test_gradient_cache_equals_plain_loss() -> None:
    torch.manual_seed(0)
    feats = [{"input_ids": torch.randn(8, 6)}, {"input_ids": torch.randn(8, 6)}, {"input_ids": torch.randn(8, 6)}]
    labels = torch.tensor([0, 1, 0, 1, 2, 2, 0, 1])
    grads = []
    for mini in (None, 3):
        torch.manual_seed(1)
        model = _Toy()  # same initial weights both times
        value = InfoNCELoss(model, temperature=0.1, mini_batch_size=mini)(feats, labels)
        value.backward()  # cached: the hook replays the mini-batches with the cached embedding gradients
        grads.append((float(value.detach()), model.lin.weight.grad.clone()))
    assert abs(grads[0][0] - grads[1][0]) < 1e-5
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)


def test_loss_registry_errors() -> None:
    with pytest.raises(ValueError, match='Did you mean "cosent"'):
        get_loss("cosnet", _Toy())
    with pytest.raises(ValueError, match="temperature must be > 0"):
        InfoNCELoss(_Toy(), temperature=0)

"""InfoNCE against a naive implementation; complete label masking (in-batch positives and every row's hard
negatives); per-candidate labels carried from the data to the loss; gradient caching equals the plain loss."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
import torch
from datasets import Dataset

from mote.losses import get_loss
from mote.losses.info_nce import InfoNCELoss, info_nce_from_embeddings


def naive_info_nce(
    anchors: list[list[float]],
    candidates: list[list[float]],
    temperature: float | list[float],
    labels: list[int] | None,
    candidate_labels: list[int] | None,
) -> float:
    """Per pair, in pure Python: anchor i against every candidate j; candidate i is its own positive (the
    target). A candidate j != i is skipped when both labels are known (>= 0) and equal."""

    def unit(v: list[float]) -> list[float]:
        n = math.sqrt(sum(x * x for x in v))
        return [x / n for x in v]

    a = [unit(v) for v in anchors]
    c = [unit(v) for v in candidates]
    total = 0.0
    for i in range(len(a)):
        t = temperature[i] if isinstance(temperature, list) else temperature
        logits = []
        for j in range(len(c)):
            known = labels is not None and candidate_labels is not None and labels[i] >= 0 and candidate_labels[j] >= 0
            if j != i and known and labels[i] == candidate_labels[j]:  # type: ignore[index]
                continue  # a candidate of the anchor's own label is not a negative
            logits.append(sum(x * y for x, y in zip(a[i], c[j], strict=True)) / t)
        top = max(logits)
        log_sum_exp = top + math.log(sum(math.exp(x - top) for x in logits))
        own = sum(x * y for x, y in zip(a[i], c[i], strict=True)) / t
        total += log_sum_exp - own
    return total / len(a)


def _random_batch(seed: int, b: int = 6, k: int = 2, d: int = 5) -> dict[str, Any]:
    rng = random.Random(seed)
    g = torch.Generator().manual_seed(seed)
    labels = [rng.choice([-1, 0, 1, 2]) for _ in range(b)]
    # a positive shares its anchor's label; a hard negative has any label (or an unknown one)
    cand = labels + [rng.choice([-1, 0, 1, 2]) for _ in range(b * k)]
    return {
        "a": torch.randn(b, d, generator=g, dtype=torch.float64),
        "c": torch.randn(b * (1 + k), d, generator=g, dtype=torch.float64),
        "labels": labels,
        "cand": cand,
    }


@pytest.mark.parametrize("seed", range(6))
def test_info_nce_matches_naive_reference(seed: int) -> None:
    x = _random_batch(seed)
    a, c, labels, cand = x["a"], x["c"], x["labels"], x["cand"]
    got = info_nce_from_embeddings(a, c, 0.05, torch.tensor(labels), torch.tensor(cand))
    assert abs(float(got) - naive_info_nce(a.tolist(), c.tolist(), 0.05, labels, cand)) < 1e-6
    # no labels: every candidate but the own positive is a negative
    assert abs(float(info_nce_from_embeddings(a, c, 0.05)) - naive_info_nce(a.tolist(), c.tolist(), 0.05, None, None)) < 1e-6
    # per-anchor temperatures
    temps = [0.02 + 0.01 * i for i in range(a.shape[0])]
    got = info_nce_from_embeddings(a, c, torch.tensor(temps, dtype=torch.float64), torch.tensor(labels), torch.tensor(cand))
    assert abs(float(got) - naive_info_nce(a.tolist(), c.tolist(), temps, labels, cand)) < 1e-6


def test_row_labels_only_leave_hard_negatives_unknown() -> None:
    """With only (B,) row labels, positives carry their row's label and hard negatives are unknown (-1):
    a hard negative of row j comes from a label other than row j's, so row j's label says nothing about it."""
    x = _random_batch(7)
    a, c, labels = x["a"], x["c"], x["labels"]
    cand = labels + [-1] * (c.shape[0] - a.shape[0])
    got = info_nce_from_embeddings(a, c, 0.05, torch.tensor(labels))
    assert abs(float(got) - naive_info_nce(a.tolist(), c.tolist(), 0.05, labels, cand)) < 1e-6


def _clustered() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two rows per label (3 labels); each text embeds as its label's unit vector. Row j's hard negative
    is a text of label (l_j + 1) % 3: a text of the same label as two *other* anchors."""
    row_labels = torch.tensor([0, 0, 1, 1, 2, 2])
    neg_labels = (row_labels + 1) % 3
    eye = torch.eye(3)
    anchors = eye[row_labels]
    candidates = torch.cat([eye[row_labels], eye[neg_labels]])
    return anchors, candidates, row_labels, torch.cat([row_labels, neg_labels])


def test_perfectly_clustered_embeddings_have_near_zero_loss() -> None:
    anchors, candidates, labels, cand = _clustered()
    loss = info_nce_from_embeddings(anchors, candidates, 0.05, labels, cand)
    assert float(loss) < 1e-3
    # the anchor's own hard negative is masked too when it shares the anchor's label
    a, c = torch.eye(2)[[0, 1]], torch.eye(2)[[0, 1, 0, 1]]  # row 0's negative is of row 0's label
    loss = info_nce_from_embeddings(a, c, 0.05, torch.tensor([0, 1]), torch.tensor([0, 1, 0, 1]))
    assert float(loss) < 1e-3


def test_masking_hand_example() -> None:
    # two anchors of one label whose positives are identical: unmasked, each positive is also a
    # "negative" of the other anchor, so the loss is log(2); masked, the false negative is gone -> 0.
    a = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    c = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert abs(float(info_nce_from_embeddings(a, c, 1.0)) - math.log(2)) < 1e-6
    assert abs(float(info_nce_from_embeddings(a, c, 1.0, torch.tensor([3, 3])))) < 1e-6
    # unknown labels (-1) never mask
    assert abs(float(info_nce_from_embeddings(a, c, 1.0, torch.tensor([-1, -1]))) - math.log(2)) < 1e-6


class _Toy(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(6, 4)

    def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": self.lin(features["input_ids"].to(self.lin.weight.dtype))}


def test_loss_module_reads_per_candidate_labels() -> None:
    """The collator's ``label`` tensor of a labelled dataset with k hard negatives is ``(B, 1 + k)``: the
    row's label, then each negative's. The module lays it out like its candidates (positives, then
    negative_1 of every row, ...) and masks every candidate of the anchor's label."""
    torch.manual_seed(0)
    b = 5
    feats = [{"input_ids": torch.randn(b, 6, dtype=torch.float64)} for _ in range(4)]  # anchor, positive, 2 negatives
    labels = torch.tensor([[0, 1, 2], [1, 0, -1], [0, 2, 1], [2, 0, 0], [1, 1, 2]])
    model = _Toy().double()
    got = InfoNCELoss(model, temperature=0.1)(feats, labels)
    with torch.no_grad():
        reps = [model(f)["sentence_embedding"] for f in feats]
    cand = [int(labels[r, col]) for col in range(3) for r in range(b)]  # positives, negative_1s, negative_2s
    expected = naive_info_nce(reps[0].tolist(), torch.cat(reps[1:]).tolist(), 0.1, labels[:, 0].tolist(), cand)
    assert abs(float(got.detach()) - expected) < 1e-6
    with pytest.raises(ValueError, match="label"):
        InfoNCELoss(model)(feats, torch.zeros(b, 2, dtype=torch.long))  # 2 label columns for 3 candidate columns
    # a row's label, then its two negatives' labels: the same labels as the (B,) form when the negatives are unknown
    row = labels[:, 0]
    unknown = torch.stack([row, torch.full_like(row, -1), torch.full_like(row, -1)], dim=1)
    torch.testing.assert_close(InfoNCELoss(model, temperature=0.1)(feats, unknown),
                               InfoNCELoss(model, temperature=0.1)(feats, row))


@pytest.mark.parametrize("labels", [torch.tensor([0, 1, 0, 1, 2, 2, 0, 1]),
                                    torch.tensor([[0, 1, 2], [1, 0, 0], [0, 2, 2], [1, 0, -1],
                                                  [2, 0, 1], [2, 1, 1], [0, 1, 1], [1, 2, 0]])])
def test_gradient_cache_equals_plain_loss(labels: torch.Tensor) -> None:
    torch.manual_seed(0)
    feats = [{"input_ids": torch.randn(8, 6)} for _ in range(4)]  # anchor, positive, 2 hard negatives
    grads = []
    for mini in (None, 3):
        torch.manual_seed(1)
        model = _Toy()  # same initial weights both times
        value = InfoNCELoss(model, temperature=0.1, mini_batch_size=mini)(feats, labels)
        value.backward()  # cached: the hook replays the mini-batches with the cached embedding gradients
        grads.append((float(value.detach()), model.lin.weight.grad.clone(), model.lin.bias.grad.clone()))
    assert abs(grads[0][0] - grads[1][0]) < 1e-5
    # the cached path against the independent per-pair reference directly
    with torch.no_grad():
        torch.manual_seed(1)
        toy = _Toy()  # the same initial weights as both runs above
        reps = [toy(f)["sentence_embedding"].double() for f in feats]
    full = labels if labels.dim() == 2 else torch.stack([labels, *(torch.full_like(labels, -1),) * 2], dim=1)
    cand = [int(full[r, col]) for col in range(3) for r in range(8)]
    expected = naive_info_nce(reps[0].tolist(), torch.cat(reps[1:]).tolist(), 0.1, full[:, 0].tolist(), cand)
    assert abs(grads[1][0] - expected) < 1e-6
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(grads[0][2], grads[1][2], atol=1e-5, rtol=1e-4)


def test_loss_registry_errors() -> None:
    with pytest.raises(ValueError, match='Did you mean "cosent"'):
        get_loss("cosnet", _Toy())
    with pytest.raises(ValueError, match="temperature must be > 0"):
        InfoNCELoss(_Toy(), temperature=0)


# --- the data layer carries each hard negative's label to the loss -------------------------------------


def _labelled_rows() -> Dataset:
    """Rows as ``mote.data`` builds them from labelled texts: (text, text of its label, text of another label)."""
    return Dataset.from_dict({
        "anchor": ["a1", "a2", "b1", "b2", "c1"],
        "positive": ["a2", "a1", "b2", "b1", "c2"],
        "negatives": [["b1"], ["c2"], ["a1"], ["unseen"], ["b2"]],
        "label": ["A", "A", "B", "B", "C"],
        "task": ["classification"] * 5,
    })


def test_st_columns_carry_negative_labels() -> None:
    from mote.train.datasets import to_st_columns

    st = to_st_columns(_labelled_rows(), hard_negatives=1, scored=False)
    assert st.column_names == ["anchor", "positive", "negative_1", "label"]
    # label ids A=0, B=1, C=2; a negative's label is known from the rows it appears in; 'unseen' is unknown
    assert st["label"] == [[0, 1], [0, 2], [1, 0], [1, -1], [2, 1]]
    # an explicit per-negative label column (parallel to 'negatives') wins
    rows = _labelled_rows().add_column("negative_labels", [["B"], ["C"], ["A"], ["C"], ["B"]])
    assert to_st_columns(rows, hard_negatives=1, scored=False)["label"] == [[0, 1], [0, 2], [1, 0], [1, 2], [2, 1]]
    # without hard negatives the label stays one id per row
    assert to_st_columns(_labelled_rows(), hard_negatives=0, scored=False)["label"] == [0, 0, 1, 1, 2]


def test_collated_labels_reach_the_loss_complete() -> None:
    """Dataset -> collator -> InfoNCELoss: with clustered embeddings the loss is ~0 only because the other
    rows' hard negatives of the anchor's label are masked."""
    from mote.train.collator import MoteDataCollator
    from mote.train.datasets import to_st_columns

    cluster = {"A": 0, "B": 1, "C": 2}
    of_text = {t: cluster[t[0].upper()] for t in ["a1", "a2", "b1", "b2", "c1", "c2"]}

    def preprocess(texts: list[str], **_: Any) -> dict[str, torch.Tensor]:
        return {"input_ids": torch.eye(3)[[of_text[t] for t in texts]]}

    class Ident(torch.nn.Module):
        def forward(self, features: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
            return {"sentence_embedding": features["input_ids"]}

    rows = _labelled_rows().add_column("negative_labels", [["B"], ["C"], ["A"], ["C"], ["B"]])
    rows = rows.map(lambda r: {"negatives": [r["negatives"][0] if r["negatives"][0] != "unseen" else "c1"]})
    st = to_st_columns(rows, hard_negatives=1, scored=False)
    batch = MoteDataCollator(preprocess_fn=preprocess)([st[i] for i in range(len(st))])
    assert tuple(batch["label"].shape) == (5, 2)
    feats = [{"input_ids": batch[f"{c}_input_ids"]} for c in ("anchor", "positive", "negative_1")]
    assert float(InfoNCELoss(Ident(), temperature=0.05)(feats, batch["label"])) < 1e-3


def test_mixed_batches_offset_negative_labels(tmp_path: Any) -> None:
    from mote.tasks import TaskSet
    from mote.train.config import TrainConfig
    from mote.train.datasets import MIXED, prepare

    cfg = TrainConfig.model_validate({
        "data": {"recipe": "unused.yaml"}, "train": {"output_dir": str(tmp_path)},
        "tasks": {"classification": {"batching": "mixed"}, "clustering": {"batching": "mixed"},
                  "query": {"batching": "mixed"}},
    })
    clustering = _labelled_rows().map(lambda r: {"task": "clustering"})
    retrieval = Dataset.from_dict({"anchor": ["q1", "q2"], "positive": ["d1", "d2"], "negatives": [["d3"], ["d4"]],
                                   "anchor_task": ["query"] * 2, "positive_task": ["document"] * 2})
    prepared = prepare({"cls": _labelled_rows(), "clu": clustering, "ret": retrieval}, cfg, _Toy(),
                       TaskSet.from_names(cfg.model.tasks), routed=True)
    labels = prepared.datasets[MIXED]["label"]
    assert labels[:5] == [[0, 1], [0, 2], [1, 0], [1, -1], [2, 1]]
    assert labels[5:10] == [[3, 4], [3, 5], [4, 3], [4, -1], [5, 4]]  # the second label space is offset
    assert labels[10:] == [[-1, -1], [-1, -1]]  # unlabelled rows: unknown, never masked


def test_training_runs_with_per_candidate_labels(tiny_st_dir: Any, tmp_path: Any) -> None:
    """sentence-transformers' sampler, collator and trainer carry the (B, 1 + k) labels to the loss."""
    from mote.train.run import train
    from train_helpers import config

    rng = random.Random(0)
    words = {lab: [f"{lab}{i} " + " ".join(rng.choice("abcdefgh") for _ in range(4)) for i in range(12)]
             for lab in ("x", "y", "z")}
    rows: dict[str, list[Any]] = {"anchor": [], "positive": [], "negatives": [], "negative_labels": [], "label": [],
                                  "task": []}
    for n, (lab, texts) in enumerate(words.items()):
        for i in range(0, 12, 2):
            other = "xyz"[(n + 1) % 3]
            rows["anchor"].append(texts[i])
            rows["positive"].append(texts[i + 1])
            rows["negatives"].append([f"{other} negative {lab}{i}"])  # distinct texts: the sampler drops duplicates
            rows["negative_labels"].append([other])
            rows["label"].append(lab)
            rows["task"].append("classification")
    cfg = config(tiny_st_dir, tmp_path / "run", max_steps=2, save_steps=2, mini_batch_size=4,
                 tasks={"classification": {"hard_negatives": 1}})
    summary = train(cfg, {"labels": Dataset.from_dict(rows)})
    assert summary["steps"] == 2 and math.isfinite(summary["train_loss"])


def naive_cosent(a: list[list[float]], b: list[list[float]], scores: list[float], scale: float) -> float:
    """CoSENT by its definition (Su 2022): log(1 + sum over pairs (i, j) with s_i > s_j of
    exp(scale * (cos_j - cos_i))), written independently of sentence-transformers."""
    def cos(u: list[float], v: list[float]) -> float:
        return sum(x * y for x, y in zip(u, v, strict=True)) / math.sqrt(sum(x * x for x in u) * sum(y * y for y in v))

    c = [cos(u, v) for u, v in zip(a, b, strict=True)]
    terms = [math.exp(scale * (c[j] - c[i])) for i in range(len(c)) for j in range(len(c)) if scores[i] > scores[j]]
    return math.log(1.0 + sum(terms))


@pytest.mark.parametrize("name", ["cosent", "angle"])
def test_scored_losses_take_gradient_caching(name: str) -> None:
    """train.mini_batch_size reaches the scored-pair losses too (it was dropped without a word): the cached loss
    and its gradients equal the plain ones."""
    torch.manual_seed(0)
    feats = [{"input_ids": torch.randn(8, 6)} for _ in range(2)]
    scores = torch.tensor([0.9, 0.1, 0.5, 0.7, 0.3, 0.2, 0.8, 0.4])
    runs = []
    for mini in (None, 3):
        torch.manual_seed(1)
        model = _Toy()
        loss = get_loss(name, model, temperature=0.05, mini_batch_size=mini)
        assert loss.uses_gradient_cache == bool(mini)
        value = loss(feats, scores)
        value.backward()
        runs.append((float(value.detach()), model.lin.weight.grad.clone()))
    assert abs(runs[0][0] - runs[1][0]) < 1e-5
    torch.testing.assert_close(runs[0][1], runs[1][1], atol=1e-5, rtol=1e-4)
    if name == "cosent":  # the value against the definition
        with torch.no_grad():
            torch.manual_seed(1)
            toy = _Toy()
            a, b = (toy(f)["sentence_embedding"].double().tolist() for f in feats)
        assert abs(runs[1][0] - naive_cosent(a, b, scores.tolist(), 20.0)) < 1e-4


def test_every_loss_is_a_class_with_its_declared_inputs() -> None:
    from mote.losses import LOSSES, SCORED_LOSSES

    assert SCORED_LOSSES == {n for n, cls in LOSSES.items() if cls.takes_scores} == {"cosent", "angle"}
    for name, cls in LOSSES.items():
        assert isinstance(cls, type) and cls.name == name
        with pytest.raises(TypeError):  # no silently swallowed settings
            cls(_Toy(), temperature=0.05, not_a_setting=1)

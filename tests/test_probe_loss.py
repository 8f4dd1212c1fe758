"""The merge probe scores each task with its training objective: CoSENT/AnglE on scored pairs, masked
InfoNCE on labelled pairs, the task's temperature. Expected values are computed by hand here."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

from mote.merge.probe import batch_loss, check_probe, embed, fixed_batches, probe_loss, sampled_batches


class FakeST(nn.Module):
    """Texts -> fixed vectors times a trainable matrix ``W``: exact and fast, no tokenizer."""

    def __init__(self, table: dict[str, list[float]]) -> None:
        super().__init__()
        self.index = {t: i for i, t in enumerate(table)}
        self.register_buffer("table", torch.tensor(list(table.values()), dtype=torch.float64))
        self.W = nn.Parameter(torch.eye(len(next(iter(table.values()))), dtype=torch.float64))

    def preprocess(self, texts: list[str]) -> dict[str, torch.Tensor]:
        return {"idx": torch.tensor([self.index[t] for t in texts])}

    def forward(self, features: dict[str, torch.Tensor], task: Any = None) -> dict[str, torch.Tensor]:
        return {"sentence_embedding": self.table[features["idx"]] @ self.W}


def _unit(v: list[float]) -> list[float]:
    n = math.sqrt(sum(x * x for x in v))
    return [x / n for x in v]


def _cos(u: list[float], v: list[float]) -> float:
    return sum(x * y for x, y in zip(_unit(u), _unit(v), strict=True))


def cosent_by_hand(pairs: list[tuple[list[float], list[float], float]], scale: float) -> float:
    """CoSENT (Su 2022): log(1 + sum over (i, j) with score_i > score_j of exp(scale * (cos_j - cos_i)))."""
    cos = [_cos(a, p) for a, p, _ in pairs]
    terms = [scale * (cos[j] - cos[i]) for i in range(len(pairs)) for j in range(len(pairs))
             if pairs[i][2] > pairs[j][2]]
    return math.log(1 + sum(math.exp(t) for t in terms))


def info_nce_by_hand(pairs: list[tuple[list[float], list[float], Any]], temperature: float) -> float:
    """In-batch InfoNCE; a positive of another row with the anchor's (known) label is not a negative."""
    total = 0.0
    for i, (a, p, lab) in enumerate(pairs):
        logits = [_cos(a, q) / temperature for j, (_, q, other) in enumerate(pairs)
                  if j == i or lab is None or other != lab]
        total += math.log(sum(math.exp(x) for x in logits)) - _cos(a, p) / temperature
    return total / len(pairs)


VECTORS = {
    "s1": [1.0, 0.0, 0.0], "s1'": [1.0, 0.0, 0.0],  # identical texts, scored 0.0: not a positive pair
    "s2": [0.0, 1.0, 0.0], "s2'": [0.3, 1.0, 0.2],
    "s3": [0.0, 0.0, 1.0], "s3'": [0.5, 0.5, 1.0],
    "s4": [1.0, 1.0, 0.0], "s4'": [0.0, 1.0, 1.0],
    "a1": [1.0, 0.1, 0.0], "a2": [1.0, 0.0, 0.1], "b1": [0.0, 1.0, 0.1], "b2": [0.1, 1.0, 0.0],
    "c1": [0.0, 0.1, 1.0], "c2": [0.1, 0.0, 1.0],
}


@pytest.fixture
def model() -> FakeST:
    st = FakeST(VECTORS)
    st.W.requires_grad_(False)  # like a loaded model in the merge; Fisher turns on what it needs
    return st


def _sts_rows() -> list[dict[str, Any]]:
    scores = {"s1": 0.0, "s2": 1.0, "s3": 0.5, "s4": 0.25}
    return [{"anchor": s, "positive": s + "'", "task": "similarity", "score": v} for s, v in scores.items()]


def _pairs(rows: list[dict[str, Any]], value: str) -> list[tuple[list[float], list[float], Any]]:
    return [(VECTORS[r["anchor"]], VECTORS[r["positive"]], r.get(value)) for r in rows]


def test_scored_pairs_use_cosent_not_infonce(model: FakeST) -> None:
    rows = check_probe(_sts_rows())
    assert rows[0]["score"] == 0.0  # the score survives validation
    got = float(batch_loss(model, rows))
    expected = cosent_by_hand(_pairs(rows, "score"), scale=1 / 0.05)
    assert got == pytest.approx(expected, rel=1e-9)
    assert abs(got - info_nce_by_hand(_pairs(rows, "x"), 0.05)) > 0.1  # the old (wrong) objective differs
    # the task's temperature sets CoSENT's scale, as in training (scale = 1 / temperature)
    from mote.merge.probe import ProbeTaskSettings

    settings = {"similarity": ProbeTaskSettings(temperature=0.1)}
    got = float(batch_loss(model, rows, task_settings=settings))
    assert got == pytest.approx(cosent_by_hand(_pairs(rows, "score"), scale=10.0), rel=1e-9)
    # AnglE when the task trains scored pairs with it
    from sentence_transformers.sentence_transformer.losses import AnglELoss

    angle = {"similarity": ProbeTaskSettings(scored_loss="angle")}
    a = embed(model, [r["anchor"] for r in rows])
    p = embed(model, [r["positive"] for r in rows])
    scores = torch.tensor([r["score"] for r in rows], dtype=torch.float64)
    expected = float(AnglELoss(model, scale=20.0).compute_loss_from_embeddings([a, p], scores))
    assert float(batch_loss(model, rows, task_settings=angle)) == pytest.approx(expected, rel=1e-9)


def test_labelled_pairs_are_masked(model: FakeST) -> None:
    rows = check_probe([
        {"anchor": "a1", "positive": "a2", "task": "classification", "label": "A"},
        {"anchor": "a2", "positive": "a1", "task": "classification", "label": "A"},
        {"anchor": "b1", "positive": "b2", "task": "classification", "label": "B"},
        {"anchor": "c1", "positive": "c2", "task": "classification", "label": 7},  # int labels are fine
    ])
    got = float(batch_loss(model, rows))
    assert got == pytest.approx(info_nce_by_hand(_pairs(rows, "label"), 0.05), rel=1e-9)
    unmasked = info_nce_by_hand(_pairs(rows, "x"), 0.05)
    assert unmasked - got > 0.3  # rows 0 and 1 no longer push each other's positive away
    # labels are per dataset: the same label name in two datasets is two labels
    other = [dict(rows[0], dataset="x"), dict(rows[1], dataset="y"), dict(rows[2], dataset="x")]
    expected = info_nce_by_hand([(VECTORS[r["anchor"]], VECTORS[r["positive"]], (r["dataset"], r["label"]))
                                 for r in other], 0.05)
    assert float(batch_loss(model, other)) == pytest.approx(expected, rel=1e-9)
    assert float(batch_loss(model, other)) > float(batch_loss(model, rows[:3])) + 0.3
    # rows without a label mask nothing
    mixed = [dict(rows[0]), {k: v for k, v in rows[1].items() if k != "label"}, dict(rows[2])]
    assert float(batch_loss(model, mixed)) == pytest.approx(info_nce_by_hand(_pairs(mixed, "label"), 0.05), rel=1e-9)


def test_each_task_uses_its_temperature(model: FakeST) -> None:
    rows = check_probe([
        {"anchor": "a1", "positive": "a2", "task": "query"}, {"anchor": "b1", "positive": "b2", "task": "query"},
        {"anchor": "c1", "positive": "c2", "task": "query"},
        {"anchor": "a2", "positive": "b1", "task": "clustering"}, {"anchor": "c2", "positive": "b2", "task": "clustering"},
    ])
    settings: dict[str, Any] = {"query": {"temperature": 0.02}, "clustering": {"temperature": 0.5}}
    got = probe_loss(model, rows, batch_size=8, task_settings=settings)
    expected = (info_nce_by_hand(_pairs(rows[:3], "x"), 0.02) + info_nce_by_hand(_pairs(rows[3:], "x"), 0.5)) / 2
    assert got == pytest.approx(expected, rel=1e-9)
    # the same settings carried by the rows (how run_merge hands them to every merge method)
    from mote.merge.probe import ProbeTaskSettings, with_task_settings

    settings["clustering"] = ProbeTaskSettings(temperature=0.5)
    stamped = with_task_settings(rows, settings)
    assert stamped[0]["temperature"] == 0.02 and stamped[3]["loss"] == "infonce"
    assert probe_loss(model, stamped, batch_size=8) == pytest.approx(expected, rel=1e-9)
    # without settings: one default temperature (the argument)
    default = (info_nce_by_hand(_pairs(rows[:3], "x"), 0.1) + info_nce_by_hand(_pairs(rows[3:], "x"), 0.1)) / 2
    assert probe_loss(model, rows, batch_size=8, temperature=0.1) == pytest.approx(default, rel=1e-9)


def test_batches_keep_scored_and_unscored_rows_apart() -> None:
    rows = check_probe([*_sts_rows(), {"anchor": "a1", "positive": "a2", "task": "similarity"},
                        {"anchor": "b1", "positive": "b2", "task": "similarity"}])
    batches = fixed_batches(rows, 8)
    assert sorted(len(b) for b in batches) == [2, 4]
    assert all(len({"score" in r for r in b}) == 1 for b in batches)
    stream = sampled_batches(rows, 8, seed=0)
    for _ in range(4):
        assert len({"score" in r for r in next(stream)}) == 1


def test_probe_validation() -> None:
    from mote.merge.probe import ProbeTaskSettings

    with pytest.raises(ValueError, match="score"):
        check_probe([{"anchor": "a", "positive": "b", "task": "x", "score": "high"}] * 2)
    with pytest.raises(ValueError, match="temperature"):
        check_probe([{"anchor": "a", "positive": "b", "task": "x", "temperature": 0}] * 2)
    with pytest.raises(ValueError, match="disagree"):
        check_probe([{"anchor": "a", "positive": "b", "task": "x", "temperature": 0.1},
                     {"anchor": "c", "positive": "d", "task": "x", "temperature": 0.2}])
    with pytest.raises(ValueError, match='Did you mean "cosent"'):
        ProbeTaskSettings(scored_loss="cosnet")
    with pytest.raises(ValueError, match="needs a 'score'"):
        batch_loss(FakeST(VECTORS), check_probe([{"anchor": "a1", "positive": "a2", "task": "x"}] * 2),
                   task_settings={"x": {"loss": "cosent"}})


def test_fisher_is_the_squared_gradient_of_the_task_loss(model: FakeST) -> None:
    from mote.merge.stats import diagonal_fisher

    rows = check_probe(_sts_rows())
    fisher = diagonal_fisher(model, rows, {"W": "W"}, batch_size=8)["W"]
    # CoSENT written out in torch (not the library's), differentiated by autograd
    w = torch.eye(3, dtype=torch.float64, requires_grad=True)
    a = torch.tensor([VECTORS[r["anchor"]] for r in rows], dtype=torch.float64) @ w
    p = torch.tensor([VECTORS[r["positive"]] for r in rows], dtype=torch.float64) @ w
    cos = torch.nn.functional.cosine_similarity(a, p)
    s = [r["score"] for r in rows]
    terms = [20.0 * (cos[j] - cos[i]) for i in range(4) for j in range(4) if s[i] > s[j]]
    loss = torch.log(1 + torch.stack(terms).exp().sum())
    loss.backward()
    torch.testing.assert_close(fisher, (w.grad**2).float())


def test_self_positioning_optimises_the_task_loss(model: FakeST) -> None:
    from mote.merge import SelfPositioningOptions, self_position

    rows = _sts_rows()
    base = {"W": model.W.detach().clone()}
    step = 0.1 * torch.randn(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    vectors = {"W": torch.stack([step, -step])}  # uniform linear weights cancel: the merged model is the base
    opts = SelfPositioningOptions(steps=1, batch_size=8, direction="linear", progress=False)
    result = self_position(model, base, vectors, rows, opts, prefix="")
    assert result.initial_loss == pytest.approx(cosent_by_hand(_pairs(rows, "score"), 20.0), rel=1e-6)
    result = self_position(model, base, vectors, rows, opts, prefix="",
                           task_settings={"similarity": {"temperature": 0.1}})
    assert result.initial_loss == pytest.approx(cosent_by_hand(_pairs(rows, "score"), 10.0), rel=1e-6)


def test_run_merge_builds_the_probe_with_task_settings(tmp_path: Path) -> None:
    import json

    import yaml

    from mote.merge.config import MergeConfig
    from mote.merge.run import _probe

    jsonl = tmp_path / "probe.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in [*_sts_rows(),
                     {"anchor": "a1", "positive": "a2", "task": "query"},
                     {"anchor": "b1", "positive": "b2", "task": "query"}]))
    common = {"base": "b", "models": ["m"], "method": "fisher", "out": str(tmp_path / "out")}
    cfg = MergeConfig(**common, probe={"jsonl": str(jsonl), "size": None, "prompts": False,
                                       "task_settings": {"query": {"temperature": 0.02}}})
    rows, used = _probe(cfg, {}, [])
    by_task = {r["task"]: r for r in rows}
    assert by_task["query"]["temperature"] == 0.02 and "temperature" not in by_task["similarity"]
    assert used["settings"]["query"]["temperature"] == 0.02
    # no settings in the config: the ones the model was trained with (its saved training config)
    folder = tmp_path / "model"
    folder.mkdir()
    train_cfg = {"data": {"recipe": "r.yaml"}, "train": {"output_dir": "o"},
                 "tasks": {"similarity": {"temperature": 0.07, "scored_loss": "angle"}}}
    (folder / "mote_train_config.yaml").write_text(yaml.safe_dump(train_cfg))
    cfg = MergeConfig(**common, probe={"jsonl": str(jsonl), "size": None, "prompts": False})
    rows, used = _probe(cfg, {}, [folder])
    by_task = {r["task"]: r for r in rows}
    assert by_task["similarity"]["temperature"] == 0.07 and by_task["similarity"]["scored_loss"] == "angle"
    assert by_task["query"]["temperature"] == 0.02  # the training default of the query task
    assert used["source"].endswith("mote_train_config.yaml")

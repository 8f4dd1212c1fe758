"""docs/design.md's "where to add" answers hold: an architecture, a loss and an evaluation task each need only
the file(s) named there. Each test adds one here (test-only, undone afterwards) and runs it through mote.
(A merge method: tests/test_add_merge_method.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from train_helpers import config, synthetic_datasets


def test_an_architecture_is_one_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """DistilBERT (blocks under transformer.layer, FFN in `ffn`): one ArchSpec row in
    mote/model/architectures.py, and up-cycling, routing and Expert Averaging work."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling
    from transformers import AutoConfig, AutoModel, AutoTokenizer

    from conftest import tokenizer_dir
    from mote.model import architectures
    from mote.model.sentence import average, encode, upcycle

    with pytest.raises(ValueError, match="not supported for up-cycling"):
        architectures.get_arch("distilbert")
    monkeypatch.setitem(architectures.ARCHITECTURES, "distilbert",
                        architectures.ArchSpec(layers="transformer.layer", ffn=("ffn",)))
    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir()))
    torch.manual_seed(0)
    cfg = AutoConfig.for_model("distilbert", vocab_size=tok.vocab_size, dim=32, n_layers=2, n_heads=2,
                               hidden_dim=48, max_position_embeddings=128)
    AutoModel.from_config(cfg).save_pretrained(tmp_path / "hf")
    tok.save_pretrained(tmp_path / "hf")
    module = Transformer(str(tmp_path / "hf"), max_seq_length=32)
    dense = SentenceTransformer(modules=[module, Pooling(module.get_embedding_dimension(), "mean")], device="cpu")
    dense.save(str(tmp_path / "dense"))
    texts = ["a cat on a mat", "how do vaccines work?"]
    ref = SentenceTransformer(str(tmp_path / "dense"), device="cpu").encode(texts)
    moe = upcycle(tmp_path / "dense", ["query", "similarity"], layers="all", out=tmp_path / "moe")
    for task in ("query", "similarity"):  # every expert is the base's FFN: the base's embeddings
        np.testing.assert_allclose(encode(moe, texts, task=task), ref, atol=1e-5)
    np.testing.assert_allclose(average(moe).encode(texts), ref, atol=1e-5)


class HalfInfoNCE(nn.Module):
    """A toy loss: half of InfoNCE (enough to show what a loss class declares)."""

    name = "half_infonce"
    takes_scores = False

    def __init__(self, model: nn.Module, temperature: float = 0.05, mini_batch_size: int | None = None) -> None:
        super().__init__()
        from mote.losses import InfoNCELoss

        self.model = model
        self.inner = InfoNCELoss(model, temperature=temperature, mini_batch_size=mini_batch_size)
        self.calls = 0

    def forward(self, features: Any, labels: Any = None) -> torch.Tensor:
        self.calls += 1
        loss: torch.Tensor = 0.5 * self.inner(features, labels)
        return loss


def test_a_loss_is_a_class_and_one_line(tiny_st_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A loss: its class in one file under mote/losses/ and one entry in LOSSES; configs then name it."""
    import mote.losses
    from mote.train.run import train

    monkeypatch.setitem(mote.losses.LOSSES, HalfInfoNCE.name, HalfInfoNCE)
    built: list[HalfInfoNCE] = []
    real_get = mote.losses.get_loss

    def spy(name: str, model: nn.Module, **settings: Any) -> nn.Module:
        loss = real_get(name, model, **settings)
        if isinstance(loss, HalfInfoNCE):
            built.append(loss)
        return loss

    monkeypatch.setattr("mote.train.datasets.get_loss", spy)
    summary = train(config(tiny_st_dir, tmp_path / "run", max_steps=2, save_steps=2, sampling="round-robin",
                           tasks={"query": {"loss": "half_infonce"}}), synthetic_datasets(n=16))
    assert summary["steps"] == 2
    assert built and sum(b.calls for b in built) >= 1  # the query batches went through the new loss


def test_an_evaluation_task_is_a_task_def_and_a_reader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An evaluation task: a TaskDef in mote/data/evaluations/tasks.py and a reader in mote/data/evaluations/;
    mote evaluate then scores it with MTEB's evaluator for its type."""
    from scipy.stats import spearmanr
    from sentence_transformers import SentenceTransformer

    from mote.data.evaluations import tasks as suites
    from mote.data.evaluations.tasks import TaskDef
    from mote.evaluate import evaluate
    from mote.model.resolve import DEFAULT_BASE, packaged_model_dir

    base = packaged_model_dir(DEFAULT_BASE)
    if base is None:
        pytest.skip("the packaged all-MiniLM-L6-v2 is needed")
    (tmp_path / "toy-sts").mkdir()
    pairs = [("A man plays a guitar.", "A man is playing guitar.", 5.0), ("A cat sleeps.", "A dog barks.", 1.0),
             ("Kids play soccer.", "Children are playing football.", 4.5), ("It rains.", "Stocks fell.", 0.0),
             ("A woman cooks.", "A lady is cooking food.", 4.8), ("The sun is up.", "A car is red.", 0.3)]

    def read_toy(root: Path) -> dict[str, dict[str, list[Any]]]:  # the reader: data_root -> columns per split
        assert (root / "toy-sts").is_dir()
        return {"test": {"sentence1": [p[0] for p in pairs], "sentence2": [p[1] for p in pairs],
                         "score": [p[2] for p in pairs]}}

    toy = TaskDef("ToySTS", "STS", "toy-sts", "test", read_toy, description="Six hand-made pairs.")
    monkeypatch.setitem(suites.TASKS, "ToySTS", toy)
    monkeypatch.setitem(suites.SUITES, "toy", ("ToySTS",))
    summary = evaluate(base, "toy", data_root=tmp_path, precision="fp32", cache_dir=None)
    # the reference: cosine similarities ranked against the gold scores, by hand
    m = SentenceTransformer(str(base), device="cpu")
    a, b = m.encode([p[0] for p in pairs]), m.encode([p[1] for p in pairs])
    cos = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    expected = 100 * spearmanr(cos, [p[2] for p in pairs]).statistic
    assert abs(summary["tasks"]["ToySTS"]["score"] - expected) < 0.01

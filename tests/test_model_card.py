"""Saved model cards say what the model is and how to use it (sentence-transformers' card + a mote section)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import perturbed_copy
from mote.model.sentence import average, load, upcycle
from mote.train.run import train
from train_helpers import config, synthetic_datasets


def _card(folder: Path) -> str:
    return (folder / "README.md").read_text(encoding="utf-8")


def _front_matter_tags(card: str) -> list[str]:
    import yaml

    head = card.split("---", 2)[1]
    return list(yaml.safe_load(head).get("tags", []))


def test_upcycled_card_is_not_the_bases(minilm_dir: Path, tmp_path: Path) -> None:
    base_card = _card(minilm_dir)
    upcycle(minilm_dir, out=tmp_path / "m", instructions="mote")
    card = _card(tmp_path / "m")
    assert card != base_card
    assert "mote" in _front_matter_tags(card)
    assert "pip install mote-embeddings" in card
    assert "not trained yet" in card
    # every task with its expert and its instruction; the usage snippet routes by task
    for i, (task, prefix) in enumerate([("query", "search_query: "), ("document", "search_document: ")]):
        assert re.search(rf"\| `{task}` \| {i} \| `{prefix}` \|", card), card
    assert 'task="similarity"' in card and "encode_query" in card
    assert "blocks [1, 3, 5]" in card
    assert "# MoTE (5 task experts) up-cycled from sentence-transformers/all-MiniLM-L6-v2" in card  # the card's title


def test_upcycled_card_without_instructions_says_none(tiny_st_dir: Path, tmp_path: Path) -> None:
    upcycle(tiny_st_dir, ["query", "similarity"], layers="all", out=tmp_path / "m", instructions="none")
    card = _card(tmp_path / "m")
    assert "| `query` | 0 | none |" in card and "| `similarity` | 1 | none |" in card
    assert "There is no default task" in card


def test_averaged_card_names_the_method_and_loads_without_mote(tiny_st_dir: Path, tmp_path: Path) -> None:
    model = upcycle(tiny_st_dir, ["query", "similarity"], layers="all", out=tmp_path / "m", instructions="none")
    average(model, {"query": 3, "similarity": 1}, out=tmp_path / "dense")
    card = _card(tmp_path / "dense")
    assert card != _card(tmp_path / "m")
    assert "Expert Averaging" in card
    assert "plain `SentenceTransformer(path)` loads it" in card
    assert '"query": 0.75' in card and '"similarity": 0.25' in card  # the normalised weights
    assert "MoteModel" not in card  # the module printout shows the dense architecture
    assert "mote must be installed" not in card


def test_trained_mote_card_says_tasks_routing_and_budget(tiny_st_dir: Path, tmp_path: Path) -> None:
    train(config(tiny_st_dir, tmp_path / "run", max_steps=4, save_steps=4), synthetic_datasets(n=16))
    final = tmp_path / "run" / "final"
    card = _card(final)
    assert "pip install mote-embeddings" in card
    assert "| `clustering` | 4 |" in card
    assert "### Training (mote train)" in card
    assert re.search(r"\| steps \| 4 \|", card), card
    assert "not trained yet" not in card
    assert "generated_from_trainer" in _front_matter_tags(card)  # sentence-transformers' trainer card kept
    assert "MoteModel" in card  # the architecture printout of a MoTE model is honest
    load(final)  # the card does not disturb loading


@pytest.mark.parametrize("kind", ["joint"])
def test_trained_dense_card_lists_its_prompts(tiny_st_dir: Path, tmp_path: Path, kind: str) -> None:
    train(config(tiny_st_dir, tmp_path / "run", mode=kind, max_steps=2, save_steps=2), synthetic_datasets(n=16))
    card = _card(tmp_path / "run" / "final")
    assert "plain `SentenceTransformer(path)` loads it" in card
    assert "`query`: `search_query: `" in card  # the instruction is a saved prompt: prompt_name="query"
    assert "### Training (mote train)" in card


def test_merged_cards_name_method_sources_and_coefficients(tiny_st_dir: Path, tmp_path: Path) -> None:
    """Dense merges and expert merges: the card is the merged model's (not the MoTE's or the base's)."""
    import json

    from mote.merge import MergeConfig, run_merge

    fts = [str(perturbed_copy(tiny_st_dir, tmp_path / f"ft{i}", seed=i)) for i in range(2)]
    out = run_merge(MergeConfig(base=str(tiny_st_dir), models=fts, method="ties", parameters={"density": 0.5},
                                out=str(tmp_path / "ties"), progress=False))
    card = _card(out)
    assert card != _card(tiny_st_dir)
    assert "method `ties`" in card and '"density": 0.5' in card
    assert all(f"fine-tune: {f}" in card for f in fts)
    assert "plain `SentenceTransformer(path)` loads it" in card and "MoteModel" not in card

    rows = [{"anchor": f"w{i} x{i % 3}", "positive": f"x{i % 3} w{i}", "task": "similarity"} for i in range(8)]
    probe = tmp_path / "probe.jsonl"
    probe.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    upcycle(tiny_st_dir, ["query", "similarity"], layers="all", out=tmp_path / "m", instructions="none")
    out = run_merge(MergeConfig(mote_model=str(tmp_path / "m"), method="self_positioning",
                                parameters={"steps": 2, "batch_size": 4}, probe={"jsonl": str(probe)},
                                out=str(tmp_path / "sp"), progress=False))
    card = _card(out)
    assert "# self_positioning merge (experts) of " + str(tiny_st_dir) in card  # the MoTE's base, never None
    assert "method `self_positioning`" in card and "Learned coefficients" in card
    assert "MoteModel" not in card and "mote must be installed" not in card
    assert "not trained yet" not in card

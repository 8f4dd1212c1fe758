"""Example schema, cleaning counts, label-derived examples, hard-negative filling and the false-negative mask."""

from __future__ import annotations

from collections import Counter

import pytest
import torch

from mote.data import COLUMNS, Example, LabelledTexts, Pairs, to_dataset
from mote.data.cleaning import clean_labelled, clean_pairs, normalise
from mote.data.contrastive import finish_pairs, from_labelled
from mote.losses.masking import false_negative_mask


def test_false_negative_mask_hand_example() -> None:
    #        0    1    2     3    4
    labels = ["a", "b", "a", None, "b"]
    expected = torch.tensor(
        [
            [0, 0, 1, 0, 0],  # anchor 0 (a): positive 2 is also an 'a' -> masked; diagonal kept
            [0, 0, 0, 0, 1],
            [1, 0, 0, 0, 0],
            [0, 0, 0, 0, 0],  # unlabelled: masks nothing
            [0, 1, 0, 0, 0],
        ],
        dtype=torch.bool,
    )
    assert torch.equal(false_negative_mask(labels), expected)
    assert not false_negative_mask([None, None]).any()
    assert false_negative_mask([]).shape == (0, 0)


def test_to_dataset_columns_follow_the_rows() -> None:
    scored = to_dataset(
        [Example("a", "b", score=0.5)], dataset="sts", anchor_task="similarity", positive_task="similarity"
    )
    assert scored.column_names == ["anchor", "positive", "score", "task", "anchor_task", "positive_task", "dataset"]
    retrieval = to_dataset(
        [Example("q", "d", ("n",)), Example("q2", "d2", ("n2",))],
        dataset="r",
        anchor_task="query",
        positive_task="document",
    )
    assert retrieval[0] == {
        "anchor": "q",
        "positive": "d",
        "negatives": ["n"],
        "task": "query",
        "anchor_task": "query",
        "positive_task": "document",
        "dataset": "r",
    }
    assert set(retrieval.column_names) <= set(COLUMNS)
    with pytest.raises(ValueError, match="different numbers of hard negatives"):
        to_dataset(
            [Example("a", "b", ("n",)), Example("c", "d")], dataset="x", anchor_task="query", positive_task="document"
        )
    with pytest.raises(ValueError, match="1 of 2 rows have a label"):
        to_dataset([Example("a", "b", label="l"), Example("c", "d")], dataset="x", anchor_task="c", positive_task="c")
    empty = to_dataset([], dataset="e", anchor_task="clustering", positive_task="clustering")
    assert len(empty) == 0 and "score" not in empty.column_names


def test_normalise_matches_tokenised_and_raw_copies() -> None:
    assert (
        normalise("A man is playing a guitar .")
        == normalise("A man is playing a guitar")
        == "a man is playing a guitar"
    )
    assert normalise("Don't  STOP!") == "don t stop"
    assert normalise("😠") == "😠"


def test_cleaning_counts_empty_and_duplicates() -> None:
    counts: Counter[str] = Counter()
    rows = Pairs([Example(" a ", "b", (" ", "B", "c")), Example("A", "b."), Example("", "x"), Example("c", "d")])
    out = clean_pairs(rows, counts)
    assert out == [Example("a", "b", ("c",)), Example("c", "d")]
    assert counts == {
        "duplicate": 1,
        "empty text": 1,
        "empty hard negative": 1,
        "hard negative equal to the anchor or positive": 1,
    }
    counts = Counter()
    texts = clean_labelled(LabelledTexts(["x", " X ", "", "x!", "y"], ["1", "1", "1", "2", "2"]), counts)
    assert texts.texts == ["x", "y"] and texts.labels == ["1", "2"]
    assert counts == {"duplicate": 1, "empty text": 1, "duplicate text with another label": 1}


def test_label_derived_examples() -> None:
    texts = LabelledTexts([f"t{i}" for i in range(9)], ["a", "a", "a", "b", "b", "b", "c", "c", "lonely"])
    counts: Counter[str] = Counter()
    out = from_labelled(texts, max_examples=None, hard_negatives=2, seed=0, counts=counts)
    label_of = dict(zip(texts.texts, texts.labels, strict=True))
    assert len(out) == 8 and counts["text whose label has no other text"] == 1
    for e in out:
        assert e.positive != e.anchor and label_of[e.positive] == label_of[e.anchor] == e.label
        assert len(e.negatives) == 2 and len({label_of[n] for n in e.negatives}) == 2
        assert all(label_of[n] != e.label for n in e.negatives)
    again = from_labelled(texts, max_examples=3, hard_negatives=2, seed=0, counts=Counter())
    assert again == out[:3]  # seeded; the cap takes the first anchors of the same order
    with pytest.raises(ValueError, match="at least two labels"):
        from_labelled(
            LabelledTexts(["a", "b"], ["x", "x"]), max_examples=None, hard_negatives=1, seed=0, counts=Counter()
        )


def test_finish_pairs_caps_and_fills_negatives() -> None:
    rows = [Example(f"q{i}", f"d{i}", tuple(f"n{i}{j}" for j in range(i % 3))) for i in range(10)]
    counts: Counter[str] = Counter()
    out = finish_pairs(rows, max_examples=6, hard_negatives=2, seed=1, counts=counts)
    assert len(out) == 6 and all(len(e.negatives) == 2 for e in out)
    assert [e.anchor for e in out] == sorted((e.anchor for e in out), key=lambda a: int(a[1:]))  # order kept
    short = sum(1 for e in out if int(e.anchor[1:]) % 3 < 2)
    assert counts["row given random negatives (too few hard negatives)"] == short
    for e in out:
        assert e.positive not in e.negatives
    assert all(
        e.negatives == () for e in finish_pairs(rows, max_examples=None, hard_negatives=0, seed=1, counts=Counter())
    )


def test_label_derived_negatives_carry_their_labels_to_the_loss() -> None:
    """Every hard negative of a label-derived dataset has a known label (so InfoNCE can mask it when it
    shares another anchor's label), also after cleaning drops a negative."""
    from mote.train.datasets import _label_ids

    texts = LabelledTexts([f"text {i}" for i in range(12)], [str(i % 3) for i in range(12)])
    rows = from_labelled(texts, max_examples=None, hard_negatives=2, seed=1, counts=Counter())
    label_of = dict(zip(texts.texts, texts.labels, strict=True))
    for e in rows:
        assert e.negative_labels == tuple(label_of[n] for n in e.negatives) and e.label not in e.negative_labels
    cleaned = clean_pairs(Pairs([Example("a", "b", ("a", "c"), label="x", negative_labels=("x", "y"))]), Counter())
    assert cleaned[0].negatives == ("c",) and cleaned[0].negative_labels == ("y",)
    ds = to_dataset(rows, dataset="d", anchor_task="classification", positive_task="classification")
    assert ds["negative_labels"] == [list(e.negative_labels) for e in rows]
    ids = _label_ids(ds, [list(e.negatives) for e in rows], 2)
    assert all(i >= 0 for row in ids for i in row)  # none unknown
    names = sorted({*texts.labels})
    assert [[names[i] for i in row] for row in ids] == [[e.label, *e.negative_labels] for e in rows]

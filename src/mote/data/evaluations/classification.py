"""Readers for the single-text classification datasets.

Each returns ``{split: {"text": [...], "label": [int, ...]}}`` with the splits MTEB's classification
evaluator needs (``train`` for the probe, the evaluation split for scoring).
"""

from __future__ import annotations

import json
from pathlib import Path

from mote.data import layout
from mote.data.evaluations._files import (
    Columns,
    DataFormatError,
    check_same_length,
    label_ids,
    need,
    read_csv,
    read_lines,
    read_tsv,
)

# dair-ai/emotion label order (the integer labels of the HF/MTEB copy)
EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
TWEETEVAL_CLASSIFICATION = layout.TWEETEVAL_EVALUATED
TREC_COARSE = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]


def _texts(texts: list[str], names: list[str], order: list[str] | None = None) -> Columns:
    ids, _ = label_ids(names, order)
    return {"text": texts, "label": ids}


def read_banking77(root: Path) -> dict[str, Columns]:
    """``banking77/banking_data/{train,test}.csv`` (text, category); labels in ``categories.json`` order."""
    folder = root / "banking77" / "banking_data"
    order = json.loads(need(folder / "categories.json").read_text(encoding="utf-8"))
    out: dict[str, Columns] = {}
    for split in ("train", "test"):
        rows = read_csv(folder / f"{split}.csv")
        out[split] = _texts([r["text"] for r in rows], [r["category"] for r in rows], order)
    return out


def read_emotion(root: Path) -> dict[str, Columns]:
    """``emotion/data/emotion/{train,test}.txt``: a ``text;label_name`` header, then one example a line."""
    out: dict[str, Columns] = {}
    for split in ("train", "test"):
        path = root / "emotion" / "data" / "emotion" / f"{split}.txt"
        lines = read_lines(path)
        if lines[0] != "text;label_name":
            raise DataFormatError(f"{path}: expected the header 'text;label_name', got {lines[0]!r}.")
        texts, names = [], []
        for line in lines[1:]:
            text, _, name = line.rpartition(";")
            texts.append(text)
            names.append(name)
        out[split] = _texts(texts, names, EMOTION_LABELS)
    return out


def read_tweeteval(root: Path, subtask: str) -> dict[str, Columns]:
    """TweetEval ``{split}_text.txt`` + ``{split}_labels.txt`` (integer labels as published)."""
    if subtask not in TWEETEVAL_CLASSIFICATION:
        raise ValueError(f"Unknown TweetEval sub-task {subtask!r}; valid: {', '.join(TWEETEVAL_CLASSIFICATION)}.")
    folder = root / "tweeteval" / subtask
    out: dict[str, Columns] = {}
    for split in ("train", "test"):
        texts = read_lines(folder / f"{split}_text.txt")
        labels = [int(x) for x in read_lines(folder / f"{split}_labels.txt") if x.strip()]
        check_same_length(folder / f"{split}_text.txt", texts, labels, "texts")
        out[split] = {"text": [t.strip() for t in texts], "label": labels}
    return out


def read_trec(root: Path) -> dict[str, Columns]:
    """SentEval TREC question type: ``COARSE:fine question`` lines; the 6 coarse classes are the labels."""
    folder = root / "senteval-trec" / layout.TREC_DIR
    out: dict[str, Columns] = {}
    for split, name in layout.TREC_FILES.items():
        texts, names = [], []
        for n, line in enumerate(read_lines(folder / name, encoding="latin-1"), 1):
            label, _, question = line.partition(" ")
            if ":" not in label or not question:
                raise DataFormatError(f"{folder / name}:{n}: expected 'COARSE:fine question', got {line[:60]!r}.")
            names.append(label.split(":")[0])
            texts.append(question.strip())
        out[split] = _texts(texts, names, TREC_COARSE)
    return out


def read_sst2(root: Path) -> dict[str, Columns]:
    """SentEval SST binary: ``sentence<TAB>label`` (train = 67,349 phrases, test = 1,821 sentences)."""
    folder = root / "senteval-sst" / "SentEval" / "data" / "downstream" / "SST" / "binary"
    out: dict[str, Columns] = {}
    for split in ("train", "test"):
        rows = read_tsv(folder / f"sentiment-{split}")
        out[split] = {"text": [r[0].strip() for r in rows], "label": [int(r[1]) for r in rows]}
    return out

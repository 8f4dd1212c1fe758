"""Evaluation readers for the single-text classification datasets, on the training sources' parsers
(:mod:`mote.data.sources.classification`).

Each returns ``{split: {"text": [...], "label": [int, ...]}}`` with the splits MTEB's classification
evaluator needs (``train`` for the probe, the evaluation split for scoring).
"""

from __future__ import annotations

import json
from pathlib import Path

from mote.data import layout
from mote.data.evaluations._columns import Columns, label_ids
from mote.data.examples import LabelledTexts
from mote.data.sources import classification as src
from mote.data.sources._read import need_file

# dair-ai/emotion label order (the integer labels of the HF/MTEB copy)
EMOTION_LABELS = ["sadness", "joy", "love", "anger", "fear", "surprise"]
TWEETEVAL_CLASSIFICATION = layout.TWEETEVAL_EVALUATED
TREC_COARSE = ["ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM"]
SPLITS = ("train", "test")


def _columns(data: LabelledTexts, order: list[str] | None = None, strip: bool = False) -> Columns:
    ids, _ = label_ids(data.labels, order)
    return {"text": [t.strip() for t in data.texts] if strip else data.texts, "label": ids}


def read_banking77(root: Path) -> dict[str, Columns]:
    """Banking77; labels in ``categories.json`` order (MTEB's)."""
    folder = root / "banking77"
    order = json.loads(need_file(folder / "banking_data" / "categories.json", "Banking77 categories").read_text(
        encoding="utf-8"))
    return {split: _columns(src.read_banking77(folder, split), order) for split in SPLITS}


def read_emotion(root: Path) -> dict[str, Columns]:
    """Emotion; labels in dair-ai/emotion's order."""
    return {split: _columns(src.read_emotion(root / "emotion", split), EMOTION_LABELS) for split in SPLITS}


def read_tweeteval(root: Path, subtask: str) -> dict[str, Columns]:
    """TweetEval ``subtask`` with its integer labels as published."""
    if subtask not in TWEETEVAL_CLASSIFICATION:
        raise ValueError(f"Unknown TweetEval sub-task {subtask!r}; valid: {', '.join(TWEETEVAL_CLASSIFICATION)}.")
    out: dict[str, Columns] = {}
    for split in SPLITS:
        texts, ids, _ = src.tweeteval_rows(root / "tweeteval", split, subtask)
        out[split] = {"text": [t.strip() for t in texts], "label": [int(i) for i in ids]}
    return out


def read_trec(root: Path) -> dict[str, Columns]:
    """SentEval TREC question type: the 6 coarse classes are the labels."""
    return {split: _columns(src.read_trec(root / "senteval-trec", split), TREC_COARSE, strip=True)
            for split in layout.TREC_FILES}


def read_sst2(root: Path) -> dict[str, Columns]:
    """SentEval SST binary (train = 67,349 phrases, test = 1,821 sentences); labels 0/1 as published."""
    out: dict[str, Columns] = {}
    for split in SPLITS:
        data = src.read_sst(root / "senteval-sst", split, variant="binary")
        out[split] = {"text": [t.strip() for t in data.texts], "label": [int(label) for label in data.labels]}
    return out

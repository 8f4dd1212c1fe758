"""Dropping empty texts and duplicates, with counts (never a silent skip), and the text normalisation
used for every match (duplicates, leakage)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import replace
from functools import lru_cache

from mote.data.examples import Example, LabelledTexts, Pairs

_WORD = re.compile(r"\w+")


@lru_cache(maxsize=1 << 17)  # the leakage filter and the duplicate check normalise the same texts
def normalise(text: str) -> str:
    """Lower-cased words and digits joined by single spaces: 'A man , playing.' -> 'a man playing'.

    Tokenised (SNLI, SentEval) and raw (SICK, STS) copies of one sentence normalise to the same key.
    Texts without any word character keep their stripped form.
    """
    key = " ".join(_WORD.findall(text.lower()))
    return key or text.strip()


def clean_pairs(pairs: Pairs, counts: Counter[str]) -> list[Example]:
    """Strip texts; drop rows with an empty anchor or positive and duplicate (anchor, positive) rows
    (normalised); drop empty hard negatives and those equal to the row's anchor or positive."""
    seen: set[tuple[str, str]] = set()
    out = []
    for e in pairs.examples:
        anchor, positive = e.anchor.strip(), e.positive.strip()
        if not anchor or not positive:
            counts["empty text"] += 1
            continue
        key = (normalise(anchor), normalise(positive))
        if key in seen:
            counts["duplicate"] += 1
            continue
        seen.add(key)
        labels = e.negative_labels if len(e.negative_labels) == len(e.negatives) else (None,) * len(e.negatives)
        negs = [(n.strip(), lab) for n, lab in zip(e.negatives, labels, strict=True) if n.strip()]
        if len(negs) < len(e.negatives):
            counts["empty hard negative"] += len(e.negatives) - len(negs)
        kept = [(n, lab) for n, lab in negs if normalise(n) not in key]
        if len(kept) < len(negs):
            counts["hard negative equal to the anchor or positive"] += len(negs) - len(kept)
        kept_labels = tuple(lab for _, lab in kept if lab is not None)
        out.append(replace(e, anchor=anchor, positive=positive, negatives=tuple(n for n, _ in kept),
                           negative_labels=kept_labels if len(kept_labels) == len(kept) else ()))
    return out


def clean_labelled(texts: LabelledTexts, counts: Counter[str]) -> LabelledTexts:
    """Strip texts; drop empty texts and duplicates (normalised; the first copy keeps its label)."""
    first_label: dict[str, str] = {}
    out = LabelledTexts([], [])
    for text, label in zip(texts.texts, texts.labels, strict=True):
        text = text.strip()
        if not text:
            counts["empty text"] += 1
            continue
        key = normalise(text)
        if key in first_label:
            counts["duplicate" if first_label[key] == label else "duplicate text with another label"] += 1
            continue
        first_label[key] = label
        out.texts.append(text)
        out.labels.append(label)
    return out

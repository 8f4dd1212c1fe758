"""Records -> training examples: label-derived contrastive examples, and capping and hard-negative
filling of pair examples. Pure functions of the records and a seed."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import replace

from mote.data.examples import Example, LabelledTexts


def from_labelled(
    texts: LabelledTexts, *, max_examples: int | None, hard_negatives: int, seed: int, counts: Counter[str]
) -> list[Example]:
    """(text, another text of its label, ``hard_negatives`` texts of other labels), carrying the label.

    Anchors are visited in a seeded random order, each text at most once as an anchor; texts whose label
    has no other text cannot be anchors (counted).
    """
    rng = random.Random(seed)
    by_label: dict[str, list[int]] = defaultdict(list)
    for i, label in enumerate(texts.labels):
        by_label[label].append(i)
    names = sorted(by_label)
    if hard_negatives and len(names) < 2:
        raise ValueError(f"Hard negatives from other labels need at least two labels; got {names}.")
    order = list(range(len(texts.texts)))
    rng.shuffle(order)
    out: list[Example] = []
    for i in order:
        if max_examples is not None and len(out) >= max_examples:
            break
        label = texts.labels[i]
        same = by_label[label]
        if len(same) < 2:
            counts["text whose label has no other text"] += 1
            continue
        j = i
        while j == i:
            j = rng.choice(same)
        others = [name for name in names if name != label]
        if hard_negatives <= len(others):
            picked = rng.sample(others, hard_negatives)
        else:
            picked = [rng.choice(others) for _ in range(hard_negatives)]
        negatives = tuple(texts.texts[rng.choice(by_label[name])] for name in picked)
        out.append(Example(texts.texts[i], texts.texts[j], negatives, label=label, negative_labels=tuple(picked)))
    return out


def finish_pairs(
    examples: Sequence[Example], *, max_examples: int | None, hard_negatives: int, seed: int, counts: Counter[str]
) -> list[Example]:
    """Seeded sample of at most ``max_examples`` rows (original order kept), each with exactly
    ``hard_negatives`` negatives: a random choice of its own, padded with positives of other rows when it
    has fewer (counted)."""
    rng = random.Random(seed)
    keep = list(range(len(examples)))
    if max_examples is not None and max_examples < len(keep):
        keep = sorted(rng.sample(keep, max_examples))
    if hard_negatives == 0:
        return [replace(examples[i], negatives=(), negative_labels=()) for i in keep]
    out = []
    for i in keep:
        e = examples[i]
        own = list(e.negatives)
        rng.shuffle(own)
        negatives = own[:hard_negatives]
        if len(negatives) < hard_negatives:
            counts["row given random negatives (too few hard negatives)"] += 1
        for _ in range(100 * hard_negatives):
            if len(negatives) == hard_negatives:
                break
            j = rng.randrange(len(examples))
            if j != i and examples[j].positive not in (e.positive, e.anchor):
                negatives.append(examples[j].positive)
        if len(negatives) < hard_negatives:
            raise ValueError(
                f"Could not find {hard_negatives} random negatives for {e.anchor[:60]!r} among {len(examples)} rows; "
                "lower hard_negatives."
            )
        out.append(replace(e, negatives=tuple(negatives), negative_labels=()))
    return out

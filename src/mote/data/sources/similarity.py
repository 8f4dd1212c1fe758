"""Similarity sources: scored pairs (STS-B, SICK, STS12-16), NLI triplets (SNLI), paraphrase pairs
(Flickr8k captions of one image, Twitter-PIT, MRPC). Scores are rescaled to [0, 1]."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from pathlib import Path

from mote.data import layout
from mote.data.examples import Example, Pairs
from mote.data.sources._read import DataFormatError, MissingDataFile, parse_float, read_lines, split_tab
from mote.data.sources.base import Source


def _score(value: str, path: Path, n: int, low: float, high: float) -> float:
    """The published score of a row, checked to lie in [low, high]."""
    s = parse_float(value, path, n, f"a score in [{low:g}, {high:g}]")
    if not low <= s <= high:
        raise DataFormatError(path, n, f"a score in [{low:g}, {high:g}]", value)
    return s


def _unit(score: float, low: float, high: float) -> float:
    return (score - low) / (high - low)


# Row parsers: one per file format, read by the training readers below and by the evaluation readers
# (mote.data.evaluations) alike. Each returns the published fields (scores as published, not rescaled).
ScoredRow = tuple[str, str, float]  # sentence 1, sentence 2, score


def stsb_rows(folder: Path, split: str) -> list[ScoredRow]:
    """STS Benchmark ``stsbenchmark/sts-{split}.csv`` under the source folder: genre, file, year, id, score
    0-5, s1, s2 (extra fields on some lines, ignored); tab-separated, no quote handling."""
    path = folder / "stsbenchmark" / f"sts-{split}.csv"
    rows = []
    for n, line in enumerate(read_lines(path, "STS Benchmark file"), 1):
        f = split_tab(line, path, n, 7, "genre, file, year, id, score, sentence 1, sentence 2")
        rows.append((f[5], f[6], _score(f[4], path, n, 0, 5)))
    return rows


def sick_rows(folder: Path, split: str) -> list[ScoredRow]:
    """SICK 2014 TSV with a header: pair_ID, sentence_A, sentence_B, relatedness 1-5, entailment."""
    path = folder / layout.SICK_DIR / layout.SICK_FILES[split]
    lines = read_lines(path, "SICK file")
    if not lines or not lines[0].startswith("pair_ID"):
        raise DataFormatError(path, 1, "the header 'pair_ID<TAB>sentence_A<TAB>sentence_B<TAB>...'", lines[:1])
    rows = []
    for n, line in enumerate(lines[1:], 2):
        f = split_tab(line, path, n, 4, "pair_ID, sentence_A, sentence_B, relatedness_score")
        rows.append((f[1], f[2], _score(f[3], path, n, 1, 5)))
    return rows


def sts_rows(folder: Path, split: str) -> tuple[list[ScoredRow], Counter[str]]:
    """SemEval STS12-16 (``split``: train or sts12..sts16): ``*.input.X.txt`` (s1 TAB s2[...]) and
    ``*.gs.X.txt`` (a score a line, 0-5), every subset of the split's folder.

    Also returns what was left out, by reason: a blank gold line is an unscored pair (STS15/16), and a gold
    file without input (STS13 SMT, as in MTEB) is skipped.
    """
    where = folder / layout.STS_DIR / layout.STS_SPLITS[split]
    if not where.is_dir():
        raise MissingDataFile(f"Missing STS folder {str(where)!r}. Pass the folder holding the shared datasets as "
                              "data_root (e.g. --data-root ../shared/data).")
    inputs = sorted(where.glob("*.input.*.txt"))
    if not inputs:
        raise MissingDataFile(f"No STS input files (*.input.*.txt) in {str(where)!r}.")
    rows: list[ScoredRow] = []
    dropped: Counter[str] = Counter()
    for path in inputs:
        gold = path.with_name(path.name.replace(".input.", ".gs.", 1))
        pairs, scores = read_lines(path, "STS input file"), read_lines(gold, "STS gold-score file")
        if len(pairs) != len(scores):
            raise DataFormatError(gold, None, f"one score line per line of {path.name} ({len(pairs)})", len(scores))
        for n, (line, score) in enumerate(zip(pairs, scores, strict=True), 1):
            if not score.strip():
                dropped["unscored pair (blank gold line)"] += 1
                continue
            f = split_tab(line, path, n, 2, "sentence 1, sentence 2")
            rows.append((f[0], f[1], _score(score, gold, n, 0, 5)))
    for gold in sorted(where.glob("*.gs.*.txt")):
        if not gold.with_name(gold.name.replace(".gs.", ".input.", 1)).is_file() and ".ALL." not in gold.name:
            dropped[f"gold file without input ({gold.name})"] += len(read_lines(gold, "STS gold file"))
    return rows, dropped


def mrpc_rows(folder: Path, split: str) -> list[tuple[int, str, str]]:
    """MSR paraphrase TSV (Quality, #1 ID, #2 ID, #1 String, #2 String): (quality 0/1, string 1, string 2)."""
    path = folder / layout.MRPC_FILES[split]
    lines = read_lines(path, "MRPC file")
    if not lines or not lines[0].startswith("Quality"):
        raise DataFormatError(path, 1, "the header 'Quality<TAB>#1 ID<TAB>#2 ID<TAB>#1 String<TAB>#2 String'")
    rows = []
    for n, line in enumerate(lines[1:], 2):
        f = split_tab(line, path, n, 5, "quality, id 1, id 2, string 1, string 2")
        if f[0] not in {"0", "1"}:
            raise DataFormatError(path, n, "quality 0 or 1", f[0])
        rows.append((int(f[0]), f[3], f[4]))
    return rows


_VOTES = re.compile(r"^\((\d), (\d)\)$")


def twitter_pit_rows(folder: Path, split: str) -> list[tuple[str, str, int]]:
    """Twitter-PIT 2015 ``{split}.data`` (topic id, topic, sent 1, sent 2, votes '(n, 5-n)', tags...):
    (sentence 1, sentence 2, n = the Turkers who said paraphrase, of 5)."""
    path = folder / f"{split}.data"
    rows = []
    for n, line in enumerate(read_lines(path, "Twitter-PIT file"), 1):
        f = split_tab(line, path, n, 5, "topic id, topic, sentence 1, sentence 2, votes")
        m = _VOTES.match(f[4].strip())
        if m is None or int(m[1]) + int(m[2]) != 5:
            raise DataFormatError(path, n, "votes like '(3, 2)' (five in all)", f[4])
        rows.append((f[2], f[3], int(m[1])))
    return rows


# Training readers: the rows as training records (scores rescaled to [0, 1]).


def read_stsb(root: Path, split: str) -> Pairs:
    """STS Benchmark scored pairs (0-5 -> 0-1)."""
    return Pairs([Example(a, b, score=_unit(s, 0, 5)) for a, b, s in stsb_rows(root, split)])


def read_sick(root: Path, split: str) -> Pairs:
    """SICK relatedness scored pairs (1-5 -> 0-1)."""
    return Pairs([Example(a, b, score=_unit(s, 1, 5)) for a, b, s in sick_rows(root, split)])


def read_sts(root: Path, split: str) -> Pairs:
    """SemEval STS12-16 scored pairs (0-5 -> 0-1); unscored pairs and gold files without input are counted."""
    rows, dropped = sts_rows(root, split)
    return Pairs([Example(a, b, score=_unit(s, 0, 5)) for a, b, s in rows], dropped)


STS_YEARS = tuple(f"STS{y}" for y in range(12, 17))
NLI_LABELS = ("entailment", "neutral", "contradiction")


def read_snli(root: Path, split: str) -> Pairs:
    """SentEval SNLI: ``s1.X``, ``s2.X``, ``labels.X`` line-aligned. Premise -> entailed hypothesis, with the
    premise's contradicted hypotheses as hard negatives; neutral pairs are unused (counted)."""
    folder = root / "SentEval" / "data" / "downstream" / "SNLI"
    s1, s2, labels = (read_lines(folder / f"{k}.{split}", f"SNLI {k} file") for k in ("s1", "s2", "labels"))
    if not len(s1) == len(s2) == len(labels):
        raise DataFormatError(folder, split, f"s1/s2/labels of equal length, got {len(s1)}/{len(s2)}/{len(labels)}")
    entailed: dict[str, list[str]] = defaultdict(list)
    contradicted: dict[str, list[str]] = defaultdict(list)
    out = Pairs([])
    for n, (p, h, y) in enumerate(zip(s1, s2, labels, strict=True), 1):
        y = y.strip()
        if y not in NLI_LABELS:
            raise DataFormatError(folder / f"labels.{split}", n, f"one of {list(NLI_LABELS)}", y)
        if y == "entailment":
            entailed[p.strip()].append(h.strip())
        elif y == "contradiction":
            contradicted[p.strip()].append(h.strip())
        else:
            out.dropped["neutral pair (unused)"] += 1
    for premise, hyps in entailed.items():
        out.examples += [Example(premise, h, negatives=tuple(contradicted.get(premise, ()))) for h in hyps]
    out.dropped["contradiction whose premise has no entailment (unused)"] += sum(
        len(v) for k, v in contradicted.items() if k not in entailed
    )
    return out


_CAPTION = re.compile(r"^(?P<image>[^#\s]+)#(?P<i>\d+)[\t ](?P<caption>.*)$")
_PAIR_ORDER = ((0, 1), (2, 3), (0, 2), (1, 3), (1, 4), (0, 3), (2, 4), (0, 4), (1, 2), (3, 4))


def read_flickr8k(root: Path, split: str, *, pairs_per_image: int = 2) -> Pairs:
    """Flickr8k captions (``image.jpg#i<TAB>caption``; the first line has a space instead of the TAB):
    pairs of captions of one image. ``train`` keeps the images of ``Flickr_8k.trainImages.txt``."""
    if not 1 <= pairs_per_image <= len(_PAIR_ORDER):
        raise ValueError(f"pairs_per_image must be in [1, {len(_PAIR_ORDER)}], got {pairs_per_image}.")
    path = root / "Flickr8k.token.txt"
    captions: dict[str, list[str]] = defaultdict(list)
    for n, line in enumerate(read_lines(path, "Flickr8k captions file"), 1):
        m = _CAPTION.match(line)
        if m is None:
            raise DataFormatError(path, n, "'<image>.jpg#<i><TAB><caption>'", line)
        captions[m["image"]].append(m["caption"])
    keep: set[str] | None = None
    if split == "train":
        keep = {x.strip() for x in read_lines(root / "Flickr_8k.trainImages.txt", "Flickr8k train image list")}
    out = Pairs([])
    for image, caps in captions.items():
        if keep is not None and image not in keep:
            out.dropped["caption of a non-train image"] += len(caps)
            continue
        pairs = [(i, j) for i, j in _PAIR_ORDER[:pairs_per_image] if j < len(caps)]
        out.examples += [Example(caps[i], caps[j]) for i, j in pairs]
    return out


def read_twitter_pit(root: Path, split: str) -> Pairs:
    """Twitter-PIT 2015: paraphrase pairs ((3,2), (4,1), (5,0)); non-paraphrases of the same sentence 1
    ((1,4), (0,5)) are its hard negatives; debatable (2,3) pairs are discarded and counted."""
    para: dict[str, list[str]] = defaultdict(list)
    non: dict[str, list[str]] = defaultdict(list)
    out = Pairs([])
    for s1, s2, yes in twitter_pit_rows(root, split):
        if yes == 2:
            out.dropped["debatable votes (2, 3)"] += 1
        else:
            (para if yes >= 3 else non)[s1].append(s2)
    for s1, s2s in para.items():
        out.examples += [Example(s1, s2, negatives=tuple(non.get(s1, ()))) for s2 in s2s]
    out.dropped["non-paraphrase without a paraphrase of its sentence (unused)"] += sum(
        len(v) for k, v in non.items() if k not in para
    )
    return out


def read_mrpc(root: Path, split: str) -> Pairs:
    """MRPC paraphrase pairs (Quality 1); non-paraphrases are counted and unused."""
    out = Pairs([])
    for quality, s1, s2 in mrpc_rows(root, split):
        if quality:
            out.examples.append(Example(s1, s2))
        else:
            out.dropped["non-paraphrase pair (unused)"] += 1
    return out


SOURCES: tuple[Source, ...] = (
    Source(
        "stsb",
        read_stsb,
        "stsbenchmark",
        "similarity",
        "STS Benchmark scored pairs (0-5 -> 0-1).",
        reserved={"dev": "STSBenchmark (dev: model selection)"},
        scored=True,
        reuses=STS_YEARS,
    ),
    Source(
        "sick",
        read_sick,
        "sick2014",
        "similarity",
        "SICK relatedness scored pairs (1-5 -> 0-1).",
        splits=("train", "trial"),
        evaluation="SICK-R",
        excluded_by="evaluate_sick",
        scored=True,
    ),
    Source(
        "sts12-16",
        read_sts,
        "sts12-16",
        "similarity",
        "SemEval STS12 train scored pairs (0-5 -> 0-1).",
        reserved={"sts16": "STS16"},  # the published test, in no suite (STS-B reuses it: sts_overlap)
        scored=True,
    ),
    Source(
        "snli",
        read_snli,
        "senteval-snli-devtest",
        "similarity",
        "SNLI premise -> entailment, contradiction as hard negative.",
        splits=("dev", "test"),
        hard_negatives=1,
    ),
    Source(
        "flickr8k",
        read_flickr8k,
        "flickr8k-captions",
        "similarity",
        "Pairs of captions of one Flickr8k image.",
        splits=("train", "all"),
    ),
    Source(
        "twitter-pit",
        read_twitter_pit,
        "twitter-pit2015",
        "similarity",
        "Twitter-PIT 2015 paraphrase pairs (evaluation only: its one split is the TwitterPIT2015Dev task).",
        splits=(),
        hard_negatives=1,
    ),
    Source(
        "mrpc",
        read_mrpc,
        "mrpc",
        "similarity",
        "MRPC paraphrase pairs.",
        reserved={"val": "MRPC (val: model selection)"},
    ),
)

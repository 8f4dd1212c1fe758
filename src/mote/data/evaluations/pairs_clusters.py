"""Readers for pair classification (MRPC, Twitter PIT 2015) and clustering (STC2, 20 Newsgroups subjects).

Pair readers return ``sentence1``, ``sentence2``, ``labels`` (1 = paraphrase); clustering readers return
``sentences``, ``labels`` (cluster names), the columns of MTEB's pair-classification / clustering tasks.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from mote.data import layout
from mote.data.evaluations._files import Columns, DataFormatError, check_same_length, need, read_lines, read_tsv

# Turker votes "(paraphrase, not)" -> label; (2, 3) is "debatable" and discarded, as the PIT authors advise.
PIT_LABELS = {"(3, 2)": 1, "(4, 1)": 1, "(5, 0)": 1, "(1, 4)": 0, "(0, 5)": 0, "(2, 3)": None}
STC2_SETS = ("StackOverflow", "SearchSnippets")


def read_mrpc(root: Path, split: str = "test") -> Columns:
    """MSR paraphrase corpus: ``Quality, #1 ID, #2 ID, #1 String, #2 String`` (BOM, header line)."""
    path = root / "mrpc" / layout.MRPC_FILES[split]
    rows = read_tsv(path, encoding="utf-8-sig")
    if rows[0][0] != "Quality":
        raise DataFormatError(f"{path}: expected a header starting with 'Quality', got {rows[0][:2]}.")
    body = rows[1:]
    return {
        "sentence1": [r[3] for r in body],
        "sentence2": [r[4] for r in body],
        "labels": [int(r[0]) for r in body],
    }


def read_twitter_pit(root: Path, split: str = "dev") -> Columns:
    """SemEval-2015 PIT ``{split}.data``: topic id, topic, sent 1, sent 2, votes "(n, 5-n)", tags."""
    path = root / "twitter-pit2015" / f"{split}.data"
    s1, s2, labels = [], [], []
    for n, row in enumerate(read_tsv(path), 1):
        if len(row) < 5 or row[4] not in PIT_LABELS:
            raise DataFormatError(f"{path}:{n}: expected a vote pair like '(3, 2)' in column 5.")
        label = PIT_LABELS[row[4]]
        if label is None:
            continue
        s1.append(row[2])
        s2.append(row[3])
        labels.append(label)
    return {"sentence1": s1, "sentence2": s2, "labels": labels}


def read_stc2(root: Path, name: str) -> Columns:
    """STC2 short-text clustering set ``name`` (``X.txt`` one text a line, ``X_gnd.txt`` its label)."""
    if name not in STC2_SETS:
        raise ValueError(f"Unknown STC2 set {name!r}; valid: {', '.join(STC2_SETS)}.")
    folder = root / "stc2-short-text-clustering"
    texts = [t.strip() for t in read_lines(folder / f"{name}.txt", encoding="utf-8-sig")]
    labels = [x.strip() for x in read_lines(folder / f"{name}_gnd.txt")]
    check_same_length(folder / f"{name}.txt", texts, labels, "texts")
    return {"sentences": texts, "labels": labels}


def _subject(raw: str) -> str | None:
    head = raw.split("\n\n", 1)[0]
    for line in head.split("\n"):
        if line.startswith("Subject:"):
            return line.removeprefix("Subject:").strip()
    return None


def read_20newsgroups_subjects(root: Path, split: str = "test") -> Columns:
    """``Subject:`` line of every post of the by-date ``split``; the label is the newsgroup.

    Posts without a subject (none in the by-date release) would be skipped.
    """
    path = need(root / "20newsgroups-bydate" / "20news-bydate.tar.gz")
    prefix = f"20news-bydate-{split}/"
    rows: list[tuple[str, str, str]] = []
    with tarfile.open(path, "r:gz") as tar:
        for member in tar:
            if not member.isfile() or not member.name.startswith(prefix):
                continue
            f = tar.extractfile(member)
            if f is None:
                continue
            subject = _subject(f.read().decode("latin-1"))
            group = member.name.split("/")[1]
            if subject:
                rows.append((group, member.name, subject))
    if not rows:
        raise DataFormatError(f"No '{prefix}' posts found in {str(path)!r}.")
    rows.sort()
    return {"sentences": [r[2] for r in rows], "labels": [r[0] for r in rows]}

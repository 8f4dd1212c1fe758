"""Evaluation readers for pair classification (MRPC, Twitter PIT 2015) and clustering (STC2, 20 Newsgroups
subjects), on the row parsers the training sources use (:mod:`mote.data.sources`).

Pair readers return ``sentence1``, ``sentence2``, ``labels`` (1 = paraphrase); clustering readers return
``sentences``, ``labels`` (cluster names), the columns of MTEB's pair-classification / clustering tasks.
"""

from __future__ import annotations

from pathlib import Path

from mote.data.evaluations._columns import Columns
from mote.data.sources._read import DataFormatError
from mote.data.sources.clustering import STC2_SETS, newsgroups_posts, stc2_rows
from mote.data.sources.similarity import mrpc_rows, twitter_pit_rows

__all__ = ["STC2_SETS", "read_20newsgroups_subjects", "read_mrpc", "read_stc2", "read_twitter_pit"]


def read_mrpc(root: Path, split: str = "test") -> Columns:
    """MSR paraphrase corpus, every pair with its quality (1 = paraphrase)."""
    rows = mrpc_rows(root / "mrpc", split)
    return {"sentence1": [r[1] for r in rows], "sentence2": [r[2] for r in rows], "labels": [r[0] for r in rows]}


def read_twitter_pit(root: Path, split: str = "dev") -> Columns:
    """SemEval-2015 PIT: paraphrase when 3-5 of 5 Turkers said so, not when 0-1 did; the debatable (2, 3)
    pairs are discarded, as the PIT authors advise."""
    rows = [r for r in twitter_pit_rows(root / "twitter-pit2015", split) if r[2] != 2]
    return {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows],
            "labels": [int(r[2] >= 3) for r in rows]}


def read_stc2(root: Path, name: str) -> Columns:
    """STC2 short-text clustering set ``name`` (texts stripped of surrounding white space)."""
    data = stc2_rows(root / "stc2-short-text-clustering", name)
    return {"sentences": [t.strip() for t in data.texts], "labels": data.labels}


def read_20newsgroups_subjects(root: Path, split: str = "test") -> Columns:
    """The ``Subject:`` line, as written, of every post of the by-date ``split``; the label is the newsgroup.
    Ordered by newsgroup and post path."""
    posts = newsgroups_posts(root / "20newsgroups-bydate", split)
    rows = sorted((p.group, p.member, p.header_subject) for p in posts if p.header_subject)
    if not rows:
        folder = root / "20newsgroups-bydate"
        raise DataFormatError(f"No 20news-bydate-{split}/ posts with a subject in {str(folder)!r}.")
    return {"sentences": [r[2] for r in rows], "labels": [r[0] for r in rows]}

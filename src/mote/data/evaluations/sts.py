"""Evaluation readers for the STS datasets: STS Benchmark, SICK, and the SemEval STS 2012-2015 test sets.

Each returns columns ``sentence1``, ``sentence2``, ``score`` (the gold score as published). The files are
parsed by the same row parsers the training readers use (:mod:`mote.data.sources.similarity`).
"""

from __future__ import annotations

from pathlib import Path

from mote.data import layout
from mote.data.evaluations._columns import Columns
from mote.data.sources.similarity import ScoredRow, sick_rows, sts_rows, stsb_rows

STS_YEARS = (2012, 2013, 2014, 2015)  # MTEB has STS12-15; STS16 is training-side only


def _pairs(rows: list[ScoredRow]) -> Columns:
    return {"sentence1": [r[0] for r in rows], "sentence2": [r[1] for r in rows], "score": [r[2] for r in rows]}


def read_stsbenchmark(root: Path, split: str = "test") -> Columns:
    """``stsbenchmark/stsbenchmark/sts-{split}.csv`` under data_root."""
    return _pairs(stsb_rows(root / "stsbenchmark", split))


def read_sick(root: Path, splits: tuple[str, ...] = tuple(layout.SICK_FILES)) -> Columns:
    """SICK relatedness pairs; MTEB's SICK-R uses all 9,927 pairs of train + trial + test."""
    return _pairs([row for split in splits for row in sick_rows(root / "sick2014", split)])


def read_sts_year(root: Path, year: int) -> Columns:
    """All scored pairs of a SemEval STS English test set (every subset that has an input file; unscored
    pairs and gold files without input, STS13 SMT, are left out as in MTEB)."""
    if year not in STS_YEARS:
        raise ValueError(f"No STS test set for year {year}; available: {list(STS_YEARS)}.")
    rows, _ = sts_rows(root / "sts12-16", f"sts{year % 100}")
    return _pairs(rows)

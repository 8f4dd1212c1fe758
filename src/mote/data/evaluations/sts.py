"""Readers for the STS datasets: STS Benchmark, SICK, and the SemEval STS 2012-2015 test sets.

Each returns columns ``sentence1``, ``sentence2``, ``score`` (the gold score as published).
"""

from __future__ import annotations

from pathlib import Path

from mote.data import layout
from mote.data.evaluations._files import (
    Columns,
    DataFormatError,
    MissingDataFile,
    check_same_length,
    read_lines,
    read_tsv,
)

# folder of each SemEval year's English test set under sts12-16/ (MTEB has STS12-15; STS16 is training-side only)
STS_YEAR_DIRS = {year: f"{layout.STS_DIR}/{layout.STS_SPLITS[f'sts{year % 100}']}" for year in (2012, 2013, 2014, 2015)}


def _pairs(s1: list[str], s2: list[str], scores: list[float]) -> Columns:
    return {"sentence1": s1, "sentence2": s2, "score": scores}


def read_stsbenchmark(root: Path, split: str = "test") -> Columns:
    """``stsbenchmark/sts-{split}.csv``: genre, file, year, id, score, s1, s2 (+ extra fields on some lines)."""
    path = root / "stsbenchmark" / "stsbenchmark" / f"sts-{split}.csv"
    s1, s2, scores = [], [], []
    for n, row in enumerate(read_tsv(path), 1):
        if len(row) < 7:
            raise DataFormatError(f"{path}:{n}: expected at least 7 tab-separated fields, got {len(row)}.")
        scores.append(float(row[4]))
        s1.append(row[5])
        s2.append(row[6])
    return _pairs(s1, s2, scores)


def read_sick(
    root: Path, files: tuple[str, ...] = tuple(layout.SICK_FILES.values())
) -> Columns:
    """SICK relatedness pairs; MTEB's SICK-R uses all 9,927 pairs of train + trial + test."""
    s1, s2, scores = [], [], []
    for name in files:
        path = root / "sick2014" / layout.SICK_DIR / name
        rows = read_tsv(path)
        if rows[0][:4] != ["pair_ID", "sentence_A", "sentence_B", "relatedness_score"]:
            raise DataFormatError(f"{path}: unexpected header {rows[0][:4]}; expected pair_ID, sentence_A, ...")
        for row in rows[1:]:
            s1.append(row[1])
            s2.append(row[2])
            scores.append(float(row[3]))
    return _pairs(s1, s2, scores)


def read_sts_year(root: Path, year: int) -> Columns:
    """All scored pairs of a SemEval STS English test set (every subset that has an input file).

    ``STS.input.X.txt`` holds tab-separated s1, s2 (later columns ignored), ``STS.gs.X.txt`` one score a
    line; a blank gold line marks an unscored pair, which is dropped (STS15). Subsets with gold but no
    input (STS13 SMT) are skipped, as in MTEB.
    """
    if year not in STS_YEAR_DIRS:
        raise ValueError(f"No STS test set for year {year}; available: {sorted(STS_YEAR_DIRS)}.")
    folder = root / "sts12-16" / STS_YEAR_DIRS[year]
    if not folder.is_dir():
        raise MissingDataFile(f"Missing STS folder {str(folder)!r}; is data_root the shared data folder?")
    inputs = sorted(folder.glob("STS.input.*.txt"))
    if not inputs:
        raise DataFormatError(f"No STS.input.*.txt files in {str(folder)!r}; is data_root the shared data folder?")
    s1, s2, scores = [], [], []
    for path in inputs:
        subset = path.name.removeprefix("STS.input.").removesuffix(".txt")
        gold_path = folder / f"STS.gs.{subset}.txt"
        lines = read_lines(path)
        gold = read_lines(gold_path)
        check_same_length(gold_path, lines, gold, "input pairs")
        for n, (line, g) in enumerate(zip(lines, gold, strict=True), 1):
            if not g.strip():
                continue
            fields = line.split("\t")
            if len(fields) < 2:
                raise DataFormatError(f"{path}:{n}: expected two tab-separated sentences.")
            s1.append(fields[0])
            s2.append(fields[1])
            scores.append(float(g))
    return _pairs(s1, s2, scores)

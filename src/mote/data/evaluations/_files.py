"""Small file helpers shared by the dataset readers: every error names the file and what was expected."""

from __future__ import annotations

import csv
from collections.abc import Sized
from pathlib import Path
from typing import Any

from mote.data.sources._read import DataFormatError  # one error class for every data reader


class MissingDataFile(DataFormatError, FileNotFoundError):
    """A data file an evaluation reads is absent (a FileNotFoundError too: the leakage pool lists the
    evaluation as not checked instead of failing)."""

__all__ = ["Columns", "DataFormatError", "MissingDataFile", "check_same_length", "label_ids", "need", "read_csv",
           "read_lines", "read_tsv"]

Columns = dict[str, list[Any]]  # column name -> values, ready for datasets.Dataset.from_dict


def need(path: Path) -> Path:
    """Return ``path`` if it is a file, else raise naming it and the data-root fix."""
    if not path.is_file():
        raise MissingDataFile(
            f"Missing data file {str(path)!r}. Pass the folder holding the shared datasets as data_root "
            "(e.g. --data-root ../shared/data); see that folder's README.md for the expected layout."
        )
    return path


def read_lines(path: Path, encoding: str = "utf-8") -> list[str]:
    """Lines of a text file without line ends; a final empty line (trailing newline) is dropped."""
    lines = need(path).read_text(encoding=encoding).split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line.rstrip("\r") for line in lines]


def read_tsv(path: Path, encoding: str = "utf-8", delimiter: str = "\t") -> list[list[str]]:
    """Rows of a delimited file read with QUOTE_NONE (quotes are text, as in the STS/MSR releases)."""
    with need(path).open(encoding=encoding, newline="") as f:
        return [row for row in csv.reader(f, delimiter=delimiter, quoting=csv.QUOTE_NONE) if row]


def read_csv(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    """Rows of a standard (quoted) CSV file with a header line."""
    with need(path).open(encoding=encoding, newline="") as f:
        return list(csv.DictReader(f))


def check_same_length(path: Path, a: Sized, b: Sized, what: str) -> None:
    if len(a) != len(b):
        raise DataFormatError(f"{str(path)!r}: {len(a)} {what} but {len(b)} labels/scores; the files must align.")


def label_ids(names: list[str], order: list[str] | None = None) -> tuple[list[int], list[str]]:
    """Map label names to integers (``order`` first, then sorted unseen names); return ids and the name list."""
    vocab = list(order or [])
    vocab += sorted(set(names) - set(vocab))
    index = {n: i for i, n in enumerate(vocab)}
    return [index[n] for n in names], vocab

"""Reading helpers shared by the source readers: every error names the file, the line or row, and what
was expected."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path


class DataFormatError(ValueError):
    """A data file that is missing or not in the format its reader expects (training and evaluation readers
    alike): ``DataFormatError(path, line, expected, got)`` gives ``file:line: expected ...; got ...``, and
    ``DataFormatError(message)`` a message written out in full."""

    def __init__(self, path: Path | str, where: int | str | None = None, expected: str | None = None,
                 got: object = None) -> None:
        if expected is None:  # a complete message
            super().__init__(str(path))
            self.path, self.where = None, None
            return
        loc = f"{path}:{where}" if where is not None else str(path)
        if isinstance(where, str) and not where.isdigit():
            loc = f"{path} ({where})"
        msg = f"{loc}: expected {expected}"
        if got is not None:
            text = got if isinstance(got, str) else repr(got)
            msg += f"; got {text[:160]!r}"
        super().__init__(msg + ".")
        self.path = str(path)
        self.where = where


class MissingDataFile(DataFormatError, FileNotFoundError):
    """A data file a reader needs is absent (a FileNotFoundError too: the leakage pool lists an evaluation
    whose files are missing as not checked instead of failing)."""


def need_file(path: Path, what: str) -> Path:
    """``path`` if it is a file, else a :class:`MissingDataFile` naming the file and the data-root fix."""
    if not path.is_file():
        raise MissingDataFile(
            f"Missing {what}: {str(path)!r} does not exist. Pass the folder holding the shared datasets as "
            "data_root (e.g. --data-root ../shared/data); its README.md gives the expected layout."
        )
    return path


def decode(data: bytes, path: Path, encoding: str) -> str:
    """``data`` decoded; a wrong encoding is an error naming the file, the byte and the fix."""
    try:
        return data.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataFormatError(path, f"byte {e.start}", f"{encoding} text ({e.reason}); convert the file to UTF-8"
                              ) from None


def read_lines(path: Path, what: str, encoding: str = "utf-8-sig") -> list[str]:
    """The lines of a text file (BOM stripped, CR/LF endings removed; only ``\\n`` splits lines)."""
    text = decode(need_file(path, what).read_bytes(), path, encoding)
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [line[:-1] if line.endswith("\r") else line for line in lines]


def split_tab(line: str, path: Path, n_line: int, min_fields: int, expected: str) -> list[str]:
    """Tab-separated fields of one line (no quote processing, like ``csv.QUOTE_NONE``)."""
    fields = line.split("\t")
    if len(fields) < min_fields:
        raise DataFormatError(path, n_line, f"{expected} ({min_fields} tab-separated fields, got {len(fields)})", line)
    return fields


def parse_float(value: str, path: Path, n_line: int | str, what: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise DataFormatError(path, n_line, f"a number for {what}", value) from None


def csv_rows(
    path: Path, what: str, header: tuple[str, ...], encoding: str = "utf-8-sig"
) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line number, row)`` of a CSV file whose header must contain ``header``; rows must be complete."""
    csv.field_size_limit(1 << 30)
    text = decode(need_file(path, what).read_bytes(), path, encoding)
    reader = csv.reader(io.StringIO(text, newline=""))
    first = next(reader, None)
    if first is None or not set(header) <= set(first):
        raise DataFormatError(path, 1, f"a header with columns {list(header)}", first)
    for row in reader:
        if not row:
            continue
        if len(row) != len(first):
            raise DataFormatError(path, reader.line_num, f"{len(first)} comma-separated fields {first}", row)
        yield reader.line_num, dict(zip(first, row, strict=True))

"""Reading user text inputs: a plain text file (one input a line) or JSONL with a ``text`` field."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from mote.model.io import missing


def read_utf8(path: str | Path, what: str = "File") -> str:
    """The text of ``path`` (UTF-8, a BOM dropped); a non-UTF-8 file is an error naming it and the fix."""
    path = Path(path)
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{what} {str(path)!r} is not UTF-8 text (byte {e.start}: {e.reason}). Save the file as UTF-8, e.g. "
            f"iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}"
        ) from None


def split_lines(text: str) -> list[str]:
    """The lines of ``text`` as a file read line by line gives them: ``\\n``, ``\\r\\n`` or ``\\r`` ends a line, and a
    final line end starts no new line. Unlike ``str.splitlines``, a form feed, U+2028, U+0085 and the like inside a
    line stay in it (they would otherwise make more inputs than the file has lines)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if lines[-1] == "":
        lines.pop()
    return lines


@dataclass(frozen=True)
class Inputs:
    """The inputs of a file, each with the (1-based) line it came from; ``skipped``: empty lines/rows dropped."""

    texts: list[str]
    lines: list[int]
    skipped: list[int]


def some_lines(numbers: list[int], shown: int = 5) -> str:
    """``line 4`` / ``lines 2, 4`` / ``lines 2, 3, 4, 5, 6 and 3 more``."""
    head = ", ".join(str(n) for n in numbers[:shown])
    more = f" and {len(numbers) - shown} more" if len(numbers) > shown else ""
    return f"line{'s' if len(numbers) > 1 else ''} {head}{more}"


def read_inputs(path: str | Path, field: str = "text", skip_empty: bool = False) -> Inputs:
    """Inputs from ``path``, one per line (JSONL when the name ends in .jsonl/.json: one per object, its ``field``).

    An empty (or whitespace-only) input is an error naming the file and its lines, since dropping it would shift
    every later row against the lines; ``skip_empty=True`` drops such inputs instead (``Inputs.lines`` keeps each
    input's line). Blank lines between JSONL objects, and at the end of any file, are no rows and are skipped.
    Errors name the file and line.
    """
    path = Path(path)
    if not path.is_file():
        raise missing("Input file", path)
    lines = split_lines(read_utf8(path, "Input file"))
    jsonl = path.suffix.lower() in {".jsonl", ".json"}
    while lines and not lines[-1].strip():  # blank lines at the very end are no rows: rows still follow lines 1..n
        lines.pop()
    texts: list[str] = []
    numbers: list[int] = []
    empty: list[int] = []
    for n, line in enumerate(lines, 1):
        if jsonl:
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e.msg}); expected one object a line.") from None
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise ValueError(f"{path}:{n}: expected an object with a string field {field!r}, got {line[:80]!r}.")
            text = row[field]
        else:
            text = line
        if text.strip():
            texts.append(text)
            numbers.append(n)
        else:
            empty.append(n)
    if not texts:
        raise ValueError(f"Input file {str(path)!r} holds no non-empty inputs: write one input a line (or JSONL "
                         "with a 'text' field).")
    if empty and not skip_empty:
        count = len(empty)
        them = "them" if count > 1 else "it"
        if jsonl:
            what = f"{count} row{'s' if count > 1 else ''} with an empty {field!r} ({some_lines(empty)})"
            fix = (f"Fill in or remove {them}, or pass --skip-empty to drop {them} (rows then follow the rows with "
                   "text; a .jsonl or .parquet output names each row's line).")
        else:
            what = f"{count} empty line{'s' if count > 1 else ''} ({some_lines(empty)})"
            fix = (f"Remove {them}, or pass --skip-empty to drop {them} (rows then follow the non-empty lines; a "
                   ".jsonl or .parquet output names each row's line).")
        raise ValueError(f"Input file {str(path)!r} has {what}: an empty input has no meaningful embedding, and "
                         f"dropping it would shift every later row against the input. {fix}")
    return Inputs(texts, numbers, empty)


def read_texts(path: str | Path, field: str = "text", skip_empty: bool = False) -> list[str]:
    """The texts of :func:`read_inputs` (an empty input is an error unless ``skip_empty``)."""
    return read_inputs(path, field, skip_empty).texts

"""Reading user text inputs: a plain text file (one input a line) or JSONL with a ``text`` field."""

from __future__ import annotations

import json
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


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """Inputs from ``path``; JSONL when the name ends in .jsonl/.json. Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise missing("Input file", path)
    lines = read_utf8(path, "Input file").splitlines()
    if path.suffix.lower() not in {".jsonl", ".json"}:
        texts = [line for line in lines if line.strip()]
    else:
        texts = []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise ValueError(f"{path}:{n}: not valid JSON ({e.msg}); expected one object a line.") from None
            if not isinstance(row, dict) or not isinstance(row.get(field), str):
                raise ValueError(f"{path}:{n}: expected an object with a string field {field!r}, got {line[:80]!r}.")
            texts.append(row[field])
    if not texts:
        raise ValueError(f"Input file {str(path)!r} holds no non-empty inputs: write one input a line (or JSONL "
                         "with a 'text' field).")
    return texts

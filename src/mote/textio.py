"""Reading user text inputs: a plain text file (one input a line) or JSONL with a ``text`` field."""

from __future__ import annotations

import json
from pathlib import Path


def read_texts(path: str | Path, field: str = "text") -> list[str]:
    """Inputs from ``path``; JSONL when the name ends in .jsonl/.json. Errors name the file and line."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Input file {str(path)!r} does not exist.")
    lines = path.read_text(encoding="utf-8-sig").splitlines()
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
        raise ValueError(f"Input file {str(path)!r} holds no non-empty inputs.")
    return texts

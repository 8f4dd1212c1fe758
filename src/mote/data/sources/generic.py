"""Your own data: JSONL, CSV, Parquet or a Hugging Face dataset folder (``save_to_disk``) given by local
path, or a hub id when online, with a column mapping.

``columns`` maps our fields to your column names: pairs use ``anchor``, ``positive`` and optionally
``negatives`` (a list, or one text), ``score`` or ``label``; labelled texts use ``text`` and ``label`` (the
recipe builds contrastive examples from them). Without ``columns`` the fields are looked up by our names.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mote._errors import unknown_name
from mote.data.examples import Example, LabelledTexts, Pairs, Records
from mote.data.sources._read import DataFormatError, csv_rows, need_file
from mote.data.sources.base import Source
from mote.textio import read_utf8

FORMATS = ("auto", "jsonl", "csv", "parquet", "hf")
FIELDS = ("anchor", "positive", "negatives", "score", "label", "text")


def _format(path: Path, fmt: str) -> str:
    if fmt not in FORMATS:
        raise unknown_name("format", fmt, FORMATS)
    if fmt != "auto":
        return fmt
    if path.is_dir():
        return "hf"
    suffix = path.suffix.lower()
    by_suffix = {".jsonl": "jsonl", ".json": "jsonl", ".csv": "csv", ".tsv": "csv", ".parquet": "parquet"}
    if suffix not in by_suffix:
        raise ValueError(f"Cannot tell the format of {path} from its name; set format: one of {FORMATS[1:]}.")
    return by_suffix[suffix]


def _jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    for n, line in enumerate(read_utf8(need_file(path, "JSONL file"), "JSONL file").split("\n"), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise DataFormatError(path, n, f"one JSON object a line ({e.msg})", line) from None
        if not isinstance(row, dict):
            raise DataFormatError(path, n, "a JSON object", line)
        yield str(n), row


def _rows(path: Path, fmt: str, split: str, hub: str | None) -> Iterator[tuple[str, dict[str, Any]]]:
    if hub is not None:
        yield from _hub_rows(hub, split)
    elif fmt == "jsonl":
        yield from _jsonl(path)
    elif fmt == "csv":
        delimiter = "\t" if path.suffix.lower() == ".tsv" else ","
        if delimiter == "\t":
            with need_file(path, "TSV file").open(encoding="utf-8-sig", newline="") as f:
                reader = csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
                for row in reader:
                    yield str(reader.line_num), dict(row)
        else:
            for n, row in csv_rows(path, "CSV file", ()):
                yield str(n), row
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        for i, row in enumerate(pq.read_table(need_file(path, "Parquet file")).to_pylist()):
            yield f"row {i}", row
    else:
        yield from _hf_folder_rows(path, split)


def _hf_folder_rows(path: Path, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    from datasets import Dataset, DatasetDict, load_from_disk

    if not path.is_dir():
        raise FileNotFoundError(f"Missing Hugging Face dataset folder {path} (written by save_to_disk).")
    ds = load_from_disk(str(path))
    if isinstance(ds, DatasetDict):
        if split not in ds:
            raise unknown_name(f"split of {path}", split, list(ds))
        ds = ds[split]
    if not isinstance(ds, Dataset):
        raise TypeError(f"{path}: expected a Dataset or DatasetDict folder, got {type(ds).__name__}.")
    for i, row in enumerate(ds):
        yield f"row {i}", dict(row)


def _hub_rows(hub: str, split: str) -> Iterator[tuple[str, dict[str, Any]]]:
    if os.environ.get("HF_HUB_OFFLINE", "0").lower() in {"1", "true", "yes"}:
        raise ValueError(
            f"hub dataset {hub!r} requested but HF_HUB_OFFLINE is set; save it with save_to_disk and give its "
            "folder as path instead."
        )
    from datasets import load_dataset

    for i, row in enumerate(load_dataset(hub, split=split)):
        yield f"{hub} row {i}", dict(row)


def _text(row: Mapping[str, Any], col: str, where: tuple[Path | str, str]) -> str:
    if col not in row:
        raise DataFormatError(where[0], where[1], f"a column {col!r} (columns: {sorted(row)})")
    value = row[col]
    if value is None:
        return ""  # an empty text: dropped and counted by the recipe
    if not isinstance(value, str):
        raise DataFormatError(where[0], where[1], f"a string in column {col!r}", value)
    return value


def _label(row: Mapping[str, Any], col: str, where: tuple[Path | str, str]) -> str:
    raw = row.get(col)
    if raw is None or isinstance(raw, (list, dict)) or str(raw).strip() == "":
        raise DataFormatError(where[0], where[1], f"a label in column {col!r}", raw)
    return str(raw)


def _example(row: Mapping[str, Any], cols: Mapping[str, str], where: tuple[Path | str, str]) -> Example:
    negatives: tuple[str, ...] = ()
    if "negatives" in cols:
        value = row.get(cols["negatives"])
        value = [value] if isinstance(value, str) else value
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise DataFormatError(where[0], where[1], f"a list of strings in column {cols['negatives']!r}", value)
        negatives = tuple(value)
    score = None
    if "score" in cols:
        raw = row.get(cols["score"])
        try:
            score = float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise DataFormatError(where[0], where[1], f"a number in column {cols['score']!r}", raw) from None
    label = _label(row, cols["label"], where) if "label" in cols else None
    return Example(_text(row, cols["anchor"], where), _text(row, cols["positive"], where), negatives, score, label)


def read_generic(
    root: Path,
    split: str,
    *,
    format: str = "auto",
    columns: Mapping[str, str] | None = None,
    hub: str | None = None,
) -> Records:
    """Rows of a local file or dataset folder (``root`` is the dataset's path) or of a hub dataset."""
    cols = dict(columns or {})
    for key in cols:
        if key not in FIELDS:
            raise unknown_name("column-mapping field", key, FIELDS)
    fmt = "hf" if hub is not None else _format(root, format)
    labelled = "text" in cols
    first = True
    pairs, texts = Pairs([]), LabelledTexts([], [])
    for where, row in _rows(root, fmt, split, hub):
        if first and not cols:
            cols = {k: k for k in FIELDS if k in row}
            labelled = "text" in cols and "anchor" not in cols
        first = False
        loc = (hub or root, where)
        if labelled:
            if "label" not in cols:
                raise ValueError(f"{root}: labelled texts need a 'label' column mapping besides 'text'.")
            texts.texts.append(_text(row, cols["text"], loc))
            texts.labels.append(_label(row, cols["label"], loc))
        else:
            if "anchor" not in cols or "positive" not in cols:
                raise DataFormatError(
                    root, where, "columns anchor and positive (or text and label), or a columns mapping", sorted(row)
                )
            pairs.examples.append(_example(row, cols, loc))
    return texts if labelled else pairs


SOURCES: tuple[Source, ...] = (
    Source(
        "generic",
        read_generic,
        ".",
        "similarity",
        "Your JSONL / CSV / Parquet / HF dataset folder (path relative to data_root) or hub id; set task.",
        splits=("train", "validation", "test", "dev", "all"),
    ),
)

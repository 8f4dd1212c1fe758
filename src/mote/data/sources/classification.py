"""Classification sources: labelled texts (Banking77, Emotion, TweetEval, TREC, SST, SentEval binary sets).

The recipe turns labelled texts into contrastive examples (text, another text of its label, texts of
other labels as hard negatives) that carry the ``label`` used to mask in-batch false negatives.
"""

from __future__ import annotations

from pathlib import Path

from mote._errors import unknown_name
from mote.data import layout
from mote.data.examples import LabelledTexts
from mote.data.sources._read import DataFormatError, csv_rows, read_lines, split_tab
from mote.data.sources.base import Source


def read_banking77(root: Path, split: str) -> LabelledTexts:
    """Banking77 CSV ``text,category`` (texts may span lines, quoted)."""
    path = root / "banking_data" / f"{split}.csv"
    out = LabelledTexts([], [])
    for n, row in csv_rows(path, "Banking77 file", ("text", "category")):
        if not row["category"].strip():
            raise DataFormatError(path, n, "a non-empty category", row)
        out.texts.append(row["text"])
        out.labels.append(row["category"].strip())
    return out


def read_emotion(root: Path, split: str) -> LabelledTexts:
    """Emotion ``text;label_name`` with a header line (the label is after the last ';')."""
    path = root / "data" / "emotion" / f"{split}.txt"
    lines = read_lines(path, "Emotion file")
    if not lines or lines[0].strip() != "text;label_name":
        raise DataFormatError(path, 1, "the header 'text;label_name'", lines[:1])
    out = LabelledTexts([], [])
    for n, line in enumerate(lines[1:], 2):
        text, sep, label = line.rpartition(";")
        if not sep or not label.strip():
            raise DataFormatError(path, n, "'text;label_name'", line)
        out.texts.append(text)
        out.labels.append(label.strip())
    return out


TWEETEVAL_SUBSETS = layout.TWEETEVAL_SUBSETS


def tweeteval_rows(folder: Path, split: str, subset: str) -> tuple[list[str], list[str], dict[str, str]]:
    """TweetEval ``subset``: the texts, their label ids as published (``{split}_labels.txt``) and the id ->
    name mapping (``mapping.txt``). Read by the training source and the TweetEval evaluations."""
    if subset not in TWEETEVAL_SUBSETS:
        raise unknown_name("TweetEval subset", subset, TWEETEVAL_SUBSETS)
    where = folder / subset
    if split == "train" and not (where / "train_text.txt").is_file() and (where / "val_text.txt").is_file():
        raise ValueError(f"TweetEval {subset!r} has no train split (only val/test, which evaluations read).")
    mapping_path = where / "mapping.txt"
    mapping = {}
    for n, line in enumerate(read_lines(mapping_path, "TweetEval mapping file"), 1):
        f = split_tab(line, mapping_path, n, 2, "label id, label name")
        mapping[f[0].strip()] = f[1].strip()
    text_path, label_path = where / f"{split}_text.txt", where / f"{split}_labels.txt"
    texts = read_lines(text_path, "TweetEval text file")
    ids = read_lines(label_path, "TweetEval label file")
    if len(texts) != len(ids):
        raise DataFormatError(label_path, None, f"one label a line of {text_path.name} ({len(texts)} lines)", len(ids))
    for n, i in enumerate(ids, 1):
        if i.strip() not in mapping:
            raise DataFormatError(label_path, n, f"a label id of {mapping_path.name} {sorted(mapping)}", i)
    return texts, [i.strip() for i in ids], mapping


def read_tweeteval(root: Path, split: str, *, subset: str = "emotion") -> LabelledTexts:
    """TweetEval texts labelled by name (``mapping.txt``)."""
    texts, ids, mapping = tweeteval_rows(root, split, subset)
    return LabelledTexts(texts, [mapping[i] for i in ids])


def read_trec(root: Path, split: str, *, labels: str = "coarse") -> LabelledTexts:
    """SentEval TREC ``COARSE:fine question`` (ISO-8859-1). ``labels``: coarse (6) or fine (50)."""
    if labels not in ("coarse", "fine"):
        raise unknown_name("TREC label kind", labels, ("coarse", "fine"))
    path = root / layout.TREC_DIR / layout.TREC_FILES[split]
    out = LabelledTexts([], [])
    for n, line in enumerate(read_lines(path, "TREC file", encoding="latin-1"), 1):
        label, sep, text = line.partition(" ")
        if not sep or ":" not in label:
            raise DataFormatError(path, n, "'COARSE:fine question'", line)
        out.texts.append(text)
        out.labels.append(label if labels == "fine" else label.split(":", 1)[0])
    return out


SST_VARIANTS = ("binary", "fine")


def read_sst(root: Path, split: str, *, variant: str = "binary") -> LabelledTexts:
    """SentEval SST; ``variant``: binary (SST-2, ``sentence<TAB>label``) or fine (SST-5, ``label sentence``)."""
    if variant not in SST_VARIANTS:
        raise unknown_name("SST variant", variant, SST_VARIANTS)
    path = root / "SentEval" / "data" / "downstream" / "SST" / variant / f"sentiment-{split}"
    out = LabelledTexts([], [])
    for n, line in enumerate(read_lines(path, "SST file"), 1):
        if variant == "binary":
            text, label = split_tab(line, path, n, 2, "sentence, label")[:2]
        else:
            label, _, text = line.partition(" ")
        if not label.strip().isdigit():
            expected = "'sentence<TAB>label'" if variant == "binary" else "'label sentence'"
            raise DataFormatError(path, n, f"{expected} with an integer label", line)
        out.texts.append(text)
        out.labels.append(label.strip())
    return out


SENTEVAL_BINARY = {
    "MR": ("rt-polarity.pos", "rt-polarity.neg"),
    "CR": ("custrev.pos", "custrev.neg"),
    "SUBJ": ("subj.subjective", "subj.objective"),
    "MPQA": ("mpqa.pos", "mpqa.neg"),
}


def read_senteval_binary(root: Path, split: str, *, name: str = "MR") -> LabelledTexts:
    """SentEval MR / CR / SUBJ / MPQA: one sentence a line, one file per class; no split (``all``)."""
    if name not in SENTEVAL_BINARY:
        raise unknown_name("SentEval binary set", name, SENTEVAL_BINARY)
    del split  # the only split is "all"
    out = LabelledTexts([], [])
    for file in SENTEVAL_BINARY[name]:
        texts = read_lines(root / "SentEval" / "data" / "downstream" / name / file, f"SentEval {name} file", "latin-1")
        out.texts += texts
        out.labels += [file.rsplit(".", 1)[1]] * len(texts)
    return out


SOURCES: tuple[Source, ...] = (
    Source(
        "banking77",
        read_banking77,
        "banking77",
        "classification",
        "Banking77 intents (77 labels).",
        hard_negatives=1,
    ),
    Source(
        "emotion",
        read_emotion,
        "emotion",
        "classification",
        "Emotion (6 labels).",
        reserved={"val": "EmotionClassification (validation)"},
        hard_negatives=1,
    ),
    Source(
        "tweeteval",
        read_tweeteval,
        "tweeteval",
        "classification",
        "TweetEval emotion / hate / offensive (option subset); sentiment has no train split.",
        reserved={"val": "TweetEval (val: model selection)"},
        hard_negatives=1,
        eval_variants=tuple({"subset": s} for s in TWEETEVAL_SUBSETS),
    ),
    Source(
        "trec",
        read_trec,
        "senteval-trec",
        "classification",
        "TREC question types (option labels: coarse|fine).",
        hard_negatives=1,
    ),
    Source(
        "sst",
        read_sst,
        "senteval-sst",
        "classification",
        "SST sentiment (option variant: binary|fine).",
        reserved={"dev": "SST (dev: model selection)"},
        hard_negatives=1,
        eval_variants=tuple({"variant": v} for v in SST_VARIANTS),
    ),
    Source(
        "senteval-binary",
        read_senteval_binary,
        "senteval-mr-cr-subj-mpqa",
        "classification",
        "SentEval MR / CR / SUBJ / MPQA (option name); unsplit, evaluated by cross-validation.",
        splits=("all",),
        evaluation="SentEval binary (10-fold CV)",
        excluded_by="evaluate_senteval_cv",
        hard_negatives=1,
        eval_variants=tuple({"name": k} for k in SENTEVAL_BINARY),
    ),
)

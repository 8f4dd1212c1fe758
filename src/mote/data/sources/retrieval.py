"""Retrieval sources: query -> document pairs (the anchor takes the ``query`` route, the positive and
negatives the ``document`` route). SciFact claims -> abstracts, PubMedQA questions -> contexts, TREC-QA
questions -> correct answers (incorrect answers are hard negatives), 20 Newsgroups subject -> body."""

from __future__ import annotations

import ast
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from mote.data.examples import Example, Pairs
from mote.data.sources._read import DataFormatError, csv_rows, need_file, read_lines, split_tab
from mote.data.sources.base import Source
from mote.data.sources.clustering import newsgroups_posts

_STRING = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"', re.DOTALL)  # a quoted Python string
_BETWEEN = re.compile(r"[\s,\[\]]*")


def parse_sentence_list(value: str, path: Path, n: int) -> list[str]:
    """The sentences of a printed list of strings: ``['a' 'b']`` (numpy style) or ``['a', 'b']``."""
    value = value.strip()
    if not value.startswith("[") or not value.endswith("]"):
        raise DataFormatError(path, n, "an abstract printed as a list of sentences ['...' '...']", value)
    out, pos = [], 0
    for m in _STRING.finditer(value):
        if not _BETWEEN.fullmatch(value, pos, m.start()):
            raise DataFormatError(path, n, "only quoted sentences inside [...]", value[pos : m.start()])
        literal = m.group()
        if "\\" not in literal:
            out.append(literal[1:-1])
            pos = m.end()
            continue
        try:
            out.append(ast.literal_eval(literal))
        except (SyntaxError, ValueError) as e:
            raise DataFormatError(path, n, f"a valid quoted sentence ({e})", literal) from None
        pos = m.end()
    if not _BETWEEN.fullmatch(value, pos):
        raise DataFormatError(path, n, "only quoted sentences inside [...]", value[pos:])
    return out


# Row parsers read by the training readers below and the evaluation readers (mote.data.evaluations.retrieval).


def scifact_corpus(folder: Path, split: str = "train") -> dict[str, tuple[str, str]]:
    """SciFact abstracts (``csv/corpus_{split}.csv``): doc id -> (title as published, sentences joined by a space:
    BEIR's text). 18 titles end in a space; MTEB embeds them so."""
    path = folder / "csv" / f"corpus_{split}.csv"
    docs = {}
    for n, row in csv_rows(path, "SciFact corpus", ("doc_id", "title", "abstract")):
        docs[row["doc_id"].strip()] = (row["title"], " ".join(parse_sentence_list(row["abstract"], path, n)))
    return docs


def scifact_claims(folder: Path, split: str) -> dict[str, str]:
    """SciFact claims (``csv/claims_{split}.csv``, one row per claim and evidence document): id -> claim."""
    claims: dict[str, str] = {}
    for _, row in csv_rows(folder / "csv" / f"claims_{split}.csv", "SciFact claims", ("id", "claim")):
        claims.setdefault(row["id"].strip(), row["claim"])
    return claims


def scifact_qrels(folder: Path, split: str, claims: dict[str, str], docs: dict[str, tuple[str, str]]
                  ) -> list[tuple[str, str, int]]:
    """BEIR's SciFact qrels (``beir_qrels/{split}.tsv``): (claim id, doc id, relevance), each id checked."""
    path = folder / "beir_qrels" / f"{split}.tsv"
    rows = []
    for n, line in enumerate(read_lines(path, "SciFact BEIR qrels")[1:], 2):
        qid, did, score = (x.strip() for x in split_tab(line, path, n, 3, "query-id, corpus-id, score")[:3])
        if qid not in claims:
            raise DataFormatError(path, n, f"a query-id of claims_{split}.csv", qid)
        if did not in docs:
            raise DataFormatError(path, n, "a corpus-id of the SciFact corpus", did)
        if not score.isdigit():
            raise DataFormatError(path, n, "a relevance score 0, 1, 2, ...", score)
        rows.append((qid, did, int(score)))
    return rows


def read_scifact(root: Path, split: str) -> Pairs:
    """SciFact claims -> abstracts from the BEIR qrels (BEIR text: title + " " + " ".join(sentences))."""
    docs = scifact_corpus(root)
    claims = scifact_claims(root, split)
    out = Pairs([])
    for qid, did, score in scifact_qrels(root, split, claims, docs):
        if score > 0:
            title, text = docs[did]
            out.examples.append(Example(claims[qid], (title.strip() + " " + text).strip()))
        else:
            out.dropped["qrel with score 0"] += 1
    return out


def _pubmedqa_entry(path: Path, pmid: str, entry: Any) -> Example:
    if not isinstance(entry, dict) or not isinstance(entry.get("QUESTION"), str):
        raise DataFormatError(path, f"id {pmid}", "an object with a string QUESTION", entry)
    contexts = entry.get("CONTEXTS")
    if not isinstance(contexts, list) or not all(isinstance(c, str) for c in contexts):
        raise DataFormatError(path, f"id {pmid}", "CONTEXTS as a list of strings", contexts)
    return Example(entry["QUESTION"], " ".join(c.strip() for c in contexts))


def read_pubmedqa(root: Path, split: str) -> Pairs:
    """PubMedQA-L questions -> contexts. ``train``: the 500 ids not in ``test_ground_truth.json``."""
    data_path = root / "data" / "ori_pqal.json"
    data = json.loads(need_file(data_path, "PubMedQA data").read_text(encoding="utf-8"))
    test_path = root / "data" / "test_ground_truth.json"
    test_ids = set(json.loads(need_file(test_path, "PubMedQA test ids").read_text(encoding="utf-8")))
    if not isinstance(data, dict):
        raise DataFormatError(data_path, None, "an object keyed by PubMed id", type(data).__name__)
    unknown = sorted(test_ids - set(data))
    if unknown:
        raise DataFormatError(test_path, None, f"ids of {data_path.name}", unknown[:5])
    out = Pairs([])
    for pmid, entry in data.items():
        if (pmid in test_ids) == (split == "test"):
            out.examples.append(_pubmedqa_entry(data_path, pmid, entry))
        elif split == "train":
            out.dropped["PubMedQA test id (leakage rule 4)"] += 1
    return out


def trecqa_rows(folder: Path, split: str) -> list[tuple[str, int, str]]:
    """TREC-QA (Wang) ``data/anssel/wang/{split}.csv`` (qtext, label, atext): (question, 0/1, answer)."""
    path = folder / "data" / "anssel" / "wang" / f"{split}.csv"
    rows = []
    for n, row in csv_rows(path, "TREC-QA file", ("qtext", "label", "atext")):
        if row["label"].strip() not in {"0", "1"}:
            raise DataFormatError(path, n, "label 0 or 1", row["label"])
        rows.append((row["qtext"], int(row["label"]), row["atext"]))
    return rows


WIKIQA_HEADER = ("QuestionID", "Question", "DocumentID", "DocumentTitle", "SentenceID", "Sentence", "Label")


def wikiqa_rows(folder: Path, split: str) -> list[tuple[str, str, str, int]]:
    """WikiQA ``WikiQA-{split}.tsv``: (question id, question, candidate sentence, 0/1)."""
    path = folder / f"WikiQA-{split}.tsv"
    lines = read_lines(path, "WikiQA file")
    if not lines or tuple(lines[0].split("\t")) != WIKIQA_HEADER:
        raise DataFormatError(path, 1, f"the header {' TAB '.join(WIKIQA_HEADER)}", lines[:1])
    rows = []
    for n, line in enumerate(lines[1:], 2):
        f = split_tab(line, path, n, 7, "question id, question, doc id, title, sentence id, sentence, label")
        if f[6].strip() not in {"0", "1"}:
            raise DataFormatError(path, n, "label 0 or 1", f[6])
        rows.append((f[0], f[1], f[5], int(f[6])))
    return rows


def _answer_pairs(rows: list[tuple[str, int, str]]) -> Pairs:
    """Question -> each correct answer, the question's incorrect answers as hard negatives; questions
    without a correct answer are counted and unused."""
    right: dict[str, list[str]] = defaultdict(list)
    wrong: dict[str, list[str]] = defaultdict(list)
    for q, label, a in rows:
        (right if label == 1 else wrong)[q].append(a)
    out = Pairs([])
    for q, answers in right.items():
        out.examples += [Example(q, a, negatives=tuple(wrong.get(q, ()))) for a in answers]
    out.dropped["question without a correct answer"] += sum(1 for q in wrong if q not in right)
    return out


def read_trecqa(root: Path, split: str) -> Pairs:
    """TREC-QA question -> each correct answer, incorrect answers as hard negatives."""
    return _answer_pairs(trecqa_rows(root, split))


def read_wikiqa(root: Path, split: str) -> Pairs:
    """WikiQA question -> each correct sentence, the question's other candidates as hard negatives."""
    return _answer_pairs([(q, label, a) for _, q, a, label in wikiqa_rows(root, split)])


_QUOTE = re.compile(r"^\s*(>|\||in article\b)|(writes|wrote):\s*$", re.IGNORECASE)


def read_newsgroups_title_body(root: Path, split: str, *, max_chars: int = 2000) -> Pairs:
    """20 Newsgroups subject line -> post body (headers and quoted lines removed, cut at ``max_chars``)."""
    out = Pairs([])
    for post in newsgroups_posts(root, split):
        body = " ".join(line.strip() for line in post.body.split("\n") if not _QUOTE.search(line))
        out.examples.append(Example(post.subject, " ".join(body.split())[:max_chars]))
    return out


SOURCES: tuple[Source, ...] = (
    Source(
        "scifact",
        read_scifact,
        "scifact",
        "query",
        "SciFact train claims -> abstracts (BEIR train qrels).",
        positive_task="document",
        evaluation="SciFact",
        excluded_by="evaluate_scifact",
    ),
    Source(
        "pubmedqa",
        read_pubmedqa,
        "pubmedqa-labeled",
        "query",
        "PubMedQA-L questions -> contexts, the 500 test ids excluded.",
        positive_task="document",
        reserved={"test": "PubMedQA"},  # the published test ids, in no suite
    ),
    Source(
        "trecqa",
        read_trecqa,
        "trecqa-wang-anssel",
        "query",
        "TREC-QA question -> correct answer, incorrect answers as hard negatives.",
        positive_task="document",
        reserved={"test": "TrecQA"},  # the published test, in no suite (TrecQADev is scored)
        hard_negatives=1,
    ),
    Source(
        "wikiqa",
        read_wikiqa,
        "wikiqa",
        "query",
        "WikiQA dev (evaluation only: never trained on).",
        positive_task="document",
        splits=(),
    ),
    Source(
        "20newsgroups-title-body",
        read_newsgroups_title_body,
        "20newsgroups-bydate",
        "query",
        "20 Newsgroups subject line -> post body.",
        positive_task="document",
        eval_variants=(),  # the evaluation reads subject lines: the 20newsgroups source puts them in the pool
    ),
)

"""Readers for retrieval (SciFact) and answer-selection reranking (TREC-QA, WikiQA) data.

Each returns a :class:`RetrievalData` of plain dicts, the shape of MTEB's retrieval split: a corpus, the
queries, graded relevance (qrels) and, for reranking, each query's candidate list.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from mote.data.evaluations._files import DataFormatError, read_csv, read_tsv


@dataclass(frozen=True)
class RetrievalData:
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance}
    top_ranked: dict[str, list[str]] | None = None  # query id -> candidate doc ids (reranking only)


def parse_sentence_list(value: str) -> list[str]:
    """Sentences of a SciFact abstract stored as a printed numpy array: ``['s1'\\n 's2' ...]``.

    The elements are Python string literals separated by whitespace (no commas), so they are read token
    by token; ``ast.literal_eval`` on the whole value would glue adjacent literals together.
    """
    tokens = tokenize.generate_tokens(io.StringIO(value).readline)
    out = [ast.literal_eval(t.string) for t in tokens if t.type == tokenize.STRING]
    if not out and value.strip() not in {"[]", ""}:
        raise DataFormatError(f"Could not read a sentence list from {value[:80]!r}.")
    return [str(s) for s in out]


def read_scifact(root: Path, split: str = "train") -> RetrievalData:
    """SciFact claims, abstracts and BEIR qrels; a document is its title and its abstract sentences.

    MTEB (BEIR) joins the abstract sentences with a space and embeds ``title + " " + text``.
    """
    folder = root / "scifact"
    corpus = {}
    for row in read_csv(folder / "csv" / f"corpus_{split}.csv"):
        corpus[row["doc_id"]] = (row["title"], " ".join(parse_sentence_list(row["abstract"])))
    queries: dict[str, str] = {}
    for row in read_csv(folder / "csv" / f"claims_{split}.csv"):
        queries.setdefault(row["id"], row["claim"])  # one row per (claim, evidence document)
    qrels: dict[str, dict[str, int]] = {}
    rows = read_tsv(folder / "beir_qrels" / f"{split}.tsv")
    for qid, did, score in rows[1:]:
        if did not in corpus:
            raise DataFormatError(f"SciFact qrels name document {did!r}, which is not in the corpus.")
        qrels.setdefault(qid, {})[did] = int(score)
    return RetrievalData(corpus, {q: t for q, t in queries.items() if q in qrels}, qrels)


def _answer_selection(groups: OrderedDict[str, tuple[str, list[tuple[str, int]]]], prefix: str) -> RetrievalData:
    """Questions with candidate answers -> reranking data. Like MTEB's reranking loader, a question is
    kept only when it has at least one correct and one wrong candidate."""
    corpus: dict[str, tuple[str, str]] = {}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    top: dict[str, list[str]] = {}
    for n, (question, cands) in enumerate(groups.values()):
        labels = {label for _, label in cands}
        if labels != {0, 1}:
            continue
        qid = f"{prefix}-q{n}"
        queries[qid] = question
        top[qid] = []
        for i, (answer, label) in enumerate(cands):
            did = f"{qid}-a{i}"
            corpus[did] = ("", answer)
            top[qid].append(did)
            if label:
                qrels.setdefault(qid, {})[did] = 1
    return RetrievalData(corpus, queries, qrels, top)


def read_trecqa(root: Path, split: str = "dev") -> RetrievalData:
    """TREC-QA (Wang et al. 2007, Yao et al. 2013 form): CSV ``qtext,label,atext``, grouped by question."""
    path = root / "trecqa-wang-anssel" / "data" / "anssel" / "wang" / f"{split}.csv"
    groups: OrderedDict[str, tuple[str, list[tuple[str, int]]]] = OrderedDict()
    for row in read_csv(path):
        groups.setdefault(row["qtext"], (row["qtext"], []))[1].append((row["atext"], int(row["label"])))
    return _answer_selection(groups, f"trecqa-{split}")


def read_wikiqa(root: Path, split: str = "dev") -> RetrievalData:
    """WikiQA TSV: QuestionID, Question, DocumentID, DocumentTitle, SentenceID, Sentence, Label."""
    path = root / "wikiqa" / f"WikiQA-{split}.tsv"
    rows = read_tsv(path)
    if rows[0][:2] != ["QuestionID", "Question"]:
        raise DataFormatError(f"{path}: unexpected header {rows[0]}.")
    groups: OrderedDict[str, tuple[str, list[tuple[str, int]]]] = OrderedDict()
    for row in rows[1:]:
        groups.setdefault(row[0], (row[1], []))[1].append((row[5], int(row[6])))
    return _answer_selection(groups, f"wikiqa-{split}")

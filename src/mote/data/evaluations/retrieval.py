"""Evaluation readers for retrieval (SciFact) and answer-selection reranking (TREC-QA, WikiQA), on the row
parsers the training sources use (:mod:`mote.data.sources.retrieval`).

Each returns a :class:`RetrievalData` of plain dicts, the shape of MTEB's retrieval split: a corpus, the
queries, graded relevance (qrels) and, for reranking, each query's candidate list.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from mote.data.sources import retrieval as src


@dataclass(frozen=True)
class RetrievalData:
    corpus: dict[str, tuple[str, str]]  # doc id -> (title, text)
    queries: dict[str, str]  # query id -> text
    qrels: dict[str, dict[str, int]]  # query id -> {doc id: relevance}
    top_ranked: dict[str, list[str]] | None = None  # query id -> candidate doc ids (reranking only)


def read_scifact(root: Path, split: str = "train") -> RetrievalData:
    """SciFact claims, abstracts and BEIR qrels; a document is its title and its abstract sentences.

    MTEB (BEIR) joins the abstract sentences with a space and embeds ``title + " " + text``.
    """
    folder = root / "scifact"
    corpus = src.scifact_corpus(folder, split)
    claims = src.scifact_claims(folder, split)
    qrels: dict[str, dict[str, int]] = {}
    for qid, did, score in src.scifact_qrels(folder, split, claims, corpus):
        qrels.setdefault(qid, {})[did] = score
    return RetrievalData(corpus, {q: t for q, t in claims.items() if q in qrels}, qrels)


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


def _groups(rows: list[tuple[str, str, str, int]]) -> OrderedDict[str, tuple[str, list[tuple[str, int]]]]:
    groups: OrderedDict[str, tuple[str, list[tuple[str, int]]]] = OrderedDict()
    for key, question, answer, label in rows:
        groups.setdefault(key, (question, []))[1].append((answer, label))
    return groups


def read_trecqa(root: Path, split: str = "dev") -> RetrievalData:
    """TREC-QA (Wang et al. 2007, Yao et al. 2013 form), grouped by question text."""
    rows = src.trecqa_rows(root / "trecqa-wang-anssel", split)
    return _answer_selection(_groups([(q, q, a, label) for q, label, a in rows]), f"trecqa-{split}")


def read_wikiqa(root: Path, split: str = "dev") -> RetrievalData:
    """WikiQA answer sentence selection, grouped by question id."""
    return _answer_selection(_groups(src.wikiqa_rows(root / "wikiqa", split)), f"wikiqa-{split}")

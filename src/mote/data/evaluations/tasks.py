"""Every evaluation task the shared data supports, declared once: its source folder, the split it scores, its
reader, and the named suites grouping the tasks. Plain data (no mteb import): training reads it too, for the
leakage pool (:mod:`mote.data.leakage`: no training row may hold a text an evaluation scores) and for telling
in-domain from unseen tasks; :mod:`mote.evaluate` turns each :class:`TaskDef` into an MTEB task.

``mteb-lite`` holds the nine tasks whose data is MTEB's own (scores compare with the leaderboard);
``extended`` adds tasks built from other public datasets, evaluated with MTEB's evaluators.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from mote.data.evaluations import classification as cls
from mote.data.evaluations import pairs_clusters as pc
from mote.data.evaluations import retrieval as ret
from mote.data.evaluations import sts


@dataclass(frozen=True)
class TaskDef:
    """One evaluation task: where its data lives and how it becomes an MTEB task.

    ``mteb_name`` set: the data is that MTEB task's dataset and the class derives from MTEB's; the
    task keeps MTEB's name and metadata, except ``split`` when given (SciFact is scored on ``train``).
    Otherwise the task is ours, built on MTEB's abstract class for ``type``.
    """

    name: str
    type: str
    source: str  # folder under data_root
    split: str
    reader: Callable[[Path], Any]  # data_root -> columns per split, or RetrievalData
    mteb_name: str | None = None
    description: str = ""
    reference: str | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)  # evaluator settings (class attributes)
    held_split: str | None = None  # the training source's name for ``split`` where it differs (STS12: "sts12")
    source_options: Mapping[str, Any] = field(default_factory=dict)  # the source's options reading the same subset

    @property
    def source_split(self) -> str:
        """The split this task scores, named as the training sources of its folder name it: held out from
        training by this declaration alone (:meth:`mote.data.sources.base.Source.held_out`)."""
        return self.held_split or self.split

    @property
    def mteb_identical(self) -> bool:
        return self.mteb_name is not None

    def scored_texts(self, data_root: str | Path) -> Iterator[str]:
        """Every text this task embeds to score its split: both sentences of its pairs, the examples of its
        evaluation split, its clustering texts, its queries and documents (a document as MTEB embeds it,
        ``title + " " + text``, and its text alone). What the leakage pool must hold."""
        return _texts(self.reader(Path(data_root)), self.split)


def _texts(data: Any, split: str) -> Iterator[str]:
    if isinstance(data, ret.RetrievalData):
        yield from data.queries.values()
        for title, text in data.corpus.values():
            yield text
            if title:
                yield f"{title} {text}"
        return
    if isinstance(data.get(split), Mapping):  # classification: {split: columns}
        data = data[split]
    for column in ("sentence1", "sentence2", "text", "sentences"):
        yield from data.get(column, ())



# Our classification tasks: MTEB's probe (logistic regression, 10 experiments) with 16 training examples per
# label, as MTEB's EmotionClassification (the closest MTEB analogue: tweets, few labels) uses.
_CLS = {"samples_per_label": 16}
# Our clustering tasks: embed every text, then MTEB's bootstrapped mini-batch k-means (10 draws of 4,096).
_CLU = {"max_fraction_of_documents_to_embed": None, "max_document_to_embed": None, "max_documents_per_cluster": 4096}

_MTEB_LITE: tuple[TaskDef, ...] = (
    TaskDef("STSBenchmark", "STS", "stsbenchmark", "test", sts.read_stsbenchmark, mteb_name="STSBenchmark"),
    TaskDef("SICK-R", "STS", "sick2014", "test", sts.read_sick, mteb_name="SICK-R"),
    TaskDef("STS12", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2012), mteb_name="STS12",
            held_split="sts12"),
    TaskDef("STS13", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2013), mteb_name="STS13",
            held_split="sts13"),
    TaskDef("STS14", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2014), mteb_name="STS14",
            held_split="sts14"),
    TaskDef("STS15", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2015), mteb_name="STS15",
            held_split="sts15"),
    TaskDef(
        "Banking77Classification",
        "Classification",
        "banking77",
        "test",
        cls.read_banking77,
        mteb_name="Banking77Classification",
    ),
    TaskDef(
        "EmotionClassification",
        "Classification",
        "emotion",
        "test",
        cls.read_emotion,
        mteb_name="EmotionClassification",
    ),
    TaskDef("SciFact", "Retrieval", "scifact", "train", ret.read_scifact, mteb_name="SciFact"),
)

_EXTENDED_ONLY: tuple[TaskDef, ...] = (
    *(
        TaskDef(
            f"TweetEval{sub.capitalize()}",
            "Classification",
            "tweeteval",
            "test",
            partial(cls.read_tweeteval, subtask=sub),
            source_options={"subset": sub},
            attrs=_CLS,
            description=f"TweetEval {sub} tweet classification.",
            reference="https://aclanthology.org/2020.findings-emnlp.148",
        )
        for sub in cls.TWEETEVAL_CLASSIFICATION
    ),
    TaskDef(
        "TRECQuestionType",
        "Classification",
        "senteval-trec",
        "test",
        cls.read_trec,
        attrs=_CLS,
        description="TREC question classification, 6 coarse classes.",
        reference="https://aclanthology.org/C02-1150",
    ),
    TaskDef(
        "SST2",
        "Classification",
        "senteval-sst",
        "test",
        cls.read_sst2,
        attrs=_CLS,
        description="Stanford Sentiment Treebank, binary sentence polarity.",
        reference="https://aclanthology.org/D13-1170",
    ),
    TaskDef(
        "MRPC",
        "PairClassification",
        "mrpc",
        "test",
        pc.read_mrpc,
        description="Microsoft Research Paraphrase Corpus.",
        reference="https://aclanthology.org/I05-5002",
    ),
    TaskDef(
        "TwitterPIT2015Dev",
        "PairClassification",
        "twitter-pit2015",
        "dev",
        pc.read_twitter_pit,
        description="SemEval-2015 PIT tweet paraphrases, dev set; debatable (2,3) votes dropped.",
        reference="https://aclanthology.org/S15-2001",
    ),
    TaskDef(
        "TrecQADev",
        "Reranking",
        "trecqa-wang-anssel",
        "dev",
        partial(ret.read_trecqa, split="dev"),
        description="TREC-QA answer sentence selection, dev questions with a correct and a wrong answer.",
        reference="https://aclanthology.org/D07-1003",
    ),
    TaskDef(
        "WikiQADev",
        "Reranking",
        "wikiqa",
        "dev",
        partial(ret.read_wikiqa, split="dev"),
        description="WikiQA answer sentence selection, dev questions with a correct and a wrong answer.",
        reference="https://aclanthology.org/D15-1237",
    ),
    TaskDef(
        "STC2StackOverflow",
        "Clustering",
        "stc2-short-text-clustering",
        "test",
        partial(pc.read_stc2, name="StackOverflow"),
        held_split="all",  # built from the whole published set
        attrs=_CLU,
        description="20,000 StackOverflow question titles in 20 tags.",
        reference="https://github.com/jacoxu/STC2",
    ),
    TaskDef(
        "STC2SearchSnippets",
        "Clustering",
        "stc2-short-text-clustering",
        "test",
        partial(pc.read_stc2, name="SearchSnippets"),
        held_split="all",  # built from the whole published set
        attrs=_CLU,
        description="12,340 web search snippets in 8 domains.",
        reference="https://github.com/jacoxu/STC2",
    ),
    TaskDef(
        "TwentyNewsgroupsSubjects",
        "Clustering",
        "20newsgroups-bydate",
        "test",
        pc.read_20newsgroups_subjects,
        attrs=_CLU,
        description="Subject lines of the 7,532 by-date test posts, 20 newsgroups.",
        reference="http://qwone.com/~jason/20Newsgroups/",
    ),
)

TASKS: dict[str, TaskDef] = {t.name: t for t in (*_MTEB_LITE, *_EXTENDED_ONLY)}
SUITES: dict[str, tuple[str, ...]] = {
    "mteb-lite": tuple(t.name for t in _MTEB_LITE),
    "extended": tuple(t.name for t in (*_MTEB_LITE, *_EXTENDED_ONLY)),
}



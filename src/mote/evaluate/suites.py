"""The evaluation suites: every task we can run on the shared data, and the named suites that group them.

``mteb-lite`` holds the nine tasks whose data is MTEB's own (scores compare with the leaderboard);
``extended`` adds tasks built from other public datasets, evaluated with MTEB's evaluators.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from mote._errors import unknown_name
from mote.evaluate.local_tasks import TaskDef
from mote.evaluate.sources import classification as cls
from mote.evaluate.sources import pairs_clusters as pc
from mote.evaluate.sources import retrieval as ret
from mote.evaluate.sources import sts

# Our classification tasks: MTEB's probe (logistic regression, 10 experiments) with 16 training examples per
# label, as MTEB's EmotionClassification (the closest MTEB analogue: tweets, few labels) uses.
_CLS = {"samples_per_label": 16}
# Our clustering tasks: embed every text, then MTEB's bootstrapped mini-batch k-means (10 draws of 4,096).
_CLU = {"max_fraction_of_documents_to_embed": None, "max_document_to_embed": None, "max_documents_per_cluster": 4096}

_MTEB_LITE: tuple[TaskDef, ...] = (
    TaskDef("STSBenchmark", "STS", "stsbenchmark", "test", sts.read_stsbenchmark, mteb_name="STSBenchmark"),
    TaskDef("SICK-R", "STS", "sick2014", "test", sts.read_sick, mteb_name="SICK-R"),
    TaskDef("STS12", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2012), mteb_name="STS12"),
    TaskDef("STS13", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2013), mteb_name="STS13"),
    TaskDef("STS14", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2014), mteb_name="STS14"),
    TaskDef("STS15", "STS", "sts12-16", "test", partial(sts.read_sts_year, year=2015), mteb_name="STS15"),
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


def _lookup(kind: str, value: str, allowed: Sequence[str], fix: str) -> str:
    if value in allowed:
        return value
    folded = {a.lower(): a for a in allowed}
    if value.lower() in folded:
        return folded[value.lower()]
    raise unknown_name(kind, value, allowed, fix)


def select_tasks(
    suite: str, tasks: Sequence[str] | None = None, task_types: Sequence[str] | None = None
) -> list[TaskDef]:
    """Tasks of ``suite`` in suite order, restricted to ``tasks`` names and/or ``task_types``.

    Unknown names raise ``ValueError`` listing the valid ones with a did-you-mean suggestion.
    """
    if suite not in SUITES:
        raise unknown_name("suite", suite, SUITES, "Pass one of these as suite (--suite).")
    members = [TASKS[n] for n in SUITES[suite]]
    names = [t.name for t in members]
    types = list(dict.fromkeys(t.type for t in members))
    keep = set(names)
    if tasks:
        fix = f"Restrict to tasks of suite {suite!r}; use suite 'extended' for the others."
        keep &= {_lookup("task", n, names, fix) for n in tasks}
    if task_types:
        wanted = {
            _lookup("task type", t, types, f"Task types of suite {suite!r} are listed above.") for t in task_types
        }
        keep &= {t.name for t in members if t.type in wanted}
    chosen = [t for t in members if t.name in keep]
    if not chosen:
        raise ValueError(
            f"No task of suite {suite!r} matches tasks={list(tasks or [])} and task_types={list(task_types or [])}; "
            "drop one of the filters or make them agree."
        )
    return chosen

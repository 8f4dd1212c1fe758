"""Both faces of the dataset layer read the shared files the same way before and after a refactor: the
fingerprint of what every evaluation task's reader returns (all splits, labels, scores, corpus, qrels) and of the
records every training source yields (each split, each evaluated option set, with the dropped-row counts). A
change here changes what mote trains on or scores: bump DATA_VERSION (training rows) or say in the note why
the scores moved, then record the new fingerprint."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from mote.data.evaluations.retrieval import RetrievalData
from mote.data.evaluations.tasks import TASKS
from mote.data.sources import SOURCES

# recorded on commit f1d315a (before the two reader stacks became one)
EVALUATION = {
    'STSBenchmark': '352b3a753cdc',
    'SICK-R': '577aa309ad65',
    'STS12': 'c0f749c34102',
    'STS13': 'd133bc37a8f4',
    'STS14': 'd72c32762821',
    'STS15': '1baeba313306',
    'Banking77Classification': '28952d5fcb96',
    'EmotionClassification': 'fc8bd8ea8557',
    'SciFact': 'ebd3b3fe37dc',
    'TweetEvalEmotion': 'e2bc87981a0f',
    'TweetEvalHate': '34369db51d2f',
    'TweetEvalOffensive': '5878041d4d91',
    'TRECQuestionType': 'ac74622eaf3a',
    'SST2': '0d9148eeab2e',
    'MRPC': '8ce2fac8a686',
    'TwitterPIT2015Dev': 'cfba28f0d67c',
    'TrecQADev': '33f1a857f046',
    'WikiQADev': 'ce587de3a242',
    'STC2StackOverflow': '5eff326fcba9',
    'STC2SearchSnippets': 'eb135f1183c6',
    'TwentyNewsgroupsSubjects': '463a46fffc64',
}
TRAINING = {
    'scifact:train:{}': '41ba1787536f',
    'pubmedqa:train:{}': '00e148d8f4ce',
    'pubmedqa:test:{}': 'c86050c1a4a8',
    'trecqa:train:{}': 'b93428b810ae',
    'trecqa:dev:{}': 'ed099e589488',
    'trecqa:test:{}': '134c1d53bca9',
    'wikiqa:dev:{}': 'ee605e92c6ba',  # f1d315a: 5d24f8f39d77; same examples, the count of questions without a correct answer (0) added
    '20newsgroups-title-body:train:{}': '0e8314b3e8d8',
    '20newsgroups-title-body:test:{}': '4ec8ffacb86b',
    'stsb:train:{}': 'a7fac61d6ffb',
    'stsb:dev:{}': 'f1bfb44ff376',
    'stsb:test:{}': 'e65d0ded63fb',
    'sick:train:{}': 'dcc1f879d109',
    'sick:trial:{}': 'df73829157f2',
    'sick:test:{}': '7f6fd07b4a1c',
    'sts12-16:train:{}': '5df491de8243',
    'sts12-16:sts12:{}': 'fcc4ccdbffcf',
    'sts12-16:sts13:{}': '54742aadc0eb',
    'sts12-16:sts14:{}': '06f7958f791d',
    'sts12-16:sts15:{}': 'e089a4a95e9a',
    'sts12-16:sts16:{}': 'e1e82974025a',
    'snli:dev:{}': '2754601fd63f',
    'snli:test:{}': '691ef62680b9',
    'flickr8k:train:{}': 'd515d05bb7e9',
    'flickr8k:all:{}': '53502d0692bd',
    'twitter-pit:dev:{}': '6b254508f5e5',
    'mrpc:train:{}': 'd167956b8657',
    'mrpc:val:{}': 'ea79e9cc9304',
    'mrpc:test:{}': '8b5c224e3678',
    'banking77:train:{}': '8954ae0789a6',
    'banking77:test:{}': '7dd04258cbb5',
    'emotion:train:{}': '9ad3543a6ffc',
    'emotion:val:{}': '7524fa8c76aa',
    'emotion:test:{}': 'b69d493a289d',
    'tweeteval:train:{"subset": "emotion"}': 'b70bcf5d788e',
    'tweeteval:val:{"subset": "emotion"}': 'c4a97b146246',
    'tweeteval:test:{"subset": "emotion"}': '0c8d007f9e88',
    'tweeteval:train:{"subset": "hate"}': '6fe6ac6f2578',
    'tweeteval:val:{"subset": "hate"}': '6c61a7174860',
    'tweeteval:test:{"subset": "hate"}': '506aab7cbafc',
    'tweeteval:train:{"subset": "offensive"}': 'e518b2097193',
    'tweeteval:val:{"subset": "offensive"}': '71c941633bb5',
    'tweeteval:test:{"subset": "offensive"}': 'c99ae8967668',
    'tweeteval:train:{"subset": "sentiment"}': 'error ValueError',
    'tweeteval:val:{"subset": "sentiment"}': '9b1ab75ee859',
    'tweeteval:test:{"subset": "sentiment"}': '3d3b5b84ee72',
    'trec:train:{}': 'd54f3bd45bcb',
    'trec:test:{}': '7b44082904f1',
    'sst:train:{"variant": "binary"}': 'b35d305dee66',
    'sst:dev:{"variant": "binary"}': '88fcaadfee56',
    'sst:test:{"variant": "binary"}': '1aaede43deb0',
    'sst:train:{"variant": "fine"}': '37600514f8b8',
    'sst:dev:{"variant": "fine"}': 'ec92dc8bfaa1',
    'sst:test:{"variant": "fine"}': '6db50b6a9af3',
    'senteval-binary:all:{"name": "MR"}': 'e84ec3939f6c',
    'senteval-binary:all:{"name": "CR"}': 'f323825cce61',
    'senteval-binary:all:{"name": "SUBJ"}': '76f0b3df33a2',
    'senteval-binary:all:{"name": "MPQA"}': '60a8bf4ea5e0',
    '20newsgroups:train:{}': 'da9b6583a053',
    '20newsgroups:test:{}': '2235b706090e',
    'stackoverflow:all:{}': 'fbb7a6465c19',
    'searchsnippets:all:{}': '428134e1f510',
}


def _digest(obj: object) -> str:
    return hashlib.sha256(repr(obj).encode()).hexdigest()[:12]


def _evaluation_digest(data: object) -> str:
    if isinstance(data, RetrievalData):
        return _digest((sorted(data.corpus.items()), sorted(data.queries.items()),
                        sorted((q, sorted(d.items())) for q, d in data.qrels.items()),
                        None if data.top_ranked is None else sorted(data.top_ranked.items())))
    return _digest(data)


@pytest.mark.shared_data
def test_every_evaluation_task_reads_what_it_read_before(shared_data: Path) -> None:
    got = {name: _evaluation_digest(task.reader(shared_data)) for name, task in TASKS.items()}
    assert got == EVALUATION


@pytest.mark.shared_data
def test_every_training_source_yields_the_records_it_yielded_before(shared_data: Path) -> None:
    got = {}
    for name, source in SOURCES.items():
        if name == "generic":  # the user's own files: tested in test_data_sources
            continue
        for options in source.eval_variants or ({},):
            for split in (*source.splits, *source.held_out()):
                key = f"{name}:{split}:{json.dumps(options, sort_keys=True)}"
                try:
                    got[key] = _digest(source.read(shared_data / source.path, split, **options))
                except ValueError as e:  # e.g. TweetEval sentiment has no train split
                    got[key] = f"error {type(e).__name__}"
    assert got == TRAINING

"""Where the shared datasets keep their splits and subsets: one table per source, read by the training
readers (:mod:`mote.data.sources`) and the evaluation readers (:mod:`mote.data.evaluations`) alike, so the two
never disagree on which file a split is (paths are relative to the source's folder under data_root)."""

from __future__ import annotations

# SemEval STS 2012-2016 (sts12-16/): split -> folder under data/downstream/STS/; sts12..sts16 are the test sets
STS_DIR = "data/downstream/STS"
STS_SPLITS = {
    "train": "STS12-en-train/STS2012-train",
    "sts12": "STS12-en-test/test-gold",
    "sts13": "STS13-en-test/test-gs",
    "sts14": "STS14-en-test/sts-en-test-gs-2014",
    "sts15": "STS15-en-test/test_evaluation_task2a",
    "sts16": "STS16-en-test/sts2016-english-with-gs-v1.0",
}

# SICK 2014 (sick2014/): split -> file under data/sts/sick2014/; SICK-R scores all three
SICK_DIR = "data/sts/sick2014"
SICK_FILES = {"train": "SICK_train.txt", "trial": "SICK_trial.txt", "test": "SICK_test_annotated.txt"}

# SentEval TREC (senteval-trec/): split -> file under SentEval/data/downstream/TREC/
TREC_DIR = "SentEval/data/downstream/TREC"
TREC_FILES = {"train": "train_5500.label", "test": "TREC_10.label"}

# TweetEval (tweeteval/): every subset a training reader accepts; the evaluated ones (sentiment has no train
# split, so no few-shot classifier: not an evaluation task)
TWEETEVAL_SUBSETS = ("emotion", "hate", "offensive", "sentiment")
TWEETEVAL_EVALUATED = ("emotion", "hate", "offensive")

# MRPC (mrpc/): split -> file under data/para/msr/
MRPC_FILES = {split: f"data/para/msr/msr-para-{split}.tsv" for split in ("train", "val", "test")}

"""Every source reader on tiny files in the published formats (quirks included), and bad-input errors."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mote.data.examples import LabelledTexts, Pairs
from mote.data.sources import SOURCES, DataFormatError, get_source
from mote.data.sources.retrieval import parse_sentence_list

sys.path.insert(0, str(Path(__file__).parent))
from data_fixtures import make_data_root


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_data_root(tmp_path_factory.mktemp("data"))


def load(root: Path, name: str, split: str = "train", /, **options: object) -> Pairs | LabelledTexts:
    source = get_source(name)
    return source.load(root / source.path, split, options)


def pairs(root: Path, name: str, split: str = "train", /, **options: object) -> Pairs:
    out = load(root, name, split, **options)
    assert isinstance(out, Pairs)
    return out


def texts(root: Path, name: str, split: str = "train", /, **options: object) -> LabelledTexts:
    out = load(root, name, split, **options)
    assert isinstance(out, LabelledTexts)
    return out


def test_stsb_extra_trailing_fields_and_quotes_kept_verbatim(root: Path) -> None:
    p = pairs(root, "stsb")
    assert len(p.examples) == 6
    assert p.examples[1].anchor == 'A man plays a "large" flute.'  # QUOTE_NONE: quotes are text
    assert p.examples[2].positive == "Driver backs into mom"  # 9-field line: the extra fields are ignored
    assert p.examples[0].score == 1.0 and p.examples[3].score == pytest.approx(0.2)


def test_sts_blank_gold_lines_dropped_and_counted(root: Path) -> None:
    assert [e.score for e in pairs(root, "sts12-16").examples] == [pytest.approx(0.96), pytest.approx(0.1)]
    p15 = pairs(root, "sts12-16", "sts15")
    assert [e.anchor for e in p15.examples] == ["Two dogs play.", "A red car."]
    assert p15.dropped["unscored pair (blank gold line)"] == 1
    p16 = pairs(root, "sts12-16", "sts16")
    assert [(e.anchor, e.positive) for e in p16.examples] == [("Rain in Spain.", "Spain gets rain.")]  # 4 columns
    assert pairs(root, "sts12-16", "sts13").dropped["gold file without input (STS.gs.SMT.txt)"] == 2
    assert "gold file without input (STS.gs.ALL.txt)" not in pairs(root, "sts12-16", "sts12").dropped


def test_sick_scores_rescaled_and_crlf(root: Path) -> None:
    test = pairs(root, "sick", "test").examples
    assert test[0].positive == "A dog is running" and test[0].score == pytest.approx(0.75)


def test_flickr_first_line_space_and_train_images(root: Path) -> None:
    p = pairs(root, "flickr8k", pairs_per_image=2)
    assert ("A dog runs on the grass .", "A brown dog is running .") in [(e.anchor, e.positive) for e in p.examples]
    assert len(p.examples) == 4  # image a: 2 pairs, b: 1, c: 1; image d is not a train image
    assert p.dropped["caption of a non-train image"] == 2
    assert len(pairs(root, "flickr8k", "all", pairs_per_image=1).examples) == 4


def test_snli_triplets(root: Path) -> None:
    p = pairs(root, "snli", "dev")
    assert [(e.anchor, e.positive, e.negatives) for e in p.examples] == [
        ("Two women are embracing .", "Two women hug .", ("Two men fight .",)),
        ("A man is playing a guitar .", "A man plays music .", ("A man sleeps .",)),
    ]
    assert p.dropped["neutral pair (unused)"] == 1
    assert p.dropped["contradiction whose premise has no entailment (unused)"] == 1


def test_twitter_pit_discards_debatable_votes(root: Path) -> None:
    p = pairs(root, "twitter-pit", "dev")
    assert [(e.positive, e.negatives) for e in p.examples] == [
        ("A Walk to Remember rocks", ("Walk to Remember is on TV",)),
        ("Gosling arrived", ()),
    ]
    assert p.dropped["debatable votes (2, 3)"] == 1


def test_mrpc_bom_header_and_paraphrases(root: Path) -> None:
    p = pairs(root, "mrpc")
    assert [(e.anchor, e.positive) for e in p.examples] == [('He said "hi".', "He greeted us.")]
    assert p.dropped["non-paraphrase pair (unused)"] == 1


def test_classification_readers(root: Path) -> None:
    bank = texts(root, "banking77")
    assert "\nMy card\nis lost" in bank.texts and bank.labels[1] == "lost_card"  # quoted multi-line text
    emo = texts(root, "emotion")
    assert emo.texts[0] == "i feel happy; really" and emo.labels[0] == "joy"  # label after the last ';'
    tw = texts(root, "tweeteval", subset="emotion")
    assert tw.labels == ["anger", "joy", "anger", "joy"] and tw.texts[0] == "so angry 😠"
    trec = texts(root, "trec")
    assert trec.texts[2] == "What is a café ?" and trec.labels[:2] == ["DESC", "ENTY"]  # ISO-8859-1
    assert texts(root, "trec", labels="fine").labels[0] == "DESC:manner"
    assert texts(root, "sst").labels == ["1", "0", "1", "0"]
    fine = texts(root, "sst", variant="fine")
    assert fine.texts[0] == "a stirring film" and fine.labels[0] == "4"
    mr = texts(root, "senteval-binary", "all", name="MR")
    assert mr.labels == ["pos", "pos", "neg", "neg"]


def test_clustering_readers(root: Path) -> None:
    snip = texts(root, "searchsnippets", "all")
    assert snip.texts[0] == "turtlesoft goldenseal software"  # the BOM is gone
    assert texts(root, "stackoverflow", "all").labels == ["18", "18", "3"]
    ng = texts(root, "20newsgroups")
    assert ng.texts[:4] == ["Shuttle launch", "Moon base cost", "Café racer engines", "Best tires"]  # Re: removed
    assert set(ng.labels) == {"sci.space", "rec.autos"}
    assert texts(root, "20newsgroups", "test").texts == ["Test subject"]


def test_retrieval_readers(root: Path) -> None:
    sf = pairs(root, "scifact")
    assert [(e.anchor, e.positive) for e in sf.examples] == [
        ("Claim zero.", "Title one First sentence. It's the second one."),
        ("Claim one.", "Title two Only sentence."),
    ]
    pq = pairs(root, "pubmedqa")
    assert [e.anchor for e in pq.examples] == ["Question 1?", "Question 3?", "Question 5?"]
    assert pq.examples[0].positive == "Context 1 a. Context 1 b."
    assert pq.dropped["PubMedQA test id (leakage rule 4)"] == 2
    assert [e.anchor for e in pairs(root, "pubmedqa", "test").examples] == ["Question 2?", "Question 4?"]
    tq = pairs(root, "trecqa")
    assert tq.examples[0].positive == "Hugo wrote it ." and tq.examples[0].negatives == (
        "It is a book .",
        "Books are good .",
    )
    assert tq.examples[1].negatives == () and tq.dropped["question without a correct answer"] == 1
    tb = pairs(root, "20newsgroups-title-body")
    assert (
        tb.examples[0].anchor == "Shuttle launch" and tb.examples[0].positive == "The shuttle flew."
    )  # quotes removed


def test_parse_sentence_list_numpy_and_python_styles() -> None:
    p = Path("corpus.csv")
    assert parse_sentence_list("['a b.'\n 'c \\'d\\'.']", p, 2) == ["a b.", "c 'd'."]
    assert parse_sentence_list("['x', \"y's\"]", p, 2) == ["x", "y's"]
    with pytest.raises(DataFormatError, match=r"corpus.csv:7: expected an abstract printed as a list"):
        parse_sentence_list("First sentence.", p, 7)
    with pytest.raises(DataFormatError, match="only quoted sentences"):
        parse_sentence_list("['a' oops 'b']", p, 3)


@pytest.mark.parametrize(
    ("relpath", "content", "source", "split", "match"),
    [
        (
            "stsbenchmark/stsbenchmark/sts-train.csv",
            "g\tf\ty\t1\t2.0\tonly one sentence\n",
            "stsb",
            "train",
            r"sts-train.csv:1: expected genre, file, year, id, score, sentence 1, sentence 2 \(7 tab-separated",
        ),
        (
            "stsbenchmark/stsbenchmark/sts-train.csv",
            "g\tf\ty\t1\t2.0\ta\tb\ng\tf\ty\t1\tlots\ta\tb\n",
            "stsb",
            "train",
            r"sts-train.csv:2: expected a number for a score in \[0, 5\]; got 'lots'",
        ),
        (
            "stsbenchmark/stsbenchmark/sts-train.csv",
            "g\tf\ty\t1\t7.5\ta\tb\n",
            "stsb",
            "train",
            r"sts-train.csv:1: expected a score in \[0, 5\]",
        ),
        (
            "emotion/data/emotion/train.txt",
            "text;label_name\ngood line;joy\nno separator here\n",
            "emotion",
            "train",
            r"train.txt:3: expected 'text;label_name'",
        ),
        (
            "twitter-pit2015/dev.data",
            "1\tT\ta\tb\t(x, y)\tt\tt\n",
            "twitter-pit",
            "dev",
            r"dev.data:1: expected votes like",
        ),
        (
            "banking77/banking_data/train.csv",
            "text,category\nfine,top_up\nbad,row,extra\n",
            "banking77",
            "train",
            r"train.csv:3: expected 2 comma-separated fields",
        ),
        (
            "senteval-trec/SentEval/data/downstream/TREC/train_5500.label",
            "DESC:manner fine ?\nnolabel\n",
            "trec",
            "train",
            r"train_5500.label:2: expected 'COARSE:fine question'",
        ),
        (
            "trecqa-wang-anssel/data/anssel/wang/train.csv",
            "qtext,label,atext\nq,2,a\n",
            "trecqa",
            "train",
            r"train.csv:2: expected label 0 or 1",
        ),
        (
            "flickr8k-captions/Flickr8k.token.txt",
            "img.jpg#0\tok\nno caption id here\n",
            "flickr8k",
            "all",
            r"Flickr8k.token.txt:2: expected '<image>.jpg#<i><TAB><caption>'",
        ),
    ],
)
def test_malformed_rows_name_file_and_line(
    tmp_path: Path, relpath: str, content: str, source: str, split: str, match: str
) -> None:
    path = tmp_path / relpath
    path.parent.mkdir(parents=True)
    path.write_text(content, encoding="utf-8")
    with pytest.raises(DataFormatError, match=match):
        load(tmp_path, source, split)


def test_misaligned_label_files_and_missing_files(tmp_path: Path) -> None:
    stc = tmp_path / "stc2-short-text-clustering"
    stc.mkdir()
    (stc / "StackOverflow.txt").write_text("a\nb\n")
    (stc / "StackOverflow_gnd.txt").write_text("1\n")
    with pytest.raises(
        DataFormatError, match=r"StackOverflow_gnd.txt: expected one label a line of StackOverflow.txt \(2\)"
    ):
        load(tmp_path, "stackoverflow", "all")
    with pytest.raises(FileNotFoundError, match="Missing Banking77 file"):
        load(tmp_path, "banking77")


def test_unknown_source_and_option_did_you_mean() -> None:
    with pytest.raises(ValueError, match='Did you mean "banking77"'):
        get_source("banking78")
    with pytest.raises(ValueError, match='Did you mean "subset"'):
        SOURCES["tweeteval"].check_options({"subsett": "hate"})
    with pytest.raises(ValueError, match="never train on it"):
        SOURCES["banking77"].check_split("test")

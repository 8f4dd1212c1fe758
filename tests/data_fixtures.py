"""A tiny data root in the published formats of the shared data, quirks included (for tests/test_data_*.py).

Planted overlaps (for the leakage tests):
* Flickr8k caption "A dog runs on the grass ." = SICK test "A dog runs on the grass" (rule 2);
* Flickr8k caption "A woman slices an onion." = an STS14 images test sentence (rule 2);
* SNLI premise "A man is playing a guitar ." = a SICK train sentence (rule 3, SICK-R reads all of SICK);
* STS-B train pair 2 = an STS12 MSRvid test pair (rule 1);
* Banking77 train "How do I top up?" = a Banking77 test text;
* PubMedQA ids 2 and 4 are test ids (rule 4).
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path


def _w(path: Path, text: str, encoding: str = "utf-8") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))


def _lines(*rows: str, end: str = "\n") -> str:
    return "".join(r + end for r in rows)


def write_similarity(root: Path) -> None:
    stsb = root / "stsbenchmark" / "stsbenchmark"
    _w(
        stsb / "sts-train.csv",
        _lines(
            "main-captions\tMSRvid\t2012train\t0001\t5.000\tA plane is taking off.\tAn air plane is taking off.",
            'main-captions\tMSRvid\t2012test\t0002\t3.800\tA man plays a "large" flute.\tA man is playing a flute.',
            "main-news\theadlines\t2016\t0012\t4\tDriver backs into stroller\tDriver backs into mom\tEurope Media\tEurope Media",
            "main-forums\tdeft-forum\t2014\t0003\t1.0\tThat is true.\tIt is not.",
            "main-forums\tdeft-forum\t2014\t0004\t1.0\tThat is true.\tIt is not.",  # duplicate pair
            "main-forums\tdeft-forum\t2014\t0005\t2.0\t \tEmpty first sentence.",
        ),
    )
    _w(stsb / "sts-dev.csv", _lines("main-captions\tMSRvid\t2012test\t0009\t1.0\tA cat sleeps.\tA dog barks."))
    _w(stsb / "sts-test.csv", _lines("main-captions\tMSRvid\t2012test\t0010\t2.0\tA bird sings.\tA bird flies."))
    sts = root / "sts12-16" / "data" / "downstream" / "STS"
    tr = sts / "STS12-en-train" / "STS2012-train"
    _w(tr / "STS.input.MSRvid.txt", _lines("A girl is dancing.\tA girl dances.", "A boy runs.\tA man sits."))
    _w(tr / "STS.gs.MSRvid.txt", _lines("4.800", "0.500"))
    t12 = sts / "STS12-en-test" / "test-gold"
    _w(
        t12 / "STS.input.MSRvid.txt",
        _lines("A man plays a large flute.\tA man is playing a flute.", "A cat eats.\tA cat runs."),
    )
    _w(t12 / "STS.gs.MSRvid.txt", _lines("3.8", "1.0"))
    _w(t12 / "STS.gs.ALL.txt", _lines("3.8", "1.0"))
    t13 = sts / "STS13-en-test" / "test-gs"
    _w(t13 / "STS.input.headlines.txt", _lines("Stocks fall.\tMarkets drop."))
    _w(t13 / "STS.gs.headlines.txt", _lines("4.0"))
    _w(t13 / "STS.gs.SMT.txt", _lines("1.0", "2.0"))  # gold without input, as in MTEB
    t14 = sts / "STS14-en-test" / "sts-en-test-gs-2014"
    _w(t14 / "STS.input.images.txt", _lines("A woman slices an onion.\tA woman cuts an onion."))
    _w(t14 / "STS.gs.images.txt", _lines("4.6"))
    t15 = sts / "STS15-en-test" / "test_evaluation_task2a"
    _w(
        t15 / "STS.input.images.txt",
        _lines("Two dogs play.\tDogs are playing.", "Unscored one.\tUnscored two.", "A red car.\tA blue car."),
    )
    _w(t15 / "STS.gs.images.txt", _lines("4.2", "", "2.0"))  # blank gold line: unscored pair
    t16 = sts / "STS16-en-test" / "sts2016-english-with-gs-v1.0"
    _w(
        t16 / "STS2016.input.headlines.txt",
        _lines("Rain in Spain.\tSpain gets rain.\tsrc1\tsrc2", "Not scored.\tNope.\ts\ts"),
    )
    _w(t16 / "STS2016.gs.headlines.txt", _lines("4", ""))
    sick = root / "sick2014" / "data" / "sts" / "sick2014"
    head = "pair_ID\tsentence_A\tsentence_B\trelatedness_score\tentailment_judgment"
    _w(
        sick / "SICK_train.txt",
        _lines(
            head,
            "1\tA man is playing a guitar\tA person plays a guitar\t4.5\tENTAILMENT",
            "2\tA kid swims\tA child is swimming\t4.9\tENTAILMENT",
        ),
    )
    _w(sick / "SICK_trial.txt", _lines(head, "3\tA cat purrs\tA cat is purring\t4.7\tENTAILMENT"))
    _w(
        sick / "SICK_test_annotated.txt",
        _lines(head, "4\tA dog runs on the grass\tA dog is running\t4.0\tNEUTRAL", end="\r\n"),
    )
    flickr = root / "flickr8k-captions"
    caps = [
        "1000_a.jpg#0 A dog runs on the grass .",  # first line: a space instead of the TAB
        "1000_a.jpg#1\tA brown dog is running .",
        "1000_a.jpg#2\tA dog on a lawn .",
        "1000_a.jpg#3\tA dog plays outside .",
        "2000_b.jpg#0\tA woman slices an onion.",
        "2000_b.jpg#1\tA cook prepares food .",
        "3000_c.jpg#0\tChildren play soccer .",
        "3000_c.jpg#1\tKids kick a ball .",
        "4000_d.jpg#0\tA boat on a lake .",
        "4000_d.jpg#1\tA small boat floats .",
    ]
    _w(flickr / "Flickr8k.token.txt", _lines(*caps))
    _w(flickr / "Flickr_8k.trainImages.txt", _lines("1000_a.jpg", "2000_b.jpg", "3000_c.jpg"))
    snli = root / "senteval-snli-devtest" / "SentEval" / "data" / "downstream" / "SNLI"
    _w(
        snli / "s1.dev",
        _lines(*["Two women are embracing . "] * 3 + ["A man is playing a guitar . "] * 2 + ["A dog barks . "]),
    )
    _w(
        snli / "s2.dev",
        _lines(
            "The sisters hug . ",
            "Two women hug . ",
            "Two men fight . ",
            "A man plays music .",
            "A man sleeps .",
            "The dog is silent .",
        ),
    )
    _w(
        snli / "labels.dev",
        _lines("neutral", "entailment", "contradiction", "entailment", "contradiction", "contradiction"),
    )
    pit = root / "twitter-pit2015"
    rows = [
        ("Walk to Remember is great", "A Walk to Remember rocks", "(5, 0)"),
        ("Walk to Remember is great", "Walk to Remember is on TV", "(1, 4)"),
        ("Walk to Remember is great", "I love Walk to Remember", "(2, 3)"),
        ("Ryan Gosling is here", "Gosling arrived", "(3, 2)"),
    ]
    _w(pit / "dev.data", _lines(*[f"17\tTopic\t{a}\t{b}\t{v}\ttags1\ttags2" for a, b, v in rows]))
    msr = root / "mrpc" / "data" / "para" / "msr"
    mhead = "\ufeffQuality\t#1 ID\t#2 ID\t#1 String\t#2 String"
    _w(
        msr / "msr-para-train.tsv",
        _lines(mhead, '1\t1\t2\tHe said "hi".\tHe greeted us.', "0\t3\t4\tA.\tB.", end="\r\n"),
    )


def write_classification(root: Path) -> None:
    bank = root / "banking77" / "banking_data"
    _w(
        bank / "train.csv",
        _lines(
            "text,category",
            "How do I top up?,top_up",
            '"\nMy card\nis lost",lost_card',
            "Where is my card?,card_arrival",
            "Card not here yet,card_arrival",
            "Add money,top_up",
            "I lost my card,lost_card",
            "Add money,top_up",
            ",top_up",
        ),
    )
    _w(bank / "test.csv", _lines("text,category", "How do I top up?,top_up"))
    emo = root / "emotion" / "data" / "emotion"
    _w(
        emo / "train.txt",
        _lines("text;label_name", "i feel happy; really;joy", "i am glad;joy", "so sad;sadness", "i cry;sadness"),
    )
    _w(emo / "val.txt", _lines("text;label_name", "val text;joy"))
    _w(emo / "test.txt", _lines("text;label_name", "test text;joy"))
    tw = root / "tweeteval" / "emotion"
    _w(tw / "mapping.txt", "0\tanger\n1\tjoy")  # no trailing newline, as in the source
    _w(tw / "train_text.txt", _lines("so angry 😠", "yay 🎉", "fuming", "happy days"))
    _w(tw / "train_labels.txt", _lines("0", "1", "0", "1"))
    for split in ("val", "test"):
        _w(tw / f"{split}_text.txt", _lines(f"{split} tweet"))
        _w(tw / f"{split}_labels.txt", _lines("1"))
    trec = root / "senteval-trec" / "SentEval" / "data" / "downstream" / "TREC"
    _w(
        trec / "train_5500.label",
        _lines(
            "DESC:manner How did serfdom develop ?",
            "ENTY:cremat What films featured Popeye ?",
            "DESC:def What is a café ?",
            "ENTY:animal What is a dog ?",
        ),
        encoding="latin-1",
    )
    _w(trec / "TREC_10.label", _lines("NUM:date When was X born ?"))
    sst = root / "senteval-sst" / "SentEval" / "data" / "downstream" / "SST"
    _w(sst / "binary" / "sentiment-train", _lines("a great movie \t1", "a dull movie \t0", "fun \t1", "boring \t0"))
    _w(sst / "binary" / "sentiment-dev", _lines("dev text \t1"))
    _w(sst / "binary" / "sentiment-test", _lines("test text \t0"))
    _w(sst / "fine" / "sentiment-train", _lines("4 a stirring film", "0 awful", "4 superb", "0 terrible"))
    mr = root / "senteval-mr-cr-subj-mpqa" / "SentEval" / "data" / "downstream" / "MR"
    _w(mr / "rt-polarity.pos", _lines("the rock is destined to be great . ", "a joy . "))
    _w(mr / "rt-polarity.neg", _lines("simplistic , silly and tedious . ", "dull . "))


def _post(group: str, subject: str, body: str) -> bytes:
    return f"From: someone@example.com\nSubject: {subject}\nOrganization: X\nLines: 3\n\n{body}\n".encode("latin-1")


def write_clustering(root: Path) -> None:
    stc = root / "stc2-short-text-clustering"
    _w(
        stc / "SearchSnippets.txt",
        "\ufeff" + _lines("turtlesoft goldenseal software", "football world cup", "tennis open"),
    )
    _w(stc / "SearchSnippets_gnd.txt", _lines("1", "2", "2"))
    _w(stc / "StackOverflow.txt", _lines("How do I fill a DataSet?", "LINQ paging", "Excel VBA loop"))
    _w(stc / "StackOverflow_gnd.txt", _lines("18", "18", "3"))
    posts = {
        "20news-bydate-train/sci.space/1": _post(
            "sci.space", "Re: Shuttle launch", "> quoted\nIn article <x> y writes:\nThe shuttle flew."
        ),
        "20news-bydate-train/sci.space/2": _post("sci.space", "Moon base cost", "A moon base is costly."),
        "20news-bydate-train/rec.autos/3": _post("rec.autos", "Caf\xe9 racer engines", "Engines and more."),
        "20news-bydate-train/rec.autos/4": _post("rec.autos", "RE: Re: Best tires", "Buy good tires."),
        "20news-bydate-train/rec.autos/5": _post("rec.autos", "Test subject", "This subject is also a test subject."),
        "20news-bydate-test/sci.space/6": _post("sci.space", "Test subject", "Test post."),
    }
    tar_path = root / "20newsgroups-bydate" / "20news-bydate.tar.gz"
    tar_path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tar_path, "w:gz") as tar:
        for name, data in posts.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


def write_retrieval(root: Path) -> None:
    sf = root / "scifact"
    abstract = "['First sentence.'\n \"It's the second one.\"]"
    quoted = abstract.replace('"', '""')  # CSV escaping of the double-quoted sentence
    _w(
        sf / "csv" / "corpus_train.csv",
        _lines(
            "doc_id,title,abstract,structured",
            f'11,Title one,"{quoted}",False',
            '"12",Title two,"[\'Only sentence.\']",False',
        ),
    )
    _w(
        sf / "csv" / "claims_train.csv",
        _lines(
            "id,claim,evidence_doc_id,evidence_label,evidence_sentences,cited_doc_ids",
            "0,Claim zero.,11,SUPPORT,[0],[11]",
            "0,Claim zero.,12,SUPPORT,[0],[12]",
            "1,Claim one.,,,[],[12]",
        ),
    )
    _w(sf / "beir_qrels" / "train.tsv", _lines("query-id\tcorpus-id\tscore", "0\t11\t1", "1\t12\t1"))
    pq = root / "pubmedqa-labeled" / "data"
    data = {
        str(i): {"QUESTION": f"Question {i}?", "CONTEXTS": [f"Context {i} a.", f"Context {i} b."], "LONG_ANSWER": "x"}
        for i in range(1, 6)
    }
    _w(pq / "ori_pqal.json", json.dumps(data))
    _w(pq / "test_ground_truth.json", json.dumps({"2": "yes", "4": "no"}))
    tq = root / "trecqa-wang-anssel" / "data" / "anssel" / "wang"
    _w(
        tq / "train.csv",
        _lines(
            "qtext,label,atext",
            '"Who wrote it , `` The Book \'\' ?",1,"Hugo wrote it ."',
            '"Who wrote it , `` The Book \'\' ?",0,"It is a book ."',
            '"Who wrote it , `` The Book \'\' ?",0,"Books are good ."',
            "When is noon ?,1,Noon is at 12 .",
            "Why ?,0,Because .",
        ),
    )
    _w(tq / "test.csv", _lines("qtext,label,atext", "What is test ?,1,A test ."))
    _w(
        root / "wikiqa" / "WikiQA-dev.tsv",
        _lines(
            "QuestionID\tQuestion\tDocumentID\tDocumentTitle\tSentenceID\tSentence\tLabel",
            "Q1\thow big is bmc\tD1\tBMC\tD1-0\tBMC is big.\t1",
        ),
    )


def make_data_root(root: Path) -> Path:
    """Write every source's tiny copy under ``root``; returns ``root``."""
    write_similarity(root)
    write_classification(root)
    write_clustering(root)
    write_retrieval(root)
    return root

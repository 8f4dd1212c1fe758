"""Clustering sources: labelled short texts (20 Newsgroups subject lines, STC2 StackOverflow titles and
SearchSnippets), turned into contrastive examples by the recipe like classification texts."""

from __future__ import annotations

import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from mote._errors import unknown_name
from mote.data.examples import LabelledTexts
from mote.data.sources._read import DataFormatError, need_file, read_lines
from mote.data.sources.base import Source

NEWSGROUPS_TAR = "20news-bydate.tar.gz"
_RE = re.compile(r"^(\s*(re|fwd?)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)


@dataclass(frozen=True)
class Post:
    group: str
    member: str  # its path in the archive, e.g. 20news-bydate-test/sci.med/59121
    header_subject: str  # the Subject: line as written (what the TwentyNewsgroupsSubjects evaluation embeds)
    body: str

    @property
    def subject(self) -> str:
        """The subject without its 'Re:' / 'Fwd:' prefixes (what training pairs use)."""
        return _RE.sub("", self.header_subject).strip()


def _parse_post(raw: bytes, tar_path: str, member: str) -> Post:
    text = raw.decode("latin-1").replace("\r\n", "\n")
    header, _, body = text.partition("\n\n")
    subject = None
    for line in header.split("\n"):
        if line.lower().startswith("subject:"):
            subject = line[len("subject:") :].strip()
            break
    if subject is None:
        raise DataFormatError(tar_path, member, "a 'Subject:' line in the post header", header[:200])
    return Post(group=member.split("/")[1], member=member, header_subject=subject, body=body)


@lru_cache(maxsize=2)
def _posts(tar_path: str, mtime: float) -> dict[str, tuple[Post, ...]]:
    del mtime  # part of the cache key only
    out: dict[str, list[Post]] = {"train": [], "test": []}
    with tarfile.open(tar_path, "r:gz") as tar:
        for member in tar:
            if not member.isfile():
                continue
            parts = member.name.split("/")
            if len(parts) != 3 or not parts[0].startswith("20news-bydate-"):
                raise DataFormatError(tar_path, member.name, "members '20news-bydate-<split>/<group>/<id>'")
            f = tar.extractfile(member)
            if f is None:
                raise DataFormatError(tar_path, member.name, "a readable file member")
            out[parts[0].removeprefix("20news-bydate-")].append(_parse_post(f.read(), tar_path, member.name))
    return {k: tuple(v) for k, v in out.items()}


def newsgroups_posts(root: Path, split: str) -> tuple[Post, ...]:
    """The posts of one split of ``20news-bydate.tar.gz`` (read once per process)."""
    path = need_file(root / NEWSGROUPS_TAR, "20 Newsgroups archive")
    return _posts(str(path), path.stat().st_mtime)[split]


def read_newsgroups(root: Path, split: str) -> LabelledTexts:
    """20 Newsgroups subject lines ('Re:' prefixes removed), labelled by newsgroup."""
    posts = newsgroups_posts(root, split)
    return LabelledTexts([p.subject for p in posts], [p.group for p in posts])


STC2_SETS = ("StackOverflow", "SearchSnippets")


def stc2_rows(folder: Path, name: str) -> LabelledTexts:
    """STC2 set ``name``: ``X.txt`` one text a line (utf-8-sig: SearchSnippets' BOM goes), ``X_gnd.txt`` its
    integer cluster label. Read by the training sources below and the STC2 clustering evaluations."""
    if name not in STC2_SETS:
        raise unknown_name("STC2 set", name, STC2_SETS)
    texts = read_lines(folder / f"{name}.txt", f"STC2 {name} texts")
    labels = read_lines(folder / f"{name}_gnd.txt", f"STC2 {name} labels")
    if len(texts) != len(labels):
        raise DataFormatError(
            folder / f"{name}_gnd.txt", None, f"one label a line of {name}.txt ({len(texts)})", len(labels)
        )
    for n, label in enumerate(labels, 1):
        if not label.strip().isdigit():
            raise DataFormatError(folder / f"{name}_gnd.txt", n, "an integer cluster label", label)
    return LabelledTexts(texts, [label.strip() for label in labels])


def read_stackoverflow(root: Path, split: str) -> LabelledTexts:
    """STC2 StackOverflow: 20,000 question titles, 20 tags (``StackOverflow.txt`` + ``_gnd.txt``)."""
    del split  # unsplit: the only split is "all"
    return stc2_rows(root, "StackOverflow")


def read_searchsnippets(root: Path, split: str) -> LabelledTexts:
    """STC2 SearchSnippets: 12,340 web-search snippets, 8 domains; the text file starts with a BOM."""
    del split
    return stc2_rows(root, "SearchSnippets")


SOURCES: tuple[Source, ...] = (
    Source(
        "20newsgroups",
        read_newsgroups,
        "20newsgroups-bydate",
        "clustering",
        "20 Newsgroups subject lines (20 groups).",
        hard_negatives=1,
    ),
    Source(
        "stackoverflow",
        read_stackoverflow,
        "stc2-short-text-clustering",
        "clustering",
        "STC2 StackOverflow titles (20 labels); unsplit.",
        splits=("all",),
        evaluation="STC2StackOverflow",
        excluded_by="evaluate_stc2",
        hard_negatives=1,
    ),
    Source(
        "searchsnippets",
        read_searchsnippets,
        "stc2-short-text-clustering",
        "clustering",
        "STC2 SearchSnippets (8 labels); unsplit.",
        splits=("all",),
        evaluation="STC2SearchSnippets",
        excluded_by="evaluate_stc2",
        hard_negatives=1,
    ),
)

"""The source registry: name -> :class:`Source` (reader + splits + what evaluations read).

One file per source family: ``retrieval``, ``similarity``, ``classification``, ``clustering``, ``generic``.
Readers take ``(location, split, **options)`` and return records (:class:`~mote.data.examples.Pairs` or
:class:`~mote.data.examples.LabelledTexts`); malformed rows raise :class:`DataFormatError` naming the
file and line.
"""

from __future__ import annotations

from mote._errors import unknown_name
from mote.data.sources import classification, clustering, generic, retrieval, similarity
from mote.data.sources._read import DataFormatError
from mote.data.sources.base import Source, registry

SOURCES: dict[str, Source] = registry(
    retrieval.SOURCES, similarity.SOURCES, classification.SOURCES, clustering.SOURCES, generic.SOURCES
)


def get_source(name: str) -> Source:
    """The registered source ``name``; unknown names raise with a did-you-mean suggestion."""
    if name not in SOURCES:
        raise unknown_name("source", name, SOURCES, "See mote.data.sources.SOURCES or docs/data.md.")
    return SOURCES[name]


__all__ = ["SOURCES", "DataFormatError", "Source", "get_source"]

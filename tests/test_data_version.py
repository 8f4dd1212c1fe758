"""DATA_VERSION names what a recipe yields: the fingerprint of recipes/shared-small.yaml (rows per dataset and a
digest of the rows) is recorded per version, so a change to a reader, a cleaning step or the leakage pool that
changes the training rows fails here until DATA_VERSION is bumped (pipeline jobs hash it: a model trained on
other rows is never reused as if trained on these)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from mote.data.recipe import DATA_VERSION, load_recipe

REPO = Path(__file__).resolve().parents[1]

# DATA_VERSION -> {dataset: (rows, sha256 of the rows' anchor, positive, task and score/label, first 12 hex)}
FINGERPRINTS: dict[int, dict[str, tuple[int, str]]] = {
    2: {"20newsgroups": (3000, "d7e5891979e7"), "20newsgroups-title-body": (2400, "0b40a6c3f3f9"),
        "banking77": (1200, "4fd83ce8d27b"), "emotion": (800, "5d344e6edfec"), "flickr8k": (700, "ffa3d98c47c6"),
        "pubmedqa": (500, "be0ff7e06e0e"), "snli": (1000, "032374539ecb"), "sst2": (600, "3e27e3f1bbe8"),
        "sts12-train": (931, "0f701a886e80"), "trec": (600, "105422aa4cca"), "trecqa": (347, "bb1c2f65ebb8")},
}


def _fingerprint(datasets: dict) -> dict[str, tuple[int, str]]:
    out = {}
    for name, ds in sorted(datasets.items()):
        h = hashlib.sha256()
        for row in ds:
            h.update(repr((row["anchor"], row["positive"], row["task"], row.get("score"), row.get("label"))).encode())
        out[name] = (len(ds), h.hexdigest()[:12])
    return out


@pytest.mark.shared_data
def test_the_rows_of_the_reference_recipe_match_the_data_version(shared_data: Path) -> None:
    got = _fingerprint(load_recipe(REPO / "recipes" / "shared-small.yaml", data_root=shared_data))
    assert DATA_VERSION in FINGERPRINTS, f"no fingerprint recorded for DATA_VERSION {DATA_VERSION}: add {got}"
    assert got == FINGERPRINTS[DATA_VERSION], (
        f"recipes/shared-small.yaml builds other rows than DATA_VERSION {DATA_VERSION} recorded. If the change is "
        f"meant, bump DATA_VERSION in mote/data/recipe.py (with a line saying what changed) and record {got}."
    )

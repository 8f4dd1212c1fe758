"""Training data: task-tagged examples from the shared datasets (read in place) or your own files.

Public API::

    datasets = load_recipe("recipes/shared-small.yaml", overrides=None, data_root=None)  # {name: Dataset}
    datasets.report.format()                     # what each leakage rule / cleaning step removed

Dataset columns: ``anchor``, ``positive``, optional ``negatives`` (list), ``score`` or ``label``, and the
routes ``task``, ``anchor_task``, ``positive_task``, ``dataset``.
"""

from __future__ import annotations

from mote.data.examples import COLUMNS, Example, LabelledTexts, Pairs, to_dataset
from mote.data.recipe import Recipe, RecipeDatasets, build_recipe, load_recipe, read_recipe
from mote.data.sources import SOURCES, DataFormatError, get_source

__all__ = [
    "COLUMNS",
    "SOURCES",
    "DataFormatError",
    "Example",
    "LabelledTexts",
    "Pairs",
    "Recipe",
    "RecipeDatasets",
    "build_recipe",
    "get_source",
    "load_recipe",
    "read_recipe",
    "to_dataset",
]

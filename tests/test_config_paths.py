"""One rule for relative input paths in every config family (train, merge, pipeline): a path that exists next to
the config file is taken from there, anything else as given; output paths stay relative to the working folder."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from mote.merge import load_merge_config
from mote.pipeline import load_pipeline_config
from mote.train.config import load_config


@pytest.fixture
def layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """configs/ holds the config files and, beside them, a recipe, a data folder, a probe and model folders;
    the working folder is elsewhere."""
    cfg = tmp_path / "configs"
    (cfg / "data").mkdir(parents=True)
    (cfg / "base").mkdir()
    (cfg / "ft").mkdir()
    (cfg / "recipe.yaml").write_text("datasets: []\n", encoding="utf-8")
    (cfg / "probe.jsonl").write_text("", encoding="utf-8")
    work = tmp_path / "elsewhere"
    work.mkdir()
    monkeypatch.chdir(work)
    return cfg


def _write(folder: Path, name: str, data: dict[str, object]) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_train_config_inputs_resolve_next_to_the_config(layout: Path) -> None:
    cfg = load_config(_write(layout, "train.yaml", {
        "model": {"base": "base"}, "data": {"recipe": "recipe.yaml", "data_root": "data"},
        "train": {"output_dir": "runs/x", "save_steps": 5, "eval": {"tasks": ["STS12"], "steps": 5, "data_root": "data"}},
    }))
    assert cfg.model.base == str((layout / "base").resolve())
    assert cfg.data.recipe == str((layout / "recipe.yaml").resolve())
    assert cfg.data.data_root == str((layout / "data").resolve())
    assert cfg.train.eval is not None and cfg.train.eval.data_root == str((layout / "data").resolve())
    assert cfg.train.output_dir == "runs/x"  # an output: relative to the working folder


def test_merge_config_inputs_resolve_next_to_the_config(layout: Path) -> None:
    cfg = load_merge_config(_write(layout, "merge.yaml", {
        "base": "base", "models": ["ft", "sentence-transformers/all-MiniLM-L6-v2"], "method": "ties",
        "parameters": {"density": 0.5}, "out": "merged",
    }))
    assert cfg.base == str((layout / "base").resolve())
    assert cfg.models == [str((layout / "ft").resolve()), "sentence-transformers/all-MiniLM-L6-v2"]  # a hub id as given
    assert cfg.out == "merged"


def test_pipeline_config_inputs_resolve_next_to_the_config(layout: Path) -> None:
    cfg = load_pipeline_config(_write(layout, "pipeline.yaml", {
        "name": "p", "recipe": "recipe.yaml", "output_dir": "runs/p", "variants": ["base"],
        "eval": {"suite": "mteb-lite", "data_root": "data"},
    }))
    assert cfg.recipe == str((layout / "recipe.yaml").resolve())
    assert cfg.eval.data_root == str((layout / "data").resolve())
    assert cfg.output_dir == "runs/p"


def test_a_path_relative_to_the_working_folder_still_works(layout: Path) -> None:
    """Not next to the config: the path is left for the working folder (as it was for training configs)."""
    Path("local-recipe.yaml").write_text("datasets: []\n", encoding="utf-8")
    cfg = load_config(_write(layout, "train2.yaml", {"data": {"recipe": "local-recipe.yaml"},
                                                      "train": {"output_dir": "runs/y"}}))
    assert cfg.data.recipe == "local-recipe.yaml" and Path(cfg.data.recipe).is_file()


def test_one_data_format_error_for_every_reader() -> None:
    """Training and evaluation readers raise the same DataFormatError (there were two classes of that name):
    they share one set of row parsers, and a missing file is a DataFormatError and a FileNotFoundError."""
    from mote.data import DataFormatError as TrainingError
    from mote.data.evaluations.sts import read_sts_year
    from mote.data.sources._read import MissingDataFile

    with pytest.raises(MissingDataFile) as missing:
        read_sts_year(Path("no-such-data-root"), 2012)
    assert isinstance(missing.value, TrainingError) and isinstance(missing.value, FileNotFoundError)
    assert "data_root" in str(missing.value)
    assert str(TrainingError("f.tsv", 3, "7 fields", "a\tb")) == "f.tsv:3: expected 7 fields; got 'a\\tb'."
    assert str(TrainingError("Missing data file 'x'.")) == "Missing data file 'x'."

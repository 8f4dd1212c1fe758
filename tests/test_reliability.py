"""Reliability promises (docs/reliability.md) at the library level: resume keeps a run's settings, a finished run
is not trained again, truncated checkpoints are skipped, refused commands write nothing, damaged or mismatched
weights never load silently, killed saves leave nothing behind. The CLI side is the matrix in
test_bad_inputs.py."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from safetensors.torch import load_file, save_file

from mote.model.io import ModelFolderError, _owner, atomic_dir
from mote.model.sentence import average, load, upcycle
from mote.train.run import train
from mote.train.trainer import NonFiniteLossError

sys.path.insert(0, str(Path(__file__).parent))
from train_helpers import config, synthetic_datasets


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def finished_run(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished 4-step MoTE run with checkpoints at steps 2 and 4."""
    out = tmp_path_factory.mktemp("finished") / "run"
    train(config(tiny_st_dir, out, max_steps=4, save_steps=2), synthetic_datasets())
    return out


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize(("key", "value", "shown"), [("learning_rate", 2e-3, "train.learning_rate: 0.001 -> 0.002"),
                                                     ("batch_size", 12, "train.batch_size: 8 -> 12"),
                                                     ("max_steps", 5, "train.max_steps: 4 -> 5")])
def test_resume_refuses_changed_settings(finished_run: Path, tiny_st_dir: Path, tmp_path: Path, key: str,
                                         value: object, shown: str) -> None:
    # before: a changed learning rate trained with the old one while the saved config recorded the new one
    run = _copy(finished_run, tmp_path / "run")
    before = _files(run)
    with pytest.raises(ValueError, match="different settings") as err:
        train(config(tiny_st_dir, run, **{"max_steps": 4, "save_steps": 2, key: value}), synthetic_datasets(),
              resume=True)
    assert shown in str(err.value) and "new train.output_dir" in str(err.value)
    assert _files(run) == before


def test_resume_allows_runtime_settings(finished_run: Path, tiny_st_dir: Path, tmp_path: Path) -> None:
    run = _copy(finished_run, tmp_path / "run")
    train(config(tiny_st_dir, run, max_steps=4, save_steps=2, threads=1, logging_steps=2), synthetic_datasets(),
          resume=True)


def test_resume_of_a_finished_run_trains_nothing(finished_run: Path, tiny_st_dir: Path, tmp_path: Path) -> None:
    # before: it trained "step 5 of 4" and replaced the run summary with a one-step one
    run = _copy(finished_run, tmp_path / "run")
    before = _files(run)
    summary = train(config(tiny_st_dir, run, max_steps=4, save_steps=2), synthetic_datasets(), resume=True)
    assert summary.pop("already_finished") is True
    assert summary == json.loads((finished_run / "train_summary.json").read_text())
    assert summary["steps"] == 4
    assert _files(run) == before  # not even its saved settings are rewritten


def test_refused_train_writes_nothing(finished_run: Path, tiny_st_dir: Path, tmp_path: Path) -> None:
    # before: the refusal came after mote_train_config.yaml was rewritten with the refused settings
    run = _copy(finished_run, tmp_path / "run")
    before = _files(run)
    with pytest.raises(FileExistsError, match="--resume"):
        train(config(tiny_st_dir, run, max_steps=4, save_steps=2, learning_rate=5e-3), synthetic_datasets())
    assert _files(run) == before


def test_truncated_latest_checkpoint_falls_back_to_the_previous(finished_run: Path, tiny_st_dir: Path,
                                                               tmp_path: Path) -> None:
    # a run killed while its last checkpoint was written: final model and summary missing, checkpoint-4 cut short
    run = _copy(finished_run, tmp_path / "run")
    import shutil

    shutil.rmtree(run / "final")
    (run / "train_summary.json").unlink()
    weights = run / "checkpoint-4" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    summary = train(config(tiny_st_dir, run, max_steps=4, save_steps=2), synthetic_datasets(), resume=True)
    assert summary["steps"] == 4 and summary["resumed_from"].endswith("checkpoint-2")
    assert [p.name for p in (run / "incomplete").glob("checkpoint-4-*")], "the damaged checkpoint is kept aside"
    ref, got = load_file(str(finished_run / "final" / "model.safetensors")), load_file(str(weights.parent.parent /
                                                                                        "final" / "model.safetensors"))
    assert max(float((ref[k] - got[k]).abs().max()) for k in ref) <= 1e-6  # same as the uninterrupted run


def test_no_complete_checkpoint_is_an_error(finished_run: Path, tiny_st_dir: Path, tmp_path: Path) -> None:
    run = _copy(finished_run, tmp_path / "run")
    import shutil

    shutil.rmtree(run / "final")  # killed before finishing: every checkpoint damaged
    (run / "train_summary.json").unlink()
    for ckpt in run.glob("checkpoint-*"):
        (ckpt / "trainer_state.json").write_text("{trunc")
    with pytest.raises(ValueError, match="No complete checkpoint"):
        train(config(tiny_st_dir, run, max_steps=4, save_steps=2), synthetic_datasets(), resume=True)


def test_leftovers_of_a_killed_checkpoint_save_never_enter_a_checkpoint(tiny_st_dir: Path, tmp_path: Path) -> None:
    # before: files of a save killed half-way stayed in .staging/ and were renamed into the next checkpoint
    run = tmp_path / "run"
    leftover = run / ".staging" / "checkpoint-2"
    leftover.mkdir(parents=True)
    (leftover / "junk-from-a-killed-save.bin").write_bytes(b"x" * 1000)
    train(config(tiny_st_dir, run, max_steps=2, save_steps=2), synthetic_datasets())
    assert not list(run.rglob("junk-from-a-killed-save.bin"))
    assert not (run / ".staging").exists()


def test_non_finite_loss_message_promises_only_what_exists(tiny_st_dir: Path, tmp_path: Path) -> None:
    data = synthetic_datasets()
    cfg = config(tiny_st_dir, tmp_path / "run", max_steps=6, save_steps=5, sampling="round-robin",
                 tasks={"query": {"temperature": 1e-40}})
    with pytest.raises(NonFiniteLossError) as err:
        train(cfg, {"retrieval": data["retrieval"]})
    msg = str(err.value)
    assert "No checkpoint was saved yet" in msg and "last checkpoint" not in msg
    assert "fp32" not in msg  # this run was fp32 already: no stale precision advice
    assert "new run" in msg


@pytest.fixture(scope="module")
def mote_dir(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mote") / "m"
    upcycle(str(tiny_st_dir), ["query", "document"], layers="1,3", out=out)
    return out


def test_config_with_more_tasks_than_the_weights_hold_is_refused(mote_dir: Path, tmp_path: Path) -> None:
    # before: 5 tasks over weights with 2 experts loaded 3 randomly initialised experts; only a warning table
    folder = _copy(mote_dir, tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    extra = [dict(cfg["task_set"]["tasks"][0], name=n, mteb=[]) for n in ("similarity", "classification", "clustering")]
    cfg["task_set"]["tasks"] += extra
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match=r"declares 5 tasks .*config\.json.*|config\.json.* declares 5 tasks"):
        load(folder)


def test_config_naming_a_block_the_model_lacks_is_refused(mote_dir: Path, tmp_path: Path) -> None:
    folder = _copy(mote_dir, tmp_path / "m")
    cfg = json.loads((folder / "config.json").read_text())
    cfg["upcycled_layers"] = [1, 9]
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFolderError, match=r"config\.json.*block\(s\) \[9\].*0\.\.3"):
        load(folder)


def _poison(folder: Path) -> str:
    path = folder / "model.safetensors"
    tensors = load_file(str(path))
    name = sorted(k for k in tensors if k.endswith("attention.self.query.weight"))[0]
    tensors[name][0, 0] = float("nan")
    save_file(tensors, str(path), metadata={"format": "pt"})
    return name


def test_non_finite_weights_never_load(mote_dir: Path, tmp_path: Path) -> None:
    # before: NaN embeddings from encode, no warning
    folder = _copy(mote_dir, tmp_path / "m")
    name = _poison(folder)
    with pytest.raises(ModelFolderError, match=rf"{folder.name}.*{name.split('.', 1)[1]}.*1 NaN/inf"):
        load(folder)


def test_non_finite_merge_input_writes_nothing(tiny_st_dir: Path, tmp_path: Path) -> None:
    # before: merge wrote NaN tensors
    from mote.merge import run_merge
    from mote.merge.config import MergeConfig

    bad = _copy(tiny_st_dir, tmp_path / "bad")
    _poison(bad)
    cfg = MergeConfig(base=str(tiny_st_dir), models=[str(tiny_st_dir), str(bad)], method="linear",
                      out=str(tmp_path / "out"))
    with pytest.raises(ModelFolderError, match=r"bad.*NaN/inf"):
        run_merge(cfg)
    assert not (tmp_path / "out").exists() and not list(tmp_path.glob(".out.tmp-*"))


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_average_refuses_non_finite_weights(mote_dir: Path, tmp_path: Path, bad: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        average(load(mote_dir), [bad, 1.0], out=tmp_path / "avg")
    assert not (tmp_path / "avg").exists()


def test_atomic_dir_cleans_temps_of_killed_writers_and_uses_normal_permissions(tmp_path: Path) -> None:
    # a writer killed mid-save leaves .NAME.tmp-PID-*; a dead PID's leftovers go, a live writer's stay
    host = _owner().partition("@")[2]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".model.tmp-{dead.stdout.strip()}@{host}-abc"
    stale.mkdir()
    (stale / "half.safetensors").write_bytes(b"x" * 100)
    live = tmp_path / f".model.tmp-{os.getppid()}@{host}-abc"
    live.mkdir()
    elsewhere = tmp_path / f".model.tmp-{dead.stdout.strip()}@anotherhost-abc"  # can't tell: kept
    elsewhere.mkdir()
    old = os.umask(0o022)
    try:
        with atomic_dir(tmp_path / "model") as tmp:
            (tmp / "sub").mkdir()
            (tmp / "sub" / "f.txt").write_text("x")
    finally:
        os.umask(old)
    assert not stale.exists() and live.exists() and elsewhere.exists()
    out = tmp_path / "model"
    # before: 0700 folders and 0600 files (tempfile's private modes) for a model meant to be shared
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "sub").stat().st_mode) == 0o755
    assert stat.S_IMODE((out / "sub" / "f.txt").stat().st_mode) == 0o644


def test_model_folder_without_a_listed_module_is_refused(tiny_st_dir: Path, tmp_path: Path) -> None:
    import shutil

    folder = _copy(tiny_st_dir, tmp_path / "m")
    shutil.rmtree(folder / "1_Pooling")
    with pytest.raises(ModelFolderError, match=r"1_Pooling.*modules\.json"):
        load(folder)



def test_a_write_killed_between_its_two_renames_gets_the_previous_version_back(tmp_path: Path) -> None:
    # an overwrite renames the old output away, then the new one into place; killed in between, the old one
    # must come back (before: the next write deleted it as a stale temporary)
    host = _owner().partition("@")[2]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    old = tmp_path / f".model.old-{dead.stdout.strip()}@{host}"
    old.mkdir()
    (old / "weights.bin").write_text("the previous model")
    with pytest.raises(FileExistsError, match="--overwrite"), atomic_dir(tmp_path / "model"):
        pass
    assert (tmp_path / "model" / "weights.bin").read_text() == "the previous model"
    assert not old.exists()


def test_resume_refuses_an_edited_recipe_and_accepts_a_moved_one(tmp_path: Path) -> None:
    from mote.train.resume import changed_settings, input_digests

    recipe = tmp_path / "r.yaml"
    recipe.write_text("datasets: {stsb: {}}\n")
    saved = {"data": {"recipe": str(recipe)}, "train": {"learning_rate": 1e-3}}
    digests = input_digests(saved)
    moved = tmp_path / "elsewhere" / "r.yaml"
    moved.parent.mkdir()
    moved.write_text(recipe.read_text())
    assert changed_settings(saved, {"data": {"recipe": str(moved)}, "train": {"learning_rate": 1e-3}}, digests) == []
    recipe.write_text("datasets: {stsb: {max_examples: 10}}\n")
    changes = changed_settings(saved, saved, digests)
    assert len(changes) == 1 and "data.recipe: the file's content changed" in changes[0]

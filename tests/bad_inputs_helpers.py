"""Inputs for the bad-input matrix (tests/test_bad_inputs.py): lazily built, session-wide assets and hashing.

Every asset is a file or folder under one session folder, built on first use by a function registered with
``@asset("name")``; the test file refers to it as the placeholder ``{name}`` in a case's argv, mentions or
setup text. Assets may use other assets (``assets.get("dense")``); those dependencies are recorded so a case
hashes everything its inputs point at. Add an asset by registering one more builder below.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import yaml

from conftest import make_tiny_st

Builder = Callable[["Assets", Path], Path]
BUILDERS: dict[str, Builder] = {}


def asset(name: str) -> Callable[[Builder], Builder]:
    """Register ``fn(assets, folder) -> path`` as the builder of the placeholder ``{name}``."""

    def register(fn: Builder) -> Builder:
        BUILDERS[name] = fn
        return fn

    return register


class Assets:
    """The session's assets: built on first :meth:`get`, each in its own folder under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.built: dict[str, Path] = {}
        self.deps: dict[str, set[str]] = {}
        self._building: list[str] = []

    def get(self, name: str) -> Path:
        if self._building:  # record that the asset being built uses this one
            self.deps.setdefault(self._building[-1], set()).add(name)
        if name not in self.built:
            if name not in BUILDERS:
                raise KeyError(f"No asset {name!r}; registered: {sorted(BUILDERS)}")
            self._building.append(name)
            try:
                folder = self.root / name
                folder.mkdir(parents=True, exist_ok=True)
                self.built[name] = BUILDERS[name](self, folder)
            finally:
                self._building.pop()
        return self.built[name]

    def closure(self, name: str) -> set[str]:
        """``name`` and every asset it was built from, transitively."""
        out, todo = set(), [name]
        while todo:
            n = todo.pop()
            if n not in out:
                out.add(n)
                todo += sorted(self.deps.get(n, ()))
        return out


# -- hashing ---------------------------------------------------------------------------------------------------
def tree_hashes(path: Path, exclude: tuple[Path, ...] = ()) -> dict[str, str]:
    """``{path: sha256 of the bytes}`` of a file, or of every file and folder under a folder (folders: '<dir>')."""
    if not path.exists():
        return {str(path): "<absent>"}
    items = [path] if path.is_file() else [path, *sorted(path.rglob("*"))]
    out = {}
    for p in items:
        if any(p == e or e in p.parents for e in exclude):
            continue
        if p.is_symlink():
            out[str(p)] = f"<link to {p.readlink()}>"
        elif p.is_dir():
            out[str(p)] = "<dir>"
        else:
            out[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


# -- model folders ----------------------------------------------------------------------------------------------
def _copy(src: Path, folder: Path) -> Path:
    dst = folder / "model"
    shutil.copytree(src, dst)
    return dst


def _edit_json(path: Path, **changes: object) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


@asset("dense")
def _dense(assets: Assets, folder: Path) -> Path:
    """A tiny random BERT sentence-transformers model (4 blocks, hidden 32)."""
    return make_tiny_st(folder, "bert", seed=0)


@asset("roberta")
def _roberta(assets: Assets, folder: Path) -> Path:
    """A tiny RoBERTa of the same shapes and tensor names as ``dense``. Not used by a case yet: merging it into
    ``dense`` today succeeds silently (the architectures are never compared)."""
    return make_tiny_st(folder, "roberta", seed=0)


@asset("mote")
def _mote(assets: Assets, folder: Path) -> Path:
    """``dense`` up-cycled: tasks query and document on blocks 1 and 3."""
    from mote.model.sentence import upcycle

    out = folder / "model"
    upcycle(str(assets.get("dense")), ["query", "document"], layers="1,3", out=out, instructions="mote")
    return out


@asset("notmodel")
def _notmodel(assets: Assets, folder: Path) -> Path:
    """An existing folder that holds no model (a README and a text file)."""
    (folder / "README.md").write_text("not a model\n", encoding="utf-8")
    (folder / "notes.txt").write_text("hello\n", encoding="utf-8")
    return folder


@asset("noconfig")
def _noconfig(assets: Assets, folder: Path) -> Path:
    """``dense`` without its config.json (modules.json still says it is a sentence-transformers model). Not used by
    a case yet: today's messages name the file but give no fix (and `upcycle` quotes transformers' misleading one)."""
    out = _copy(assets.get("dense"), folder)
    (out / "config.json").unlink()
    return out


@asset("badjson")
def _badjson(assets: Assets, folder: Path) -> Path:
    """``dense`` whose config.json is cut off mid-object."""
    out = _copy(assets.get("dense"), folder)
    text = (out / "config.json").read_text(encoding="utf-8")
    (out / "config.json").write_text(text[: len(text) // 2], encoding="utf-8")
    return out


@asset("listjson")
def _listjson(assets: Assets, folder: Path) -> Path:
    """``dense`` whose config.json is valid JSON but a list, not an object."""
    out = _copy(assets.get("dense"), folder)
    (out / "config.json").write_text("[1, 2, 3]\n", encoding="utf-8")
    return out


@asset("pickle")
def _pickle(assets: Assets, folder: Path) -> Path:
    """``dense`` saved the old way: pytorch_model.bin (pickle) instead of model.safetensors."""
    import torch
    from safetensors.torch import load_file

    out = _copy(assets.get("dense"), folder)
    torch.save(load_file(str(out / "model.safetensors")), out / "pytorch_model.bin")
    (out / "model.safetensors").unlink()
    return out


def cut_in_half(path: Path) -> None:
    """Truncate a file to its first half (an interrupted download or save)."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


@asset("truncated")
def _truncated(assets: Assets, folder: Path) -> Path:
    """``dense`` with model.safetensors cut in half (an interrupted download)."""
    out = _copy(assets.get("dense"), folder)
    cut_in_half(out / "model.safetensors")
    return out


@asset("mote_truncated")
def _mote_truncated(assets: Assets, folder: Path) -> Path:
    """``mote`` with model.safetensors cut in half."""
    out = _copy(assets.get("mote"), folder)
    cut_in_half(out / "model.safetensors")
    return out


@asset("newer")
def _newer(assets: Assets, folder: Path) -> Path:
    """``mote`` as written by a future mote (mote_version 99.0 in config.json)."""
    out = _copy(assets.get("mote"), folder)
    _edit_json(out / "config.json", mote_version="99.0")
    return out


@asset("reshaped")
def _reshaped(assets: Assets, folder: Path) -> Path:
    """``dense`` with one FFN weight of another shape (a fine-tune of a different-width model)."""
    from safetensors.torch import load_file, save_file

    out = _copy(assets.get("dense"), folder)
    w = out / "model.safetensors"
    tensors = load_file(str(w))
    key = next(k for k in sorted(tensors) if k.endswith("intermediate.dense.weight"))
    tensors[key] = tensors[key][:-1].contiguous()
    save_file(tensors, str(w), metadata={"format": "pt"})
    return out


# -- text inputs -------------------------------------------------------------------------------------------------
@asset("texts")
def _texts(assets: Assets, folder: Path) -> Path:
    """A valid encode input (JSONL with 'text')."""
    path = folder / "in.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in ("first input", "second input")), "utf-8")
    return path


# -- configs ------------------------------------------------------------------------------------------------------
def _write_yaml(path: Path, data: object) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@asset("recipe")
def _recipe(assets: Assets, folder: Path) -> Path:
    """A valid data recipe (one STS-B dataset) whose data_root does not exist."""
    return _write_yaml(folder / "recipe.yaml", {
        "data_root": "no-such-data",
        "datasets": {"stsb": {"max_examples": 8}},
    })


@asset("cfg")
def _cfg(assets: Assets, folder: Path) -> Path:
    """A valid training config: MoTE from ``dense`` on ``recipe`` (its data_root is absent, so it cannot run).

    Run folders are relative, so anything a case writes lands in its own working folder."""
    return _write_yaml(folder / "train.yaml", {
        "model": {"base": str(assets.get("dense")), "mode": "mote", "layers": "1,3", "tasks": ["query", "document"]},
        "data": {"recipe": str(assets.get("recipe")), "sampling": "proportional"},
        "train": {"output_dir": "run", "batch_size": 4, "max_steps": 2, "precision": "fp32",
                  "device": "cpu", "save_steps": 1, "logging_steps": 1},
        "tasks": {"query": {"temperature": 0.02}},
    })


@asset("mcfg")
def _mcfg(assets: Assets, folder: Path) -> Path:
    """A valid merge config: linear merge of ``dense`` with itself (out: relative, the case's working folder)."""
    dense = str(assets.get("dense"))
    return _write_yaml(folder / "merge.yaml", {
        "base": dense, "models": [dense, dense], "method": "linear", "out": "merged",
        "device": "cpu", "progress": False,
    })


@asset("mote_mcfg")
def _mote_mcfg(assets: Assets, folder: Path) -> Path:
    """A valid merge config folding ``mote``'s experts with ties."""
    return _write_yaml(folder / "merge.yaml", {
        "mote_model": str(assets.get("mote")), "method": "ties", "parameters": {"density": 0.5},
        "out": "merged", "device": "cpu", "progress": False,
    })


@asset("fakedata")
def _fakedata(assets: Assets, folder: Path) -> Path:
    """A data root with an (empty) folder per dataset source, so evaluation gets as far as loading the model."""
    from mote.data.evaluations.tasks import TASKS

    for t in TASKS.values():
        (folder / t.source).mkdir(exist_ok=True)
    return folder


@asset("pcfg")
def _pcfg(assets: Assets, folder: Path) -> Path:
    """A valid pipeline config on ``dense`` and ``recipe`` (output_dir: relative, the case's working folder)."""
    return _write_yaml(folder / "pipeline.yaml", {
        "name": "bad-inputs", "base": str(assets.get("dense")), "recipe": str(assets.get("recipe")),
        "output_dir": "pipeline-out", "variants": ["base", "mote"], "seeds": [1], "device": "cpu",
        "budget": {"max_steps": 1, "batch_size": 2, "precision": "fp32"},
        "tasks": {"query": {"temperature": 0.02}},
        "eval": {"suite": "mteb-lite", "tasks": ["STSBenchmark"], "data_root": str(assets.get("fakedata")),
                 "precision": "fp32"},
    })


@asset("results")
def _results(assets: Assets, folder: Path) -> Path:
    """Two evaluation result folders (run-a, run-b) with minimal summary.json files, for `mote compare`."""
    for name, score in (("run-a", 50.0), ("run-b", 60.0)):
        (folder / name).mkdir()
        summary = {"tasks": {"STSBenchmark": {"score": score}}, "type_averages": {"STS": score},
                   "mean_over_types": score, "mean_over_tasks": score}
        (folder / name / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    return folder


# -- damaged or inconsistent models (the "silent" rows of issue 13) -----------------------------------------------
def _poison(folder: Path) -> None:
    """One NaN inside one tensor; the safetensors header stays intact."""
    from safetensors.torch import load_file, save_file

    w = folder / "model.safetensors"
    tensors = load_file(str(w))
    key = next(k for k in sorted(tensors) if k.endswith("attention.self.query.weight"))
    tensors[key][0, 0] = float("nan")
    save_file(tensors, str(w), metadata={"format": "pt"})


@asset("nan_mote")
def _nan_mote(assets: Assets, folder: Path) -> Path:
    """``mote`` with one NaN inside a weight (header intact)."""
    out = _copy(assets.get("mote"), folder)
    _poison(out)
    return out


@asset("nan_dense")
def _nan_dense(assets: Assets, folder: Path) -> Path:
    """``dense`` with one NaN inside a weight (header intact)."""
    out = _copy(assets.get("dense"), folder)
    _poison(out)
    return out


@asset("mote5")
def _mote5(assets: Assets, folder: Path) -> Path:
    """``mote`` (2 experts per bank) whose config.json lists 5 tasks."""
    out = _copy(assets.get("mote"), folder)
    config = json.loads((out / "config.json").read_text(encoding="utf-8"))
    first = config["task_set"]["tasks"][0]
    config["task_set"]["tasks"] += [dict(first, name=n, mteb=[]) for n in ("similarity", "classification", "clustering")]
    (out / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out


@asset("badlayer")
def _badlayer(assets: Assets, folder: Path) -> Path:
    """``mote`` whose config.json names block 9 of a 4-block model."""
    out = _copy(assets.get("mote"), folder)
    _edit_json(out / "config.json", upcycled_layers=[1, 9])
    return out


@asset("nopool")
def _nopool(assets: Assets, folder: Path) -> Path:
    """``dense`` without its 1_Pooling/ folder (modules.json still lists it)."""
    out = _copy(assets.get("dense"), folder)
    shutil.rmtree(out / "1_Pooling")
    return out


@asset("avg")
def _avg(assets: Assets, folder: Path) -> Path:
    """``mote`` expert-averaged: a dense model that keeps the prompts query/document."""
    from mote.model.sentence import average, load

    out = folder / "model"
    average(load(assets.get("mote")), out=out)
    return out


@asset("ro")
def _ro(assets: Assets, folder: Path) -> Path:
    """A folder nobody may write into: a 0555 folder, or for root (who ignores permission bits) a read-only
    file system folder."""
    import os
    import tempfile

    def writable(p: Path) -> bool:
        try:
            fd, name = tempfile.mkstemp(dir=p)
        except OSError:
            return False
        os.close(fd)
        os.unlink(name)
        return True

    locked = folder / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if not writable(locked):
        return locked
    for candidate in (Path("/sys/kernel"), Path("/proc/sys")):
        if candidate.is_dir() and not writable(candidate):
            return candidate
    import pytest

    pytest.skip("no folder this user cannot write to (root on a machine without a read-only file system)")


@asset("trainrun")
def _trainrun(assets: Assets, folder: Path) -> Path:
    """A finished 2-step MoTE run (checkpoints at steps 1 and 2) on a local JSONL dataset: ``train.yaml``,
    ``recipe.yaml``, ``data/pairs.jsonl`` and the run folder ``run/``. Cases pass
    ``--set train.output_dir={trainrun}/run`` (the run of their private copy)."""
    from mote.train.config import load_config
    from mote.train.run import train

    (folder / "data").mkdir()
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa", "lambda", "mu"]
    rows = [{"anchor": f"{words[i % 12]} {words[(i * 5) % 12]} {i}", "positive": f"{words[(i * 7) % 12]} doc {i}"}
            for i in range(24)]
    (folder / "data" / "pairs.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    _write_yaml(folder / "recipe.yaml", {
        "data_root": "data", "dedupe_against_eval": False,
        "datasets": {"pairs": {"source": "generic", "path": "pairs.jsonl", "task": "query"}},
    })
    _write_yaml(folder / "train.yaml", {
        "model": {"base": str(assets.get("dense")), "mode": "mote", "layers": "1,3", "tasks": ["query", "document"],
                  "max_seq_length": 32},
        "data": {"recipe": "recipe.yaml"},
        "train": {"output_dir": str(folder / "run"), "batch_size": 4, "max_steps": 2, "precision": "fp32",
                  "device": "cpu", "save_steps": 1, "logging_steps": 1, "save_total_limit": 2},
    })
    train(load_config(folder / "train.yaml"))
    return folder

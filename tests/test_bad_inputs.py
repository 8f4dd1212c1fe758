"""The bad-input matrix: one bad input per case, fed to the ``mote`` CLI (in-process) or the Python API.

Every case asserts that

1. the CLI exits with ``code`` (2: a clean usage/input error), or the API raises ``exc`` (never a bare
   KeyError/IndexError/AttributeError/RuntimeError);
2. the message names the bad value or file (every string of ``mentions``) and gives a fix (``fix``);
3. no traceback is printed (the CLI's exception is None or SystemExit, "Traceback" is not in its output);
4. no input changed: every file of every asset the case used, and of its working folder (the per-case tmp
   folder, also the current directory), hashes the same before and after, except paths listed in ``outputs``.

Appending a case: add ``Case(id=..., argv=[...], mentions=(...), fix=...)`` to the list of its command below.
Strings in ``argv``, ``mentions``, ``fix`` and ``outputs`` may hold placeholders: ``{tmp}`` (the case's own
folder, also its cwd) or the name of a session asset from ``tests/bad_inputs_helpers.py`` (``{dense}``,
``{mote}``, ``{cfg}``, ``{mcfg}``, ``{pcfg}``, ``{recipe}``, ``{texts}``, ``{probe}``, ``{fakedata}``,
``{results}`` and the broken model folders ``{notmodel}``, ``{noconfig}``, ``{badjson}``, ``{listjson}``,
``{pickle}``, ``{truncated}``, ``{mote_truncated}``, ``{newer}``, ``{reshaped}``); assets are built once per
session, on first use. Literal braces are doubled (``{{``). A case that could modify an asset lists it in
``copy``: its placeholder then points at a private copy inside ``{tmp}``. ``setup`` prepares ``{tmp}`` (see
:func:`write`); ``call`` is a Python-API case: ``call(ctx)`` where ``ctx["name"]`` is a placeholder's path.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from bad_inputs_helpers import Assets, tree_hashes
from mote.cli import app

runner = CliRunner()  # click >= 8.2: result.output holds stdout and stderr (no mix_stderr argument)

BARE = (KeyError, IndexError, AttributeError, RuntimeError)


@dataclass(frozen=True)
class Case:
    id: str
    argv: list[str] | None = None
    call: Callable[[Ctx], object] | None = None
    code: int = 2
    mentions: tuple[str, ...] = ()
    fix: str = ""
    exc: type[BaseException] | None = None
    setup: Callable[[Ctx], None] | None = None
    copy: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()
    env: Mapping[str, str | None] = field(default_factory=dict)
    marks: tuple[Any, ...] = ()


class Ctx(Mapping[str, str]):
    """Placeholder -> path for one case; hashes every asset the moment the case first uses it."""

    def __init__(self, assets: Assets, tmp: Path, copy: tuple[str, ...]) -> None:
        self.assets, self.tmp, self.copy = assets, tmp, copy
        self.before: dict[str, str] = {}
        self.watched: dict[str, Path] = {}

    def _watch(self, name: str) -> None:
        for n in sorted(self.assets.closure(name)):
            if n not in self.watched:
                self.watched[n] = self.assets.root / n
                self.before.update(tree_hashes(self.watched[n]))

    def __getitem__(self, name: str) -> str:
        if name == "tmp":
            return str(self.tmp)
        src = self.assets.get(name)
        if name in self.copy:  # a private copy in {tmp}; what the original was built from is still watched
            for dep in self.assets.closure(name) - {name}:
                self._watch(dep)
            dst = self.tmp / f"copy-of-{name}" / src.name
            if not dst.exists():
                dst.parent.mkdir()
                (shutil.copytree if src.is_dir() else shutil.copy2)(src, dst)
            return str(dst)
        self._watch(name)
        return str(src)

    def __iter__(self) -> Iterator[str]:
        return iter(["tmp", *self.assets.built])

    def __len__(self) -> int:
        return 1 + len(self.assets.built)

    def fmt(self, text: str) -> str:
        return text.format_map(self)

    def snapshot(self, exclude: tuple[Path, ...]) -> dict[str, str]:
        out = tree_hashes(self.tmp, exclude)
        for folder in self.watched.values():
            out.update(tree_hashes(folder))
        return out


# -- setup helpers ------------------------------------------------------------------------------------------------
def write(relpath: str, content: str | bytes) -> Callable[[Ctx], None]:
    """Setup: write ``content`` (text: placeholders filled) to ``{tmp}/relpath``."""

    def setup(ctx: Ctx) -> None:
        path = ctx.tmp / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(ctx.fmt(content), encoding="utf-8")

    return setup


def mkdir(relpath: str) -> Callable[[Ctx], None]:
    """Setup: an (empty) folder ``{tmp}/relpath``."""
    return lambda ctx: (ctx.tmp / relpath).mkdir(parents=True)


def jsonl(*rows: object) -> str:
    """JSONL text; braces doubled so that :func:`write` keeps them."""
    return "".join(json.dumps(r) + "\n" for r in rows).replace("{", "{{").replace("}", "}}")


# -- the cases ----------------------------------------------------------------------------------------------------
OFFLINE_FIX = "give the path of a local model folder"
NOT_A_MODEL_FIX = "expected config.json or modules.json"
TRUNCATED_FIX = "Re-save or re-download the model"
NEWER_FIX = "pip install -U mote-embeddings"
PICKLE_FIX = "mote loads safetensors only, never pickle"
LAYERS_FIX = "Use 'every-other', 'all', 'top-K' or a list of indices in range"

UP = ["upcycle", "--base", "{dense}", "--out", "{tmp}/out"]
UPCYCLE = [
    Case("upcycle-missing-base", ["upcycle", "--base", "{tmp}/no-such-model", "--out", "{tmp}/out"],
         mentions=("no-such-model", "does not exist"), fix=OFFLINE_FIX),
    Case("upcycle-base-not-a-model", ["upcycle", "--base", "{notmodel}", "--out", "{tmp}/out"],
         mentions=("{notmodel}", "is not a model folder"), fix=NOT_A_MODEL_FIX),
    Case("upcycle-unknown-hub-id-offline", ["upcycle", "--base", "someone/no-such-model", "--out", "{tmp}/out"],
         mentions=("'someone/no-such-model'", "HF_HUB_OFFLINE is set"), fix="unset HF_HUB_OFFLINE"),
    Case("upcycle-already-mote", ["upcycle", "--base", "{mote}", "--out", "{tmp}/out"],
         mentions=("already a MoTE model",), fix="up-cycle a dense model"),
    Case("upcycle-instruction-unknown-task", [*UP, "--instruction", "clustr=cluster these: "],
         mentions=("'clustr'",), fix='Did you mean "clustering"?'),
    Case("upcycle-instruction-without-equals", [*UP, "--instruction", "query"],
         mentions=("got 'query'",), fix="TASK=PREFIX"),
    Case("upcycle-task-uppercase", [*UP, "--tasks", "query,Document"],
         mentions=("'Document'",), fix="use a non-empty lower-case identifier"),
    Case("upcycle-task-with-slash", [*UP, "--tasks", "query,a/b"],
         mentions=("'a/b'",), fix="use a non-empty lower-case identifier"),
    Case("upcycle-duplicate-tasks", [*UP, "--tasks", "query,document,query"],
         mentions=("duplicates ['query']",), fix="Task names must be unique"),
    Case("upcycle-unknown-default-task", [*UP, "--default-task", "qurey"],
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("upcycle-default-task-not-in-tasks", [*UP, "--tasks", "query,document", "--default-task", "clustering"],
         mentions=("'clustering'",), fix="Valid default_tasks: document, query"),
    Case("upcycle-layers-empty", [*UP, "--layers", ""], mentions=("Layer spec ''", "blocks 0..3"), fix=LAYERS_FIX),
    Case("upcycle-layers-only-commas", [*UP, "--layers", " , "], mentions=("' , '",), fix=LAYERS_FIX),
    Case("upcycle-layers-top-0", [*UP, "--layers", "top-0"], mentions=("'top-0'", "1..4"),
         fix="use 'every-other', 'all', or indices"),
    Case("upcycle-layers-top-99", [*UP, "--layers", "top-99"], mentions=("'top-99'", "1..4"),
         fix="use 'every-other', 'all', or indices"),
    Case("upcycle-layers-not-a-number", [*UP, "--layers", "x"], mentions=("'x'",),
         fix="indices such as '1,3,5'"),
    Case("upcycle-layers-misspelt-preset", [*UP, "--layers", "every-othr"], mentions=("'every-othr'",),
         fix="use 'every-other'"),
    Case("upcycle-layers-index-out-of-range", [*UP, "--layers", "1,99"], mentions=("'1,99'", "blocks 0..3"),
         fix=LAYERS_FIX),
    Case("upcycle-layers-negative-index", [*UP, "--layers", "-1"], mentions=("negative block index -1",),
         fix="use 'top-K' for the last K blocks"),
    Case("upcycle-existing-out", ["upcycle", "--base", "{dense}", "--out", "{tmp}/existing"], setup=mkdir("existing"),
         mentions=("existing", "already exists"), fix="pass --overwrite"),
    Case("upcycle-out-is-the-base", ["upcycle", "--base", "{dense}", "--out", "{dense}"], copy=("dense",),
         mentions=("{dense}", "already exists"), fix="Choose another --out"),
]

ENC = ["encode", "--precision", "fp32", "--task", "query", "-o", "{tmp}/emb.npy"]
ENCODE = [
    Case("encode-missing-model", [*ENC, "{tmp}/no-such-model", "-i", "{texts}"],
         mentions=("no-such-model",), fix=OFFLINE_FIX),
    Case("encode-pickle-only-model", [*ENC, "{pickle}", "-i", "{texts}"],
         mentions=("model.safetensors", "pytorch_model.bin"), fix=PICKLE_FIX),
    Case("encode-truncated-weights", [*ENC, "{mote_truncated}", "-i", "{texts}"],
         mentions=("{mote_truncated}/model.safetensors", "truncated"), fix=TRUNCATED_FIX),
    Case("encode-newer-mote", [*ENC, "{newer}", "-i", "{texts}"],
         mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
    Case("encode-invalid-jsonl-line", [*ENC, "{mote}", "-i", "{tmp}/bad.jsonl"],
         setup=write("bad.jsonl", '{{"text": "fine"}}\n{{"text": \n'),
         mentions=("bad.jsonl:2", "not valid JSON"), fix="expected one object a line"),
    Case("encode-jsonl-without-text", [*ENC, "{mote}", "-i", "{tmp}/in.jsonl"],
         setup=write("in.jsonl", jsonl({"text": "ok"}, {"txt": "typo"})),
         mentions=("in.jsonl:2", '{{"txt": "typo"}}'), fix="expected an object with a string field 'text'"),
    Case("encode-jsonl-text-not-a-string", [*ENC, "{mote}", "-i", "{tmp}/in.jsonl"],
         setup=write("in.jsonl", jsonl({"text": 5})),
         mentions=("in.jsonl:1", '{{"text": 5}}'), fix="expected an object with a string field 'text'"),
    Case("encode-input-not-utf8", [*ENC, "{mote}", "-i", "{tmp}/latin1.txt"],
         setup=write("latin1.txt", "café au lait\n".encode("latin-1")),
         mentions=("latin1.txt", "not UTF-8"), fix="iconv -f latin1 -t utf-8"),
    Case("encode-unknown-task", ["encode", "--precision", "fp32", "--task", "qurey", "-o", "{tmp}/emb.npy", "{mote}",
                                 "-i", "{texts}"],
         mentions=("'qurey'", "Valid tasks: document, query"), fix='Did you mean "query"?'),
    Case("encode-no-task-for-mote", ["encode", "--precision", "fp32", "-o", "{tmp}/emb.npy", "{mote}", "-i", "{texts}"],
         mentions=("No task given", "query, document"), fix="set a default_task"),
    Case("encode-dense-unknown-task", ["encode", "--precision", "fp32", "--task", "qurey", "-o", "{tmp}/emb.npy",
                                       "{dense}", "-i", "{texts}"],
         mentions=("'qurey'",), fix="--no-instruction"),
    Case("encode-unknown-precision", ["encode", "--precision", "fp64", "--task", "query", "-o", "{tmp}/emb.npy",
                                      "{mote}", "-i", "{texts}"],
         mentions=("'fp64'",), fix="Valid precisions: auto, bf16, fp16, fp32"),
    Case("encode-unknown-device", ["encode", "--device", "gpu", "--task", "query", "-o", "{tmp}/emb.npy", "{mote}",
                                   "-i", "{texts}"],
         mentions=("'gpu'",), fix="Valid devices: auto, cpu, cuda, mps"),
    Case("encode-fp16-on-cpu", ["encode", "--precision", "fp16", "--device", "cpu", "--task", "query",
                                "-o", "{tmp}/emb.npy", "{mote}", "-i", "{texts}"],
         mentions=("'fp16'", "not supported on CPU"), fix="Use auto, fp32 or bf16 on CPU"),
    Case("encode-cuda-without-gpu", ["encode", "--device", "cuda", "--task", "query", "-o", "{tmp}/emb.npy", "{mote}",
                                     "-i", "{texts}"],
         mentions=("'cuda'", "no CUDA GPU"), fix="Use --device auto or cpu",
         marks=(pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU"),)),
    Case("encode-batch-size-0", ["encode", "--batch-size", "0", "--task", "query", "-o", "{tmp}/emb.npy", "{mote}",
                                 "-i", "{texts}"],
         mentions=("'--batch-size'",), fix="greater than or equal to 1"),
    Case("encode-existing-output", [*ENC[:-2], "-o", "{tmp}/emb.npy", "{mote}", "-i", "{texts}"],
         setup=write("emb.npy", "earlier result"), mentions=("emb.npy", "already exists"), fix="pass --overwrite"),
    Case("encode-output-is-a-folder", [*ENC[:-2], "-o", "{tmp}/outdir", "{mote}", "-i", "{texts}"],
         setup=mkdir("outdir"), mentions=("outdir", "is a folder"), fix="--output takes a .npy file path"),
    Case("encode-missing-output-option", ["encode", "--task", "query", "{mote}", "-i", "{texts}"],
         mentions=("Missing option '--output'",), fix="Try 'mote encode --help'"),
    Case("encode-misspelt-option", ["encode", "--precison", "fp32", "--task", "query", "-o", "{tmp}/emb.npy",
                                    "{mote}", "-i", "{texts}"],
         mentions=("--precison",), fix="Possible options: --precision"),
]

AVG = ["average", "{mote}", "--out", "{tmp}/avg"]
AVERAGE = [
    Case("average-dense-model", ["average", "{dense}", "--out", "{tmp}/avg"],
         mentions=("dense BertModel model",), fix="up-cycle it first"),
    Case("average-not-a-model", ["average", "{notmodel}", "--out", "{tmp}/avg"],
         mentions=("{notmodel}",), fix=NOT_A_MODEL_FIX),
    Case("average-newer-mote", ["average", "{newer}", "--out", "{tmp}/avg"],
         mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
    Case("average-weights-count-mismatch", [*AVG, "--weights", "1,2,3"],
         mentions=("Got 3 expert weights for 2 experts",), fix="give one weight per task"),
    Case("average-negative-weight", [*AVG, "--weights", "-1,2"],
         mentions=("[-1.0, 2.0]",), fix="must be >= 0 with a positive sum"),
    Case("average-zero-sum-weights", [*AVG, "--weights", "0,0"],
         mentions=("[0.0, 0.0]",), fix="must be >= 0 with a positive sum"),
    Case("average-nan-weight", [*AVG, "--weights", "nan,1"],
         mentions=("[nan, 1.0]",), fix="Give one finite weight >= 0 per task"),
    Case("average-unknown-task-in-weights", [*AVG, "--weights", "qurey=1,document=1"],
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("average-unparsable-weights", [*AVG, "--weights", "a,b"],
         mentions=("'a,b'",), fix="use 'query=2,document=1' or '0.5,0.25,...'"),
    Case("average-mixed-weight-forms", [*AVG, "--weights", "query=1,2"],
         mentions=("'query=1,2'",), fix="use 'query=2,document=1' or '0.5,0.25,...'"),
    Case("average-existing-out", ["average", "{mote}", "--out", "{tmp}/existing"], setup=mkdir("existing"),
         mentions=("existing", "already exists"), fix="pass --overwrite"),
    Case("average-missing-out-option", ["average", "{mote}"],
         mentions=("Missing option '--out'",), fix="Try 'mote average --help'"),
]

INFO = [
    Case("info-missing-model", ["info", "{tmp}/no-such-model"],
         mentions=("no-such-model", "does not exist"), fix=OFFLINE_FIX),
    Case("info-not-a-model", ["info", "{notmodel}"], mentions=("{notmodel}",), fix=NOT_A_MODEL_FIX),
    Case("info-model-is-a-file", ["info", "{tmp}/model.txt"], setup=write("model.txt", "hello"),
         mentions=("model.txt", "is not a model folder"), fix=NOT_A_MODEL_FIX),
    Case("info-corrupt-config-json", ["info", "{badjson}"],
         mentions=("{badjson}/config.json", "Corrupt JSON"), fix="Re-save the model or restore the file"),
    Case("info-config-json-not-an-object", ["info", "{listjson}"],
         mentions=("{listjson}/config.json", "found list"), fix="should hold a JSON object"),
    Case("info-pickle-only-model", ["info", "{pickle}"],
         mentions=("model.safetensors", "pytorch_model.bin"), fix=PICKLE_FIX),
    Case("info-truncated-weights", ["info", "{truncated}"],
         mentions=("{truncated}/model.safetensors", "truncated"), fix=TRUNCATED_FIX),
    Case("info-newer-mote", ["info", "{newer}"], mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
]

TR = ["train", "{cfg}", "--set"]
TRAIN = [
    Case("train-invalid-yaml", ["train", "{tmp}/bad.yaml"], setup=write("bad.yaml", "model: [\n"),
         mentions=("bad.yaml", "not valid YAML"), fix="line 2, column 1"),
    Case("train-top-level-list", ["train", "{tmp}/list.yaml"], setup=write("list.yaml", "- model\n- data\n"),
         mentions=("list.yaml", "got list"), fix="expected a mapping at the top level"),
    Case("train-config-not-utf8", ["train", "{tmp}/latin1.yaml"],
         setup=write("latin1.yaml", "model: {base: café}\n".encode("latin-1")),
         mentions=("latin1.yaml", "not UTF-8"), fix="Save the file as UTF-8"),
    Case("train-empty-config", ["train", "{tmp}/empty.yaml"], setup=write("empty.yaml", "# nothing yet\n"),
         mentions=("empty.yaml", "data Field required", "train Field required"), fix="Field required"),
    Case("train-bad-mode", [*TR, "model.mode=moe"],
         mentions=("model.mode", "'moe'"), fix="Input should be 'mote', 'joint' or 'separate'"),
    Case("train-bad-sampling", [*TR, "data.sampling=random"],
         mentions=("data.sampling", "'random'"), fix="Input should be 'proportional', 'round-robin', 'temperature' or 'ratio'"),
    Case("train-batch-size-not-an-int", [*TR, "train.batch_size=many"],
         mentions=("train.batch_size", "'many'"), fix="Input should be a valid integer"),
    Case("train-negative-learning-rate", [*TR, "train.learning_rate=-1"],
         mentions=("train.learning_rate", "input_value=-1"), fix="Input should be greater than 0"),
    Case("train-unknown-precision-flag", ["train", "{cfg}", "--precision", "fp64"],
         mentions=("train.precision", "'fp64'"), fix="Input should be 'auto', 'fp32', 'bf16' or 'fp16'"),
    Case("train-unknown-device-flag", ["train", "{cfg}", "--device", "gpu"],
         mentions=("train.device", "'gpu'"), fix="Input should be 'auto', 'cpu', 'cuda' or 'mps'"),
    Case("train-bf16-and-precision", [*TR, "train.bf16=true"],
         mentions=("bf16=True", "precision='fp32'"), fix="Remove the 'bf16' key"),
    Case("train-ratios-without-ratio-sampling", [*TR, "data.ratios={{query: 1.0}}"],
         mentions=("data.ratios", "'proportional'"), fix="Set data.sampling: ratio, or remove data.ratios"),
    Case("train-unknown-task-in-tasks", [*TR, "tasks.qurey.temperature=0.1"],
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("train-unknown-loss", [*TR, "tasks.query.loss=infonc"],
         mentions=("'infonc'",), fix='Did you mean "infonce"?'),
    Case("train-unknown-task-in-serves", [*TR, "model.serves={{qurey: [STS]}}"],
         mentions=("'qurey'", "model.serves"), fix='Did you mean "query"?'),
    Case("train-unknown-task-in-instruction-overrides", [*TR, "model.instruction_overrides={{documnt: 'doc: '}}"],
         mentions=("'documnt'",), fix='Did you mean "document"?'),
    Case("train-mini-batch-above-batch", [*TR, "train.mini_batch_size=64"],
         mentions=("train.mini_batch_size (64)", "train.batch_size (4)"), fix="must be <="),
    Case("train-set-without-equals", [*TR, "train.max_steps"],
         mentions=("'train.max_steps'",), fix="e.g. --set train.max_steps=20"),
    Case("train-set-invalid-yaml-value", [*TR, "train.max_steps=[1"],
         mentions=("'[1'", "not valid YAML"), fix="Quote it as a string"),
    Case("train-set-empty-key", [*TR, "=5"], mentions=("'=5'",), fix="expected key.sub=value"),
    Case("train-fp16-on-cpu", [*TR, "train.precision=fp16"],
         mentions=("'fp16'", "not supported on CPU"), fix="Use auto, fp32 or bf16 on CPU"),
    Case("train-data-root-missing", ["train", "{cfg}"],
         mentions=("no-such-data", "does not exist"), fix="pass data_root=... or fix the recipe"),
    Case("train-recipe-unknown-source", [*TR, "data.recipe={tmp}/recipe.yaml"],
         setup=write("recipe.yaml", "datasets:\n  stsbb: {{max_examples: 8}}\n"),
         mentions=("recipe.yaml", "'stsbb'"), fix='Did you mean "stsb"?'),
    Case("train-recipe-unknown-task", [*TR, "data.recipe={tmp}/recipe.yaml"],
         setup=write("recipe.yaml", "datasets:\n  stsb: {{task: simlarity}}\n"),
         mentions=("recipe.yaml", "'simlarity'"), fix='Did you mean "similarity"?'),
    Case("train-recipe-evaluated-split", [*TR, "data.recipe={tmp}/recipe.yaml"],
         setup=write("recipe.yaml", "datasets:\n  stsb: {{split: test}}\n"),
         mentions=("recipe.yaml", "split 'test'", "STSBenchmark"), fix="Trainable splits: ['train']"),
    Case("train-recipe-hard-negatives-on-scored-pairs", [*TR, "data.recipe={tmp}/recipe.yaml"],
         setup=write("recipe.yaml", "datasets:\n  stsb: {{hard_negatives: 2}}\n"),
         mentions=("recipe.yaml", "'stsb' gives scored pairs"), fix="set hard_negatives: 0"),
]

MG = ["merge", "{mcfg}", "--set"]
MERGE = [
    Case("merge-invalid-yaml", ["merge", "{tmp}/bad.yaml"], setup=write("bad.yaml", "method: 'ties\n"),
         mentions=("bad.yaml", "not valid YAML"), fix="line 1, column 9"),
    Case("merge-top-level-list", ["merge", "{tmp}/list.yaml"], setup=write("list.yaml", "- ties\n"),
         mentions=("list.yaml", "got list"), fix="expected a mapping at the top level"),
    Case("merge-unknown-method", [*MG, "method=tie"], mentions=("'tie'",), fix='Did you mean "ties"?'),
    Case("merge-unknown-parameter", [*MG, "method=ties", "--set", "parameters.densty=0.5"],
         mentions=("'densty'",), fix='Did you mean "density"?'),
    Case("merge-density-out-of-range", [*MG, "method=ties", "--set", "parameters.density=1.5"],
         mentions=("density=1.5",), fix="in (0, 1]"),
    Case("merge-negative-lambda", [*MG, "method=ties", "--set", "parameters.lambda=-1"],
         mentions=("lambda=-1.0",), fix="must be >= 0"),
    Case("merge-parameter-wrong-type", [*MG, "method=ties", "--set", "parameters.density=high"],
         mentions=("'density'", "'high'"), fix="Example: density: 0.5"),
    Case("merge-missing-required-parameter", [*MG, "method=dare_ties"],
         mentions=("'dare_ties'", "'density'"), fix="Add it under parameters"),
    Case("merge-rescale-as-bool", [*MG, "method=dare_linear", "--set", "parameters={{density: 0.5, rescale: true}}"],
         mentions=("'rescale'", "got True"), fix="mergekit's rescale: true is 'l1'"),
    Case("merge-rescale-unknown-choice", [*MG, "method=dare_linear", "--set",
                                          "parameters={{density: 0.5, rescale: l2}}"],
         mentions=("rescale='l2'",), fix="choose one of 'l1', 'inverse', 'none'"),
    Case("merge-weights-count-mismatch", [*MG, "parameters.weights=[1, 2, 3]"],
         mentions=("2 models but 3 weights",), fix="give one weight per model"),
    Case("merge-slerp-one-model", [*MG, "method=slerp", "--set", "models=[{dense}]"],
         mentions=("'slerp'", "got 1"), fix="pick a method that works with 1"),
    Case("merge-zero-models", [*MG, "models=[]"], mentions=("`models` is empty",),
         fix="list the fine-tuned model folders"),
    Case("merge-models-and-mote-model", [*MG, "mote_model={mote}"],
         mentions=("`models`", "`mote_model`"), fix="Give exactly one of"),
    Case("merge-models-without-base", [*MG, "base=null"], mentions=("`models` needs `base`",),
         fix="the dense model they were fine-tuned from"),
    Case("merge-model-tasks-count-mismatch", [*MG, "model_tasks=[query]"],
         mentions=("1 entries for 2 models",), fix="give one task per model"),
    Case("merge-probe-method-without-probe", [*MG, "method=fisher"],
         mentions=("'fisher'",), fix="add probe: {{jsonl: PATH, size: 256}}"),
    Case("merge-self-positioning-zero-steps", [*MG, "method=self_positioning", "--set", "probe.jsonl={probe}",
                                               "--set", "parameters.steps=0"],
         mentions=("self_positioning", "steps"), fix="Input should be greater than or equal to 1"),
    Case("merge-unknown-device", [*MG, "device=gpu"], mentions=("device", "'gpu'"),
         fix="Input should be 'auto', 'cpu', 'cuda' or 'mps'"),
    Case("merge-unknown-precision-flag", ["merge", "{mcfg}", "--precision", "fp64"], mentions=("precision", "'fp64'"),
         fix="Input should be 'auto', 'fp32', 'bf16' or 'fp16'"),
    Case("merge-set-without-equals", [*MG, "out"], mentions=("'out'",), fix="e.g. parameters.density=0.5"),
    Case("merge-existing-out", [*MG, "out={tmp}/existing"], setup=mkdir("existing"),
         mentions=("existing", "already exists"), fix="set overwrite: true"),
    Case("merge-missing-base-model", [*MG, "base={tmp}/no-such-base"],
         mentions=("no-such-base",), fix=OFFLINE_FIX),
    Case("merge-model-not-a-model", [*MG, "models=[{dense}, {notmodel}]"],
         mentions=("{notmodel}",), fix=NOT_A_MODEL_FIX),
    Case("merge-model-shape-mismatch", [*MG, "models=[{dense}, {reshaped}]"],
         mentions=("intermediate.dense.weight", "(48, 32)", "(47, 32)", "{reshaped}"),
         fix="Merge only fine-tunes of the same base architecture and size"),
    Case("merge-mote-model-in-models", [*MG, "models=[{dense}, {mote}]"],
         mentions=("{mote}", "has no tensor"), fix="Merge only fine-tunes of the same base architecture"),
    Case("merge-pickle-only-model", [*MG, "models=[{dense}, {pickle}]"],
         mentions=("{pickle}", "pytorch_model.bin"), fix="re-save the model with safetensors"),
    Case("merge-truncated-model", [*MG, "models=[{dense}, {truncated}]"],
         mentions=("{truncated}/model.safetensors",), fix=TRUNCATED_FIX),
    Case("merge-mote-model-is-dense", ["merge", "{mote_mcfg}", "--set", "mote_model={dense}"],
         mentions=("dense BertModel model",), fix="up-cycle it first"),
    Case("merge-mote-model-newer-mote", ["merge", "{mote_mcfg}", "--set", "mote_model={newer}"],
         mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
    Case("merge-probe-invalid-json", [*MG, "method=fisher", "--set", "probe.jsonl={tmp}/probe.jsonl"],
         setup=write("probe.jsonl", jsonl({"anchor": "a", "positive": "b", "task": "query"}) + "{{oops\n"),
         mentions=("probe.jsonl:2", "not valid JSON"), fix="Expecting property name enclosed in double quotes"),
    Case("merge-probe-row-without-positive", [*MG, "method=fisher", "--set", "probe.jsonl={tmp}/probe.jsonl"],
         setup=write("probe.jsonl", jsonl(*[{"anchor": "a", "task": "query"}] * 2)),
         mentions=("['positive']",), fix='Each example needs {{"anchor": str, "positive": str, "task": str}}'),
    Case("merge-probe-misses-an-expert", ["merge", "{mote_mcfg}", "--set", "method=fisher", "--set", "parameters={{}}",
                                          "--set", "probe.jsonl={tmp}/probe.jsonl"],
         setup=write("probe.jsonl", jsonl(*[{"anchor": "a", "positive": "b", "task": "document"}] * 2)),
         mentions=("expert 'query'",), fix="add examples of it"),
]

PL = ["pipeline", "{pcfg}", "--set"]
PIPELINE = [
    Case("pipeline-invalid-yaml", ["pipeline", "{tmp}/bad.yaml"], setup=write("bad.yaml", "name: 'x\n"),
         mentions=("bad.yaml", "not valid YAML"), fix="line 1, column 7"),
    Case("pipeline-top-level-list", ["pipeline", "{tmp}/list.yaml"], setup=write("list.yaml", "[1, 2]\n"),
         mentions=("list.yaml", "got list"), fix="expected a mapping at the top level"),
    Case("pipeline-missing-recipe", ["pipeline", "{tmp}/norecipe.yaml"], setup=write("norecipe.yaml", "output_dir: x\n"),
         mentions=("norecipe.yaml", "recipe Field required"), fix="Field required"),
    Case("pipeline-unknown-variant", [*PL, "variants=[mote-sp2]"], mentions=("'mote-sp2'",),
         fix='Did you mean "mote-sp"?'),
    Case("pipeline-unknown-baseline", [*PL, "baseline=jont-instr"], mentions=("'jont-instr'",),
         fix='Did you mean "joint-instr"?'),
    Case("pipeline-unknown-key-variant", [*PL, "key_variants=[mote-eaa]"], mentions=("'mote-eaa'",),
         fix='Did you mean "mote-ea"?'),
    Case("pipeline-max-steps-not-an-int", [*PL, "budget.max_steps=many"],
         mentions=("budget.max_steps", "'many'"), fix="Input should be a valid integer"),
    Case("pipeline-unknown-precision-flag", ["pipeline", "{pcfg}", "--precision", "fp64"],
         mentions=("budget.precision", "eval.precision", "'fp64'"), fix="Input should be 'auto', 'fp32', 'bf16' or 'fp16'"),
    Case("pipeline-bf16-and-precision", [*PL, "budget.bf16=true"],
         mentions=("budget", "bf16=True"), fix="Remove the 'bf16' key"),
    Case("pipeline-eval-bf16-and-precision", [*PL, "eval.bf16=false"],
         mentions=("eval", "bf16=False"), fix="Remove the 'bf16' key"),
    Case("pipeline-unknown-task-in-tasks", [*PL, "tasks.qurey.temperature=0.1"],
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("pipeline-unknown-merge-method", [*PL, "merge.parameters={{tie: {{density: 0.5}}}}"],
         mentions=("'tie'",), fix='Did you mean "ties"?'),
    Case("pipeline-unknown-task-in-serves", [*PL, "serves={{foo: [STS]}}"],
         mentions=("'foo'",), fix="Valid task in serves"),
    Case("pipeline-serves-clash", [*PL, "serves={{query: [STS]}}"],
         mentions=("'STS'", "'query'", "'similarity'"), fix="map each MTEB task type/role to one task"),
    Case("pipeline-duplicate-tasks", [*PL, "task_set=[query, document, query]"],
         mentions=("duplicates ['query']",), fix="Task names must be unique"),
    Case("pipeline-temperature-alpha-above-1", [*PL, "temperature_alpha=2"],
         mentions=("temperature_alpha",), fix="Input should be less than or equal to 1"),
    Case("pipeline-set-without-equals", [*PL, "budget"], mentions=("'budget'",), fix="e.g. budget.max_steps=20"),
]

EV = ["evaluate", "--data-root", "{fakedata}", "--tasks", "STSBenchmark", "--precision", "fp32"]
EVALUATE = [
    Case("evaluate-unknown-suite", ["evaluate", "{mote}", "--suite", "mteb-lit"],
         mentions=("'mteb-lit'",), fix='Did you mean "mteb-lite"?'),
    Case("evaluate-unknown-task", ["evaluate", "{mote}", "--tasks", "STSBenchmrk"],
         mentions=("'STSBenchmrk'",), fix='Did you mean "STSBenchmark"?'),
    Case("evaluate-task-of-another-suite", ["evaluate", "{mote}", "--tasks", "TRECQuestionType"],
         mentions=("'TRECQuestionType'",), fix="use suite 'extended' for the others"),
    Case("evaluate-unknown-task-type", ["evaluate", "{mote}", "--task-types", "STSS"],
         mentions=("'STSS'",), fix='Did you mean "STS"?'),
    Case("evaluate-filters-disagree", ["evaluate", "{mote}", "--tasks", "STSBenchmark", "--task-types", "Retrieval"],
         mentions=("tasks=['STSBenchmark']", "task_types=['Retrieval']"), fix="drop one of the filters"),
    Case("evaluate-no-data-root", ["evaluate", "{mote}", "--tasks", "STSBenchmark"], env={"MOTE_DATA_ROOT": None},
         mentions=("No data_root given",), fix="--data-root ../shared/data"),
    Case("evaluate-data-root-lacks-datasets", ["evaluate", "{mote}", "--tasks", "STSBenchmark",
                                               "--data-root", "{tmp}/data"], setup=mkdir("data"),
         mentions=("{tmp}/data", "['stsbenchmark']"), fix="Point data_root at the shared data folder"),
    Case("evaluate-missing-model", [*EV, "{tmp}/no-such-model"], mentions=("no-such-model",), fix=OFFLINE_FIX),
    Case("evaluate-pickle-only-model", [*EV, "{pickle}"],
         mentions=("model.safetensors", "pytorch_model.bin"), fix=PICKLE_FIX),
    Case("evaluate-truncated-weights", [*EV, "{truncated}"],
         mentions=("{truncated}/model.safetensors",), fix=TRUNCATED_FIX),
    Case("evaluate-newer-mote", [*EV, "{newer}"], mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
    Case("evaluate-unknown-precision", ["evaluate", "--data-root", "{fakedata}", "--tasks", "STSBenchmark",
                                        "--precision", "fp64", "{mote}"],
         mentions=("'fp64'",), fix="Valid precisions: auto, bf16, fp16, fp32"),
    Case("evaluate-bf16-and-precision", [*EV, "--bf16", "{mote}"],
         mentions=("bf16=True", "precision='fp32'"), fix="give only precision="),
    Case("evaluate-batch-size-0", ["evaluate", "{mote}", "--batch-size", "0"],
         mentions=("'--batch-size'",), fix="greater than or equal to 1"),
]

COMPARE = [
    Case("compare-missing-result-folder", ["compare", "{tmp}/no-such-run", "--baseline", "no-such-run"],
         mentions=("no-such-run", "No summary.json"), fix="pass folders written by evaluate(out=...)"),
    Case("compare-unknown-baseline", ["compare", "{results}/run-a", "{results}/run-b", "--baseline", "rn-a"],
         mentions=("'rn-a'", "run-a, run-b"), fix='Did you mean "run-a"?'),
    Case("compare-missing-baseline-option", ["compare", "{results}/run-a"],
         mentions=("Missing option '--baseline'",), fix="Try 'mote compare --help'"),
]

DOCTOR = [
    Case("doctor-negative-seconds", ["doctor", "--seconds", "-1"],
         mentions=("'--seconds'",), fix="greater than or equal to 0"),
    Case("doctor-seconds-not-a-number", ["doctor", "--seconds", "abc"],
         mentions=("'--seconds'",), fix="Input should be a valid number"),
    Case("doctor-misspelt-option", ["doctor", "--jsn"], mentions=("--jsn",), fix="Possible options: --json"),
    Case("mote-misspelt-command", ["upcycel"], mentions=("'upcycel'",), fix="Did you mean 'upcycle'?"),
]


# -- Python API cases: call(ctx) must raise exc --------------------------------------------------------------------
def _load(ref: str) -> object:
    from mote.model.sentence import load

    return load(ref)


def _upcycle(base: str, tasks: list[str], layers: str = "every-other") -> object:
    from mote.model.sentence import upcycle

    return upcycle(base, tasks, layers=layers)


def _encode_mote(ctx: Ctx, **kwargs: Any) -> object:
    from mote.model.sentence import load

    return load(ctx["mote"]).encode(["some text", "more text"], **kwargs)


def _average(ctx: Ctx, weights: Any) -> object:
    from mote.model.sentence import average, load

    return average(load(ctx["mote"]), weights)


def _get_method(name: str, parameters: dict[str, Any] | None = None, n: int | None = None) -> object:
    from mote.merge import get_method

    method = get_method(name)
    return method.validate(parameters or {}, n) if parameters is not None else method


def _select_tasks(suite: str, **kwargs: Any) -> object:
    from mote.evaluate import select_tasks

    return select_tasks(suite, **kwargs)


def _resolve_runtime(precision: str, device: str) -> object:
    from mote.runtime import resolve

    return resolve(precision, device)


def _for_mteb(task_type: str) -> object:
    from mote.tasks import TaskSet

    return TaskSet.from_names(["query", "document"]).for_mteb(task_type, None)


def _compare_nothing() -> object:
    from mote.evaluate import compare

    return compare([], "baseline", png=None)


API = [
    Case("api-load-missing-model", call=lambda ctx: _load(ctx.fmt("{tmp}/no-such-model")), exc=FileNotFoundError,
         mentions=("no-such-model",), fix=OFFLINE_FIX),
    Case("api-load-newer-mote", call=lambda ctx: _load(ctx["newer"]), exc=ValueError,
         mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
    Case("api-upcycle-already-mote", call=lambda ctx: _upcycle(ctx["mote"], ["query"]), exc=ValueError,
         mentions=("already a MoTE model",), fix="up-cycle a dense model"),
    Case("api-upcycle-layers-out-of-range", call=lambda ctx: _upcycle(ctx["dense"], ["query"], "4"), exc=ValueError,
         mentions=("'4'", "blocks 0..3"), fix=LAYERS_FIX),
    Case("api-encode-unknown-task", call=lambda ctx: _encode_mote(ctx, task="qurey"), exc=ValueError,
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("api-encode-no-task", call=lambda ctx: _encode_mote(ctx), exc=ValueError,
         mentions=("No task given",), fix="pass task=..."),
    Case("api-encode-task-count-mismatch", call=lambda ctx: _encode_mote(ctx, task=["query"]), exc=ValueError,
         mentions=("Got 1 tasks for 2 inputs",), fix="give one task, or one per input"),
    Case("api-average-weights-count-mismatch", call=lambda ctx: _average(ctx, [1.0, 1.0, 1.0]), exc=ValueError,
         mentions=("Got 3 expert weights for 2 experts",), fix="give one weight per task"),
    Case("api-unknown-merge-method", call=lambda ctx: _get_method("tie"), exc=ValueError,
         mentions=("'tie'",), fix='Did you mean "ties"?'),
    Case("api-merge-parameter-misspelt", call=lambda ctx: _get_method("ties", {"densty": 0.5}), exc=ValueError,
         mentions=("'densty'",), fix='Did you mean "density"?'),
    Case("api-merge-too-few-models", call=lambda ctx: _get_method("slerp", {}, 1), exc=ValueError,
         mentions=("got 1",), fix="Add models"),
    Case("api-unknown-suite", call=lambda ctx: _select_tasks("mteb-lit"), exc=ValueError,
         mentions=("'mteb-lit'",), fix='Did you mean "mteb-lite"?'),
    Case("api-fp16-on-cpu", call=lambda ctx: _resolve_runtime("fp16", "cpu"), exc=ValueError,
         mentions=("'fp16'",), fix="Use auto, fp32 or bf16 on CPU"),
    Case("api-unmapped-mteb-type", call=lambda ctx: _for_mteb("STS"), exc=ValueError,
         mentions=("'STS'", "['query', 'document']"), fix="Add 'STS' to one task's 'mteb' list"),
    Case("api-compare-nothing", call=lambda ctx: _compare_nothing(), exc=ValueError,
         mentions=("result folder",), fix="Pass at least one result folder"),
]

CASES: list[Case] = [*UPCYCLE, *ENCODE, *AVERAGE, *INFO, *TRAIN, *MERGE, *PIPELINE, *EVALUATE, *COMPARE, *DOCTOR, *API]


# -- the test -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bad_input_assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    """The session's input assets (models, broken model folders, configs), built lazily on first use."""
    return Assets(tmp_path_factory.mktemp("bad-input-assets"))


def _norm(text: str) -> str:
    """Whitespace collapsed and rich's box drawing removed, so wrapped usage errors match too."""
    return " ".join(text.translate({ord(c): " " for c in "│╭╮╰╯─"}).split())


def _check_message(text: str, case: Case, ctx: Ctx) -> None:
    norm = _norm(text)
    for m in case.mentions:
        assert _norm(ctx.fmt(m)) in norm, f"{case.id}: the message does not name {ctx.fmt(m)!r}:\n{text}"
    assert _norm(ctx.fmt(case.fix)) in norm, f"{case.id}: the message lacks the fix {ctx.fmt(case.fix)!r}:\n{text}"


def test_cases_are_well_formed() -> None:
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted({i for i in ids if ids.count(i) > 1})
    for c in CASES:
        assert (c.argv is None) != (c.call is None), c.id
        assert c.fix and (c.mentions or c.call), c.id
        assert c.call is None or (c.exc is not None and not issubclass(c.exc, BARE)), c.id


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id, marks=c.marks) for c in CASES])
def test_bad_input(case: Case, bad_input_assets: Assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)  # stray relative writes (default --out, png, runs/...) land here and are caught
    ctx = Ctx(bad_input_assets, work, case.copy)
    for name in case.copy:
        ctx[name]
    if case.setup is not None:
        case.setup(ctx)
    argv = [ctx.fmt(a) for a in case.argv] if case.argv is not None else None
    outputs = tuple(Path(ctx.fmt(o)) for o in case.outputs)
    before = ctx.snapshot(outputs)

    if argv is not None:
        result = runner.invoke(app, argv, env=dict(case.env))
        shown = f"exit {result.exit_code}, exception {result.exception!r}, output:\n{result.output}"
        assert result.exception is None or isinstance(result.exception, SystemExit), shown
        assert "Traceback" not in result.output, shown
        assert result.exit_code == case.code, shown
        _check_message(result.output, case, ctx)
    else:
        assert case.call is not None and case.exc is not None
        with pytest.raises(BaseException) as info:
            case.call(ctx)
        err = info.value
        assert isinstance(err, case.exc), f"{case.id}: {type(err).__name__} is not a {case.exc.__name__}: {err}"
        assert type(err) not in BARE, f"{case.id}: bare {type(err).__name__}: {err}"
        _check_message(str(err), case, ctx)

    before = {**ctx.before, **before}  # assets a call first used mid-run were hashed at that first use
    after = ctx.snapshot(outputs)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"{case.id}: inputs or the working folder changed: {changed[:10]}"

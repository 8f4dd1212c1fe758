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
``{mote}``, ``{cfg}``, ``{mcfg}``, ``{mote_mcfg}``, ``{pcfg}``, ``{recipe}``, ``{texts}``, ``{fakedata}``,
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

from bad_inputs_helpers import Assets, cut_in_half, tree_hashes
from mote.cli import app

runner = CliRunner()  # click >= 8.2: result.output holds stdout and stderr (no mix_stderr argument)

BARE = (KeyError, IndexError, AttributeError, RuntimeError)


@dataclass(frozen=True)
class Case:
    id: str  # the test id: "<command>-<what is wrong>"
    argv: list[str] | None = None  # a CLI case: the arguments after `mote`
    call: Callable[[Ctx], object] | None = None  # ... or a Python-API case
    code: int = 2  # the CLI's exit code
    mentions: tuple[str, ...] = ()  # substrings naming the bad value / file (all must appear)
    fix: str = ""  # the substring that tells the user what to do (required)
    exc: type[BaseException] | None = None  # the API case's exception type (isinstance)
    setup: Callable[[Ctx], None] | None = None  # prepares {tmp} before the "before" hashes
    copy: tuple[str, ...] = ()  # assets the case could modify: their placeholders point at private copies
    outputs: tuple[str, ...] = ()  # paths the command may legitimately write (left out of the hash check)
    env: Mapping[str, str | None] = field(default_factory=dict)  # CliRunner env (None: unset the variable)
    marks: tuple[Any, ...] = ()  # pytest marks, e.g. a skipif


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
    Case("upcycle-already-mote", ["upcycle", "--base", "{mote}", "--out", "{tmp}/out"],
         mentions=("already a MoTE model",), fix="up-cycle a dense model"),
    Case("upcycle-instruction-unknown-task", [*UP, "--instruction", "clustr=cluster these: "],
         mentions=("'clustr'",), fix='Did you mean "clustering"?'),
    Case("upcycle-instruction-without-equals", [*UP, "--instruction", "query"],
         mentions=("got 'query'",), fix="TASK=PREFIX"),
    Case("upcycle-layers-empty", [*UP, "--layers", ""], mentions=("Layer spec ''", "blocks 0..3"), fix=LAYERS_FIX),
    Case("upcycle-layers-top-0", [*UP, "--layers", "top-0"], mentions=("'top-0'", "1..4"),
         fix="use 'every-other', 'all', or indices"),
    Case("upcycle-layers-top-99", [*UP, "--layers", "top-99"], mentions=("'top-99'", "1..4"),
         fix="use 'every-other', 'all', or indices"),
    Case("upcycle-layers-not-a-number", [*UP, "--layers", "x"], mentions=("'x'",),
         fix="indices such as '1,3,5'"),
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
    Case("encode-input-not-utf8", [*ENC, "{mote}", "-i", "{tmp}/latin1.txt"],
         setup=write("latin1.txt", "café au lait\n".encode("latin-1")),
         mentions=("latin1.txt", "not UTF-8"), fix="iconv -f latin1 -t utf-8"),
    Case("encode-unknown-task", ["encode", "--precision", "fp32", "--task", "qurey", "-o", "{tmp}/emb.npy", "{mote}",
                                 "-i", "{texts}"],
         mentions=("'qurey'", "Valid tasks: document, query"), fix='Did you mean "query"?'),
    Case("encode-no-task-for-mote", ["encode", "--precision", "fp32", "-o", "{tmp}/emb.npy", "{mote}", "-i", "{texts}"],
         mentions=("No task given", "query, document"), fix="set a default_task"),
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
]

AVG = ["average", "{mote}", "--out", "{tmp}/avg"]
AVERAGE = [
    Case("average-dense-model", ["average", "{dense}", "--out", "{tmp}/avg"],
         mentions=("dense BertModel model",), fix="up-cycle it first"),
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
    Case("average-existing-out", ["average", "{mote}", "--out", "{tmp}/existing"], setup=mkdir("existing"),
         mentions=("existing", "already exists"), fix="pass --overwrite"),
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
    Case("train-empty-config", ["train", "{tmp}/empty.yaml"], setup=write("empty.yaml", "# nothing yet\n"),
         mentions=("empty.yaml", "data: missing", "train: missing"), fix="add it to the config"),
    Case("train-bad-mode", [*TR, "model.mode=moe"],
         mentions=("model.mode", "'moe'"), fix="Input should be 'mote', 'joint' or 'separate'"),
    Case("train-bad-sampling", [*TR, "data.sampling=random"],
         mentions=("data.sampling", "'random'"), fix="Input should be 'proportional', 'round-robin', 'temperature' or 'ratio'"),
    Case("train-unknown-precision-flag", ["train", "{cfg}", "--precision", "fp64"],
         mentions=("train.precision", "'fp64'"), fix="Input should be 'auto', 'fp32', 'bf16' or 'fp16'"),
    Case("train-bf16-and-precision", [*TR, "train.bf16=true"],
         mentions=("bf16=True", "precision='fp32'"), fix="Remove the 'bf16' key"),
    Case("train-ratios-without-ratio-sampling", [*TR, "data.ratios={{query: 1.0}}"],
         mentions=("data.ratios", "'proportional'"), fix="Set data.sampling: ratio, or remove data.ratios"),
    Case("train-unknown-task-in-tasks", [*TR, "tasks.qurey.temperature=0.1"],
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("train-unknown-loss", [*TR, "tasks.query.loss=infonc"],
         mentions=("'infonc'",), fix='Did you mean "infonce"?'),
    Case("train-set-without-equals", [*TR, "train.max_steps"],
         mentions=("'train.max_steps'",), fix="e.g. --set train.max_steps=20"),
    Case("train-data-root-missing", ["train", "{cfg}"],
         mentions=("no-such-data", "does not exist"), fix="pass data_root=... or fix the recipe"),
    Case("train-recipe-unknown-source", [*TR, "data.recipe={tmp}/recipe.yaml"],
         setup=write("recipe.yaml", "datasets:\n  stsbb: {{max_examples: 8}}\n"),
         mentions=("recipe.yaml", "'stsbb'"), fix='Did you mean "stsb"?'),
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
    Case("merge-weights-count-mismatch", [*MG, "parameters.weights=[1, 2, 3]"],
         mentions=("2 models but 3 weights",), fix="give one weight per model"),
    Case("merge-slerp-one-model", [*MG, "method=slerp", "--set", "models=[{dense}]"],
         mentions=("'slerp'", "got 1"), fix="pick a method that works with 1"),
    Case("merge-models-and-mote-model", [*MG, "mote_model={mote}"],
         mentions=("`models`", "`mote_model`"), fix="Give exactly one of"),
    Case("merge-probe-method-without-probe", [*MG, "method=fisher"],
         mentions=("'fisher'",), fix="add probe: {{jsonl: PATH, size: 256}}"),
    Case("merge-existing-out", [*MG, "out={tmp}/existing"], setup=mkdir("existing"),
         mentions=("existing", "already exists"), fix="set overwrite: true"),
    Case("merge-missing-base-model", [*MG, "base={tmp}/no-such-base"],
         mentions=("no-such-base",), fix=OFFLINE_FIX),
    Case("merge-model-shape-mismatch", [*MG, "models=[{dense}, {reshaped}]"],
         mentions=("intermediate.dense.weight", "(48, 32)", "(47, 32)", "{reshaped}"),
         fix="Merge only fine-tunes of the same base architecture and size"),
    Case("merge-mote-model-in-models", [*MG, "models=[{dense}, {mote}]"],
         mentions=("{mote}", "'mote' model"), fix="merged with `mote_model:`"),
    Case("merge-mote-model-is-dense", ["merge", "{mote_mcfg}", "--set", "mote_model={dense}"],
         mentions=("dense BertModel model",), fix="up-cycle it first"),
]

PL = ["pipeline", "{pcfg}", "--set"]
PIPELINE = [
    Case("pipeline-invalid-yaml", ["pipeline", "{tmp}/bad.yaml"], setup=write("bad.yaml", "name: 'x\n"),
         mentions=("bad.yaml", "not valid YAML"), fix="line 1, column 7"),
    Case("pipeline-top-level-list", ["pipeline", "{tmp}/list.yaml"], setup=write("list.yaml", "[1, 2]\n"),
         mentions=("list.yaml", "got list"), fix="expected a mapping at the top level"),
    Case("pipeline-missing-recipe", ["pipeline", "{tmp}/norecipe.yaml"], setup=write("norecipe.yaml", "output_dir: x\n"),
         mentions=("norecipe.yaml", "recipe: missing"), fix="add it to the config"),
    Case("pipeline-unknown-variant", [*PL, "variants=[mote-sp2]"], mentions=("'mote-sp2'",),
         fix='Did you mean "mote-sp"?'),
    Case("pipeline-unknown-baseline", [*PL, "baseline=jont-instr"], mentions=("'jont-instr'",),
         fix='Did you mean "joint-instr"?'),
    Case("pipeline-bf16-and-precision", [*PL, "budget.bf16=true"],
         mentions=("budget", "bf16=True"), fix="Remove the 'bf16' key"),
    Case("pipeline-unknown-task-in-tasks", [*PL, "tasks.qurey.temperature=0.1"],
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("pipeline-unknown-merge-method", [*PL, "merge.parameters={{tie: {{density: 0.5}}}}"],
         mentions=("'tie'",), fix='Did you mean "ties"?'),
    Case("pipeline-fp16-on-cpu", ["pipeline", "{pcfg}", "--precision", "fp16", "--device", "cpu"],
         mentions=("'fp16'", "not supported on CPU"), fix="Use auto, fp32 or bf16 on CPU"),
    Case("pipeline-serves-clash", [*PL, "serves={{query: [STS]}}"],
         mentions=("'STS'", "'query'", "'similarity'"), fix="map each MTEB task type/role to one task"),
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
    Case("evaluate-truncated-weights", [*EV, "{truncated}"],
         mentions=("{truncated}/model.safetensors",), fix=TRUNCATED_FIX),
    Case("evaluate-bf16-and-precision", [*EV, "--bf16", "{mote}"],
         mentions=("bf16=True", "precision='fp32'"), fix="give only precision="),
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


def _get_method(name: str, parameters: dict[str, Any] | None = None, n: int | None = None) -> object:
    from mote.merge import get_method

    method = get_method(name)
    return method.validate(parameters or {}, n) if parameters is not None else method


def _resolve_runtime(precision: str, device: str) -> object:
    from mote.runtime import resolve

    return resolve(precision, device)


def _average_blocks(ctx: Ctx, weights: dict[int, list[float]]) -> object:
    from mote.model.sentence import average, load

    return average(load(ctx["mote"]), weights)


API = [
    Case("api-average-unknown-block", call=lambda ctx: _average_blocks(ctx, {7: [1.0, 1.0]}), exc=ValueError,
         mentions=("block(s) [7]", "[1, 3]"), fix="key the weights by one of those blocks"),
    Case("api-load-missing-model", call=lambda ctx: _load(ctx.fmt("{tmp}/no-such-model")), exc=FileNotFoundError,
         mentions=("no-such-model",), fix=OFFLINE_FIX),
    Case("api-load-newer-mote", call=lambda ctx: _load(ctx["newer"]), exc=ValueError,
         mentions=("{newer}/config.json", "mote 99.0"), fix=NEWER_FIX),
    Case("api-upcycle-already-mote", call=lambda ctx: _upcycle(ctx["mote"], ["query"]), exc=ValueError,
         mentions=("already a MoTE model",), fix="up-cycle a dense model"),
    Case("api-encode-unknown-task", call=lambda ctx: _encode_mote(ctx, task="qurey"), exc=ValueError,
         mentions=("'qurey'",), fix='Did you mean "query"?'),
    Case("api-encode-task-count-mismatch", call=lambda ctx: _encode_mote(ctx, task=["query"]), exc=ValueError,
         mentions=("Got 1 tasks for 2 inputs",), fix="give one task, or one per input"),
    Case("api-unknown-merge-method", call=lambda ctx: _get_method("tie"), exc=ValueError,
         mentions=("'tie'",), fix='Did you mean "ties"?'),
    Case("api-merge-parameter-misspelt", call=lambda ctx: _get_method("ties", {"densty": 0.5}), exc=ValueError,
         mentions=("'densty'",), fix='Did you mean "density"?'),
    Case("api-fp16-on-cpu", call=lambda ctx: _resolve_runtime("fp16", "cpu"), exc=ValueError,
         mentions=("'fp16'",), fix="Use auto, fp32 or bf16 on CPU"),
]

# -- the cases issue 13 reported (silent results, raw tracebacks, overwrites), and what its matrix found ---------
RO_FIX = "Choose a location you can write to"
RUN = ["train", "{trainrun}/train.yaml", "--set", "train.output_dir={trainrun}/run"]


def _truncate_latest_checkpoint(ctx: Ctx) -> None:
    """The run killed while writing its last checkpoint: no final model or summary, checkpoint-2 cut short."""
    run = Path(ctx["trainrun"]) / "run"
    shutil.rmtree(run / "final")
    (run / "train_summary.json").unlink()
    cut_in_half(run / "checkpoint-2" / "model.safetensors")


SILENT = [  # exit 0 with a wrong result before
    Case("encode-nan-weights", [*ENC, "{nan_mote}", "-i", "{texts}"],
         mentions=("{nan_mote}", "attention.self.query.weight", "NaN/inf"), fix="restore or re-save the model"),
    Case("merge-nan-input", [*MG, "models=[{dense}, {nan_dense}]"],
         mentions=("{nan_dense}/model.safetensors", "NaN/inf"), fix="restore or re-save this model"),
    Case("average-nan-model", ["average", "{nan_mote}", "--out", "{tmp}/avg"],
         mentions=("{nan_mote}", "NaN/inf"), fix="restore or re-save the model"),
    Case("average-inf-weight", [*AVG, "--weights", "inf,1"],
         mentions=("[inf, 1.0]",), fix="Give one finite weight >= 0 per task"),
    Case("average-empty-weights", [*AVG, "--weights", ","],
         mentions=("','", "no weight given"), fix="leave --weights out for uniform weights"),
    Case("encode-config-more-tasks-than-weights", [*ENC, "{mote5}", "-i", "{texts}"],
         mentions=("{mote5}/config.json", "declares 5 tasks", "{mote5}/model.safetensors"),
         fix="restore the config saved with these weights"),
    Case("info-config-more-tasks-than-weights", ["info", "{mote5}"],
         mentions=("declares 5 tasks",), fix="restore the config saved with these weights"),
    Case("train-resume-changed-learning-rate", [*RUN, "--resume", "--set", "train.learning_rate=0.5"],
         copy=("trainrun",), mentions=("train.learning_rate: 2e-05 -> 0.5",), fix="train into a new train.output_dir"),
    Case("train-resume-changed-batch-size", [*RUN, "--resume", "--set", "train.batch_size=6"],
         copy=("trainrun",), mentions=("train.batch_size: 4 -> 6",), fix="Restore these values to resume"),
    Case("train-resume-finished-run", [*RUN, "--resume"], code=0, copy=("trainrun",),
         mentions=('"steps": 2',), fix='"already_finished": true'),
    Case("encode-dense-mistyped-task", ["encode", "--precision", "fp32", "--task", "qeury", "-o", "{tmp}/emb.npy",
                                        "{avg}", "-i", "{texts}"],
         mentions=("'qeury'", "Valid tasks: document, query"), fix='Did you mean "query"?'),
    Case("upcycle-layers-minus-one-means-nothing", [*UP, "--layers", "1,-1"], mentions=("negative block index -1",),
         fix="Name the block (3)"),
]

TRACEBACKS = [  # a raw traceback before
    Case("upcycle-readonly-out", ["upcycle", "--base", "{dense}", "--out", "{ro}/m"],
         mentions=("{ro}", "Cannot write"), fix=RO_FIX),
    Case("average-readonly-out", ["average", "{mote}", "--out", "{ro}/avg"],
         mentions=("{ro}", "Cannot write"), fix=RO_FIX),
    Case("merge-readonly-out", [*MG, "out={ro}/merged"], mentions=("{ro}", "Cannot write"), fix=RO_FIX),
    Case("encode-readonly-output", [*ENC[:-2], "-o", "{ro}/emb.npy", "{mote}", "-i", "{texts}"],
         mentions=("{ro}", "Cannot write"), fix=RO_FIX),
    Case("encode-output-is-a-folder", [*ENC[:-2], "-o", "{tmp}/out", "{mote}", "-i", "{texts}"], setup=mkdir("out"),
         mentions=("{tmp}/out", "is a folder"), fix="takes a .npy file path"),
    Case("train-set-unparsable-yaml", [*TR, "x=[1"], mentions=("'x=[1'", "not valid YAML"), fix="Quote it"),
    Case("merge-truncated-input", [*MG, "models=[{dense}, {truncated}]"],
         mentions=("{truncated}/model.safetensors", "truncated"), fix=TRUNCATED_FIX),
    Case("train-resume-truncated-checkpoint", [*RUN, "--resume"], code=0, copy=("trainrun",),
         setup=_truncate_latest_checkpoint, outputs=("{trainrun}/run",),
         mentions=('"steps": 2',), fix="checkpoint-1"),  # resumed from the previous complete checkpoint
    Case("info-model-without-pooling", ["info", "{nopool}"],
         mentions=("{nopool}/1_Pooling", "modules.json"), fix="Copy the whole model folder again"),
    Case("encode-model-without-pooling", [*ENC, "{nopool}", "-i", "{texts}"],
         mentions=("{nopool}/1_Pooling",), fix="Copy the whole model folder again"),
    Case("encode-config-names-missing-block", [*ENC, "{badlayer}", "-i", "{texts}"],
         mentions=("{badlayer}", "block(s) [9]", "0..3"), fix="restore the one saved with these weights"),
    Case("info-config-names-missing-block", ["info", "{badlayer}"],
         mentions=("block(s) [9]",), fix="restore the one saved with these weights"),
    Case("upcycle-truncated-base", ["upcycle", "--base", "{truncated}", "--out", "{tmp}/out"],
         mentions=("{truncated}/model.safetensors", "truncated"), fix=TRUNCATED_FIX),
    Case("doctor-bad-bf16-override", ["doctor", "--seconds", "0"], env={"MOTE_CPU_BF16": "bogus"},
         mentions=("MOTE_CPU_BF16", "'bogus'"), fix="native"),
]

OVERWRITES = [  # data overwritten before
    Case("train-existing-run-without-resume", [*RUN, "--set", "train.learning_rate=0.5"], copy=("trainrun",),
         mentions=("{trainrun}/run", "already holds a run"), fix="Pass --resume to continue that run"),
    Case("encode-existing-output-file", [*ENC[:-2], "-o", "{tmp}/old.npy", "{mote}", "-i", "{texts}"],
         setup=write("old.npy", b"\x93NUMPY earlier embeddings"), mentions=("old.npy", "already exists"),
         fix="pass --overwrite"),
]

FOUND = [  # found by the matrix itself (not in the issue)
    Case("upcycle-pickle-base", ["upcycle", "--base", "{pickle}", "--out", "{tmp}/out"],
         mentions=("model.safetensors", "pytorch_model.bin"), fix=PICKLE_FIX),
    Case("upcycle-base-without-config", ["upcycle", "--base", "{noconfig}", "--out", "{tmp}/out"],
         mentions=("{noconfig}/config.json", "Missing file"), fix="Copy the whole model folder again"),
    Case("upcycle-base-corrupt-config", ["upcycle", "--base", "{badjson}", "--out", "{tmp}/out"],
         mentions=("{badjson}/config.json", "Corrupt JSON"), fix="Re-save the model or restore the file"),
    Case("info-model-without-config", ["info", "{noconfig}"],
         mentions=("{noconfig}/config.json",), fix="Copy the whole model folder again"),
    Case("merge-different-architecture", [*MG, "models=[{dense}, {roberta}]"],
         mentions=("{roberta}", "'roberta'", "'bert'"), fix="Merge only fine-tunes of the same base architecture"),
    Case("merge-input-corrupt-config", [*MG, "models=[{dense}, {badjson}]"],
         mentions=("{badjson}/config.json", "Corrupt JSON"), fix="Re-save the model or restore the file"),
    Case("merge-unknown-key", [*MG, "methd=ties"], mentions=("'methd'", "Valid keys in the top level"),
         fix='Did you mean "method"?'),
    Case("train-unknown-key", [*TR, "train.max_step=5"], mentions=("'train.max_step'", "Valid keys in train"),
         fix='Did you mean "max_steps"?'),
    Case("pipeline-unknown-key", [*PL, "budgt.max_steps=1"], mentions=("'budgt'",), fix='Did you mean "budget"?'),
    Case("train-set-into-a-value", [*TR, "model.mode.x=1"], mentions=("'mode' holds a value",),
         fix="--set model.mode=VALUE"),
    Case("train-layers-checked-before-data", [*TR, "model.layers=1,99"],
         mentions=("model.layers", "'1,99'"), fix=LAYERS_FIX),
    Case("train-missing-base-before-data", [*TR, "model.base={tmp}/no-such-base"],
         mentions=("no-such-base",), fix=OFFLINE_FIX),
    Case("train-missing-config-file", ["train", "{tmp}/nope.yaml"], mentions=("nope.yaml", "does not exist"),
         fix="Check the path"),
    Case("train-config-not-utf8", ["train", "{tmp}/latin.yaml"], setup=write("latin.yaml", "x: caf\xe9\n".encode("latin-1")),
         mentions=("latin.yaml", "not UTF-8"), fix="Save the file as UTF-8"),
    Case("encode-input-is-a-folder", [*ENC, "{mote}", "-i", "{tmp}/in"], setup=mkdir("in"),
         mentions=("{tmp}/in", "is a folder"), fix="give the path of a file"),
    Case("encode-empty-input", [*ENC, "{mote}", "-i", "{tmp}/empty.txt"], setup=write("empty.txt", "\n  \n"),
         mentions=("empty.txt", "no non-empty inputs"), fix="write one input a line"),
    Case("pipeline-only-unknown-variant", ["pipeline", "{pcfg}", "--only", "mote-sp2"],
         mentions=("'mote-sp2'",), fix='Did you mean "mote-sp"?'),
    Case("pipeline-report-only-nothing-finished", ["pipeline", "{pcfg}", "--report-only"],
         mentions=("No finished job", "pipeline-out"), fix="without --report-only first"),
    Case("pipeline-unknown-eval-task-before-any-job", [*PL, "eval.tasks=[STSBenchmrk]"],
         mentions=("eval:", "'STSBenchmrk'"), fix='Did you mean "STSBenchmark"?'),
    Case("compare-corrupt-summary", ["compare", "{tmp}/r", "--baseline", "r"], setup=write("r/summary.json", "{{trunc"),
         mentions=("{tmp}/r/summary.json", "Corrupt JSON"), fix="evaluate the model again"),
    Case("compare-summary-without-averages", ["compare", "{tmp}/r", "--baseline", "r"],
         setup=write("r/summary.json", '{{"tasks": {{}}}}'), mentions=("'type_averages'",),
         fix="pass folders written by `mote evaluate --out`"),
    Case("compare-same-folder-twice", ["compare", "{results}/run-a", "{results}/run-a", "--baseline", "run-a"],
         mentions=("{results}/run-a", "more than once"), fix="pass each run once"),
    Case("compare-png-under-a-file", ["compare", "{results}/run-a", "--baseline", "run-a", "--png", "{tmp}/f/c.png"],
         setup=write("f", "a file"), mentions=("{tmp}/f",), fix="exists as a file, not a folder"),
    Case("train-non-finite-loss", ["train", "{trainrun}/train.yaml", "--set", "train.output_dir={tmp}/nan-run", "--set",
                                   "tasks.query.temperature=1e-40"], outputs=("{tmp}/nan-run",),
         mentions=("Loss is nan", "task 'query'", "No checkpoint was saved yet"), fix="start a new run"),
    Case("train-recipe-data-not-utf8", ["train", "{trainrun}/train.yaml", "--set", "train.output_dir={tmp}/run"],
         copy=("trainrun",), setup=lambda ctx: (Path(ctx["trainrun"]) / "data" / "pairs.jsonl").write_bytes(
             '{"anchor": "caf\xe9", "positive": "x"}\n'.encode("latin-1")),
         mentions=("pairs.jsonl", "not UTF-8"), fix="iconv -f latin1 -t utf-8"),
    Case("merge-probe-not-utf8", [*MG, "method=self_positioning", "--set", "probe={{jsonl: {tmp}/probe.jsonl}}"],
         setup=write("probe.jsonl", '{"text": "caf\xe9"}\n'.encode("latin-1")),
         mentions=("probe.jsonl", "not UTF-8"), fix="iconv -f latin1 -t utf-8"),
    Case("compare-existing-png", ["compare", "{results}/run-a", "--baseline", "run-a", "--png", "{tmp}/c.png"],
         setup=write("c.png", "an earlier chart"), mentions=("{tmp}/c.png", "already exists"), fix="pass --overwrite"),
    Case("evaluate-existing-results", [*EV, "--out", "{tmp}/res", "{mote}"], setup=write("res/summary.json", "{{}}"),
         mentions=("{tmp}/res", "already holds an evaluation"), fix="pass --overwrite"),
]

CASES: list[Case] = [*UPCYCLE, *ENCODE, *AVERAGE, *INFO, *TRAIN, *MERGE, *PIPELINE, *EVALUATE, *COMPARE, *DOCTOR, *API,
                     *SILENT, *TRACEBACKS, *OVERWRITES, *FOUND]


# -- the test -----------------------------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def bad_input_assets(tmp_path_factory: pytest.TempPathFactory) -> Assets:
    """The session's input assets (models, broken model folders, configs), built lazily on first use."""
    # transformers binds its log handler to sys.stderr on first use; inside a CliRunner call that is the runner's
    # stream, closed afterwards, and a later warning would print a "Logging error" traceback. Bind it here.
    from transformers.utils import logging as hf_logging

    hf_logging.get_logger("transformers")
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


# -- the silent rows whose fix is a correct result, not an error ----------------------------------------------------
def test_mixed_task_list_with_different_lengths_reaches_each_texts_expert(bad_input_assets: Assets) -> None:
    # before: sentence-transformers sorted the texts by length but not the per-text tasks (rows off by 0.19-0.26)
    from mote.model.routing import TaskExperts
    from mote.model.sentence import load, mote_model

    st = load(bad_input_assets.get("mote"))
    torch.manual_seed(0)
    with torch.no_grad():  # distinct experts: a text reaching the wrong one must show (up-cycled ones are equal)
        for bank in (m for m in mote_model(st).modules() if isinstance(m, TaskExperts)):
            for p in bank.experts[0].parameters():
                p.add_(torch.randn_like(p) * 0.5)
    texts = ["short", "a much longer text about many different things and more", "mid length text here"]
    tasks = ["document", "query", "document"]
    mixed = st.encode(texts, task=tasks, convert_to_tensor=True)
    one_by_one = torch.stack([st.encode(t, task=k, convert_to_tensor=True) for t, k in zip(texts, tasks, strict=True)])
    assert torch.allclose(mixed, one_by_one, atol=1e-5)


def test_a_single_string_is_one_text_and_one_task(bad_input_assets: Assets) -> None:
    # before: upcycle(dense, "query") made the tasks q, u, e, r, y; encode(st, "hello") gave one row per character
    from mote.model.sentence import encode, load, upcycle

    st = upcycle(str(bad_input_assets.get("dense")), "query")
    assert st[0].auto_model.config.tasks.names == ["query"]
    assert encode(load(bad_input_assets.get("mote")), "hello", task="query").shape == (1, 32)


# -- faults: kill -9 at each write point -------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    id: str
    point: str  # fault_script.py's write point: weights | rename | replace | checkpoint
    argv: list[str]  # the command killed at that point (placeholders as in Case)
    target: str  # what it writes: must be absent afterwards, or unchanged when an earlier one exists
    earlier: bool = False  # an earlier output exists at target (made by the same command first)
    rerun: list[str] | None = None  # the command that finishes the job afterwards (default: argv)


TRAIN_RUN = ["train", "{trainrun}/train.yaml", "--set", "train.output_dir={tmp}/run"]
UPCYCLE_RUN = ["upcycle", "--base", "{dense}", "--out", "{tmp}/out", "--tasks", "query,document", "--layers", "1,3"]
MERGE_RUN = ["merge", "{mcfg}", "--set", "out={tmp}/out"]
FAULTS = [
    Fault("upcycle-killed-writing-weights", "weights", UPCYCLE_RUN, "{tmp}/out"),
    Fault("upcycle-killed-before-publishing", "rename", UPCYCLE_RUN, "{tmp}/out"),
    Fault("average-killed-writing-weights", "weights", ["average", "{mote}", "--out", "{tmp}/out"], "{tmp}/out"),
    Fault("average-overwrite-killed-before-publishing", "rename",
          ["average", "{mote}", "--out", "{tmp}/out", "--overwrite", "--weights", "2,1"], "{tmp}/out", earlier=True),
    Fault("merge-killed-writing-weights", "weights", MERGE_RUN, "{tmp}/out"),
    Fault("merge-overwrite-killed-before-publishing", "rename", [*MERGE_RUN, "--set", "overwrite=true"], "{tmp}/out",
          earlier=True),
    Fault("encode-overwrite-killed-before-publishing", "replace",
          ["encode", "{mote}", "-i", "{texts}", "-o", "{tmp}/out.npy", "--task", "query", "--precision", "fp32",
           "--overwrite"], "{tmp}/out.npy", earlier=True),
    Fault("train-killed-before-publishing-the-final-model", "rename", TRAIN_RUN, "{tmp}/run/final",
          rerun=[*TRAIN_RUN, "--resume"]),
    Fault("train-killed-publishing-a-checkpoint", "checkpoint", TRAIN_RUN, "{tmp}/run/final",
          rerun=[*TRAIN_RUN, "--resume"]),
]


def _leftovers(folder: Path) -> list[str]:
    """Temporary files and folders of interrupted writes under ``folder``."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if ".tmp-" in p.name or p.name == ".staging")


@pytest.mark.parametrize("fault", [pytest.param(f, id=f.id) for f in FAULTS])
def test_killed_write(fault: Fault, bad_input_assets: Assets, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """kill -9 at a write point: nothing half-written looks valid, an earlier output survives, no input changes,
    and running the command again (``--resume`` for training) finishes the job and leaves no temporary files."""
    import os
    import subprocess
    import sys

    import numpy as np

    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    ctx = Ctx(bad_input_assets, work, ())
    argv = [ctx.fmt(a) for a in fault.argv]
    target = Path(ctx.fmt(fault.target))
    if fault.earlier:
        first = runner.invoke(app, argv)
        assert first.exit_code == 0, first.output
    earlier = tree_hashes(target)
    inputs = {k: v for k, v in ctx.snapshot(()).items() if not k.startswith(str(work))}

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    killed = subprocess.run([sys.executable, str(Path(__file__).parent / "fault_script.py"), fault.point, *argv],
                            env=env, capture_output=True, text=True, timeout=300)
    assert killed.returncode == -9, f"not killed at {fault.point!r} (exit {killed.returncode}):\n{killed.stderr[-3000:]}"
    assert tree_hashes(target) == earlier, "a killed write changed (or half-created) its output"
    assert {k: v for k, v in ctx.snapshot(()).items() if not k.startswith(str(work))} == inputs

    again = runner.invoke(app, [ctx.fmt(a) for a in (fault.rerun or fault.argv)])
    assert again.exit_code == 0, again.output
    assert _leftovers(target.parent) == [], "temporary files of the killed write were left behind"
    if target.suffix == ".npy":
        assert np.load(target).shape == (2, 32)
    else:
        from mote.model.sentence import load

        load(target)
    if target.name == "final":  # the resumed run trained exactly its steps: no step 3 of 2, no lost summary
        summary = json.loads((target.parent / "train_summary.json").read_text())
        assert summary["steps"] == 2
        assert len((target.parent / "batches.jsonl").read_text().splitlines()) == 2


def test_outputs_get_the_usual_permissions(bad_input_assets: Assets, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Model folders, embeddings and result files are as readable as anything the user writes (umask), not the
    0700/0600 of a temporary folder or file (before: every model folder mote wrote was private)."""
    import os
    import stat

    from mote.model import io

    monkeypatch.setattr(io, "UMASK", 0o022)
    mote, texts = bad_input_assets.get("mote"), bad_input_assets.get("texts")
    encode = ["encode", str(mote), "-i", str(texts), "--task", "query", "--precision", "fp32", "-o"]
    for argv in (["average", str(mote), "--out", str(tmp_path / "avg")],
                 ["upcycle", "--base", str(tmp_path / "avg"), "--out", str(tmp_path / "up")],
                 [*encode, str(tmp_path / "e.npy")], [*encode, str(tmp_path / "e.jsonl")],
                 [*encode, str(tmp_path / "e.parquet")]):
        result = runner.invoke(app, argv)
        assert result.exit_code == 0, result.output
    written = [tmp_path / "avg", *(tmp_path / "avg").rglob("*"), tmp_path / "up", *(tmp_path / "up").rglob("*"),
               *(tmp_path / f"e.{ext}" for ext in ("npy", "jsonl", "parquet"))]
    assert tmp_path / "up" / "README.md" in written and tmp_path / "up" / "mote_card.json" in written
    for path in written:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o755 if path.is_dir() else 0o644), (path, oct(mode))
    assert os.access(tmp_path / "avg" / "model.safetensors", os.R_OK)

"""The ``mote`` command line: each command validates its inputs, makes one library call, and reports."""

from __future__ import annotations

import errno
import json
import logging
import os
from pathlib import Path
from typing import IO, Annotated, Any

import typer

app = typer.Typer(
    name="mote",
    help="Task-specialised embedding models: Mixture of Task Experts and Self Positioning merging.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)


PRECISION_HELP = "auto (bf16 only where this machine runs it natively fast, else fp32) | fp32 | bf16 | fp16."
DEVICE_HELP = "auto (CUDA when present, else Apple MPS, else CPU) | cpu | cuda | mps."
PrecisionOpt = Annotated[str | None, typer.Option(help=PRECISION_HELP)]
DeviceOpt = Annotated[str | None, typer.Option(help=DEVICE_HELP)]


def _from_config(choices: str, keys: str) -> object:
    """A --precision/--device option of a config-driven command: unset, the config's value holds."""
    return typer.Option(help=f"{choices} Default: the config's {keys}.")


DATA_ROOT_HELP = "Folder with the datasets (e.g. ../shared/data; relative: to the working folder)."


def _data_root(data_root: Path | None) -> str | None:
    """--data-root as an absolute path (relative: to the working folder), checked to be a folder."""
    if data_root is None:
        return None
    if not data_root.exists():
        raise FileNotFoundError(f"--data-root {str(data_root)!r} does not exist. Give the folder holding the "
                                "datasets (e.g. --data-root ../shared/data).")
    if not data_root.is_dir():
        raise NotADirectoryError(f"--data-root {str(data_root)!r} is not a folder. Give the folder holding the "
                                 "datasets (e.g. --data-root ../shared/data).")
    return str(data_root.resolve())


def _path_overrides(path: str | None, keys: list[str]) -> list[str]:
    """A path as ``--set`` overrides of ``keys``: quoted, so that YAML keeps it a string (``x: [1`` included)."""
    if path is None:
        return []
    value = json.dumps(path, ensure_ascii=False)  # a JSON string is a YAML double-quoted scalar
    return [f"{k}={value}" for k in keys]


def _runtime_overrides(precision: str | None, device: str | None, *, precision_keys: list[str],
                       device_key: str) -> list[str]:
    """--precision/--device as config overrides (validated like any config value)."""
    out = [f"{k}={precision}" for k in precision_keys] if precision else []
    return out + ([f"{device_key}={device}"] if device else [])


# What a user's input or environment can cause: reported as one line and exit code 2, never a traceback.
# (Model-folder problems are ValueErrors; unreadable, missing, read-only or occupied paths are OSErrors.)
USER_ERRORS = (ValueError, KeyError, TypeError, OSError, FloatingPointError)


def _message(e: BaseException) -> str:
    """The error's own message; for a bare OS error, the path, the reason and what to do."""
    if isinstance(e, OSError) and e.strerror and (e.filename or e.filename2) and str(e).startswith("[Errno"):
        path = e.filename2 or e.filename
        fix = {
            errno.EACCES: "Choose a location you can write to, or fix its permissions.",
            errno.EROFS: "Choose a location on a writable file system.",
            errno.EPERM: "Choose a location you can write to, or fix its permissions.",
            errno.ENOSPC: "Free some space or choose another disk.",
            errno.EISDIR: "Give a file path, not a folder.",
            errno.ENOTDIR: "A part of the path is a file, not a folder: check the path.",
            errno.ENOENT: "Check the path.",
            errno.EEXIST: "A part of the path exists as a file, not a folder: choose another path.",
        }.get(e.errno or 0, "Check the path and its permissions.")
        return f"{e.strerror}: {str(path)!r}. {fix}"
    if isinstance(e, KeyError) and e.args:
        return str(e.args[0])
    return str(e)


def _fail(e: BaseException) -> None:
    if os.environ.get("MOTE_DEBUG"):  # a developer's switch: the full traceback instead of the one-line error
        raise e
    typer.secho(f"error: {_message(e)}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2) from None


def _split(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    out = [v.strip() for item in values for v in item.split(",") if v.strip()]
    return out or None


def _version_line() -> str:
    from importlib.metadata import PackageNotFoundError, version
    from platform import python_version

    from mote import __version__

    def of(package: str) -> str:
        try:
            return version(package)
        except PackageNotFoundError:
            return "not installed"

    return (f"mote {__version__} (torch {of('torch')}, sentence-transformers {of('sentence-transformers')}, "
            f"transformers {of('transformers')}, Python {python_version()})")


def _print_version(value: bool) -> None:
    if value:
        typer.echo(_version_line())
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool, typer.Option("--version", is_eager=True, callback=_print_version,
                           help="Print the version of mote (and of torch, sentence-transformers, transformers, "
                           "Python) and exit.")
    ] = False,
) -> None:
    pass


@app.command()
def upcycle(
    base: Annotated[str, typer.Option(help="Dense model: a folder, a packaged model or (online) a hub id.")] = (
        "sentence-transformers/all-MiniLM-L6-v2"
    ),
    out: Annotated[Path, typer.Option(help="Output folder for the MoTE model.")] = Path("mote-model"),
    tasks: Annotated[
        list[str] | None, typer.Option(help="Task names (repeat or comma-separate). Default: the 5 standard tasks.")
    ] = None,
    layers: Annotated[str, typer.Option(help="'every-other', 'all', 'top-K' or indices like '1,3,5'.")] = "every-other",
    instructions: Annotated[
        str, typer.Option(help="Instruction set: auto (the base's declared prompts; none when it declares none), "
                          "none, mote, e5.")
    ] = "auto",
    instruction: Annotated[
        list[str] | None, typer.Option(help="Override a task's instruction prefix: TASK=PREFIX (repeatable).")
    ] = None,
    default_task: Annotated[
        str | None, typer.Option(help="Task used when encoding names none. Default: none (encoding must name a task).")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Up-cycle a dense encoder: copy the FFN of selected blocks into one expert per task."""
    from mote.model.resolve import declared_prompts, resolve_model
    from mote.model.sentence import info
    from mote.model.sentence import upcycle as do_upcycle
    from mote.tasks import AUTO, TaskSet, resolve_instructions

    try:
        overrides = dict(_parse_kv(i) for i in instruction or [])
        prompts = declared_prompts(resolve_model(base)) if instructions == AUTO else None
        names = _split(tasks) or TaskSet().names
        prefixes, account = resolve_instructions(instructions, names, prompts)
        task_set = TaskSet.from_names(names, {**prefixes, **overrides}, default_task)
        model = do_upcycle(base, task_set, layers=layers, out=out, overwrite=overwrite)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(f"Up-cycled {base} -> {out} (instructions: {account}{'; overrides' if instruction else ''})")
    typer.echo(info(model, out).as_text())


def _parse_kv(item: str) -> tuple[str, str]:
    if "=" not in item:
        raise ValueError(f"Expected TASK=PREFIX, got {item!r}.")
    k, v = item.split("=", 1)
    return k.strip(), v


# --output formats, by extension: what each holds
OUTPUT_FORMATS = {
    ".npy": "a float32 matrix, one row per input",
    ".jsonl": 'one JSON object a line: {"index", "line", "text", "embedding"}',
    ".parquet": "one row per input: index, line, text, embedding (list<float32>)",
}
NORMALIZE_HELP = (
    "Unset: as the model does (models ending in a Normalize module, like all-MiniLM-L6-v2, always give unit "
    "vectors; others give the pooled vectors as they are). --normalize: L2-normalise every row. --no-normalize: the "
    "rows before normalisation (a trailing Normalize module is skipped)."
)


@app.command()
def encode(
    model: Annotated[str, typer.Argument(help="Model folder or reference.")],
    input: Annotated[
        Path, typer.Option("--input", "-i", help="Text file (one input a line; an empty line is an error unless "
                           "--skip-empty) or JSONL (.jsonl/.json) with a 'text' field in every object.")
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write the embeddings; the extension sets the format: "
                           ".npy (float32 matrix, row i = input i), .jsonl (one object a line: index, line, text, "
                           "embedding) or .parquet (columns index, line, text, embedding list<float32>).")
    ],
    task: Annotated[
        str | None, typer.Option(help="Task (expert + instruction) to encode with. Default: the model's default "
                                 "task (a MoTE model without one needs --task; a dense model: the raw text).")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Inputs per forward pass.")] = 64,
    normalize: Annotated[bool | None, typer.Option("--normalize/--no-normalize", help=NORMALIZE_HELP,
                                                   show_default=False)] = None,
    instruction: Annotated[bool, typer.Option(help="Prepend the task's instruction prefix.")] = True,
    skip_empty: Annotated[
        bool, typer.Option(help="Drop empty (or whitespace-only) inputs instead of refusing them; rows then follow "
                           "the non-empty inputs (.jsonl/.parquet outputs name each row's line).")
    ] = False,
    precision: PrecisionOpt = "auto",
    device: DeviceOpt = "auto",
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output file.")] = False,
) -> None:
    """Encode texts with one task's expert and instruction; writes .npy, .jsonl or .parquet (by extension)."""
    import numpy as np
    import torch

    from mote.model.sentence import encode as do_encode
    from mote.model.sentence import load
    from mote.runtime import setup
    from mote.textio import read_inputs, some_lines

    try:
        fmt = _check_output_file(output, overwrite)
        rt = setup(precision or "auto", device or "auto", what="encode")
        inputs = read_inputs(input, skip_empty=skip_empty)
        st = load(model, device=rt.device)
        normalised = _normalisation(st, normalize)
        with rt.autocast(), torch.inference_mode():
            emb = do_encode(
                st,
                inputs.texts,
                task=task,
                batch_size=batch_size,
                show_progress_bar=True,
                normalize=bool(normalize),
                instruction=instruction,
            )
        if not np.isfinite(emb).all():
            raise FloatingPointError(
                f"The embeddings of {model!r} hold NaN/inf values; nothing was written to {str(output)!r}. "
                f"Check the model's weights (mote info {model}) or use --precision fp32."
            )
        emb = np.asarray(emb, dtype=np.float32)
        WRITERS[fmt](output, emb, inputs)
    except USER_ERRORS as e:
        _fail(e)
    n = len(inputs.skipped)
    note = f"; {n} empty input{'s' if n > 1 else ''} skipped ({some_lines(inputs.skipped)})" if n else ""
    typer.echo(f"Encoded {len(inputs.texts)} inputs (task={task}{note}) -> {output} {tuple(emb.shape)}; "
               f"{normalised}")


def _normalisation(st: Any, normalize: bool | None) -> str:
    """Apply --no-normalize to a model ending in Normalize (the module is skipped); say what the rows will be."""
    from sentence_transformers.sentence_transformer.modules import Normalize

    def ends_normalized() -> bool:
        return len(st) > 0 and isinstance(st[-1], Normalize)

    if normalize:
        return "rows are unit-normalised (--normalize)"
    if not ends_normalized():
        return "rows are not normalised (the model has no Normalize module; pass --normalize for unit vectors)"
    if normalize is None:
        return "rows are unit-normalised (the model ends in a Normalize module; --no-normalize skips it)"
    while ends_normalized():
        del st[-1]
    return "rows are not normalised (--no-normalize: the model's Normalize module was skipped)"


def _check_output_file(output: Path, overwrite: bool) -> str:
    """The one overwrite policy, for files as for model folders: refuse an existing output unless asked.
    Returns the output format (its extension), refusing one mote does not write."""
    from mote.model.io import check_writable

    if output.is_dir():
        raise IsADirectoryError(
            f"Output {str(output)!r} is a folder; --output takes a .npy file path (or .jsonl, .parquet), e.g. "
            f"{str(output / 'emb.npy')!r}."
        )
    fmt = output.suffix.lower()
    if fmt not in OUTPUT_FORMATS:
        got = f"the extension {output.suffix!r}" if output.suffix else "no extension"
        allowed = "; ".join(f"{k}: {v}" for k, v in OUTPUT_FORMATS.items())
        raise ValueError(
            f"Output {str(output)!r} has {got}; the format follows the extension ({allowed}). Give --output a name "
            f"ending in .npy, .jsonl or .parquet, e.g. {str(output.with_suffix('.npy'))!r}."
        )
    if fmt == ".parquet":
        import importlib.util

        if importlib.util.find_spec("pyarrow") is None:
            raise ModuleNotFoundError(f"Writing {str(output)!r} (.parquet) needs pyarrow: pip install pyarrow, or "
                                      "write .npy or .jsonl.")
    if output.exists() and not overwrite:
        raise FileExistsError(
            f"Output file {str(output)!r} already exists. Choose another --output, or pass --overwrite."
        )
    check_writable(output.parent, "embeddings")
    return fmt


def _write_npy(output: Path, array: object, inputs: Any = None) -> None:
    import numpy as np

    from mote.model.io import atomic_write

    atomic_write(output, lambda f: np.save(f, np.asarray(array), allow_pickle=False))


def _write_jsonl(output: Path, array: object, inputs: Any) -> None:
    """One object a line: index (the row), line (of the input file), text, embedding (float32 values, exact)."""
    import numpy as np

    from mote.model.io import atomic_write

    def write(f: IO[bytes]) -> None:
        for i, (line, text, row) in enumerate(zip(inputs.lines, inputs.texts, np.asarray(array), strict=True)):
            obj = {"index": i, "line": line, "text": text, "embedding": row.tolist()}
            f.write((json.dumps(obj, ensure_ascii=False) + "\n").encode("utf-8"))

    atomic_write(output, write)


def _write_parquet(output: Path, array: object, inputs: Any) -> None:
    """Columns index, line, text and embedding (list<float32>), one row per input."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mote.model.io import atomic_write

    matrix = np.ascontiguousarray(array, dtype=np.float32)
    n, dim = matrix.shape
    offsets = pa.array(np.arange(0, (n + 1) * dim, dim, dtype=np.int32) if dim else np.zeros(n + 1, np.int32))
    table = pa.table({
        "index": pa.array(np.arange(n, dtype=np.int64)),
        "line": pa.array(inputs.lines, type=pa.int64()),
        "text": pa.array(inputs.texts, type=pa.string()),
        "embedding": pa.ListArray.from_arrays(offsets, pa.array(matrix.reshape(-1), type=pa.float32())),
    })
    atomic_write(output, lambda f: pq.write_table(table, f))


WRITERS = {".npy": _write_npy, ".jsonl": _write_jsonl, ".parquet": _write_parquet}


@app.command()
def average(
    model: Annotated[str, typer.Argument(help="MoTE model folder.")],
    out: Annotated[Path, typer.Option(help="Output folder for the dense model.")],
    weights: Annotated[
        str | None, typer.Option(help="Per-task weights: 'query=2,document=1,...' or a list '0.5,0.5,...'.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Expert Averaging: fold each block's experts into one dense FFN (loads without mote)."""
    from mote.model.sentence import average as do_average
    from mote.model.sentence import info, load

    try:
        st = load(model)
        w = _parse_weights(weights)
        dense = do_average(st, w, out=out, overwrite=overwrite)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(f"Averaged experts of {model} -> {out} (weights: {weights or 'uniform'})")
    typer.echo(info(dense, out).as_text())


def _parse_weights(text: str | None) -> list[float] | dict[str, float] | None:
    if not text:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise ValueError(f"Cannot read weights {text!r}: no weight given. Use 'query=2,document=1' or '0.5,0.25,...', "
                         "or leave --weights out for uniform weights.")
    try:
        if all("=" in t for t in items):
            return {k.strip(): float(v) for k, v in (t.split("=", 1) for t in items)}
        return [float(t) for t in items]
    except ValueError:
        raise ValueError(f"Cannot read weights {text!r}: use 'query=2,document=1' or '0.5,0.25,...'.") from None


@app.command()
def info(
    model: Annotated[str, typer.Argument(help="Model folder or reference.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Architecture, tasks, up-cycled layers, total and active parameters, size on disk."""
    from dataclasses import asdict

    from mote.model.resolve import resolve_model
    from mote.model.sentence import info as do_info
    from mote.model.sentence import load

    try:
        path = resolve_model(model)
        report = do_info(load(path), path)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(json.dumps(asdict(report), indent=2) if as_json else report.as_text())


@app.command()
def train(
    config: Annotated[Path, typer.Argument(help="Training config YAML (see configs/).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value: key.sub=value (repeatable).")
    ] = None,
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint in train.output_dir.")] = False,
    data_root: Annotated[
        Path | None, typer.Option(help=f"{DATA_ROOT_HELP} Default: the config's data.data_root, else the recipe's.")
    ] = None,
    precision: Annotated[str | None, _from_config(PRECISION_HELP, "train.precision")] = None,
    device: Annotated[str | None, _from_config(DEVICE_HELP, "train.device")] = None,
) -> None:
    """Train a MoTE, joint or separate model (task-aware contrastive learning)."""
    from mote.train.config import load_config
    from mote.train.run import train as do_train

    try:
        extra = _runtime_overrides(precision, device, precision_keys=["train.precision"], device_key="train.device")
        extra += _path_overrides(_data_root(data_root), ["data.data_root"])
        cfg = load_config(config, [*(set_ or []), *extra])
        if data_root is not None and cfg.train.eval is not None and cfg.train.eval.data_root is None:
            # the evaluation datasets live in the same shared data folder as the training sources
            cfg.train.eval.data_root = cfg.data.data_root
    except USER_ERRORS as e:
        _fail(e)
    try:
        summary = do_train(cfg, resume=resume)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(json.dumps(summary, indent=2, default=str))


@app.command()
def evaluate(
    model: Annotated[str, typer.Argument(help="Model folder or reference (dense, MoTE, averaged or merged).")],
    suite: Annotated[str, typer.Option(help="mteb-lite or extended.")] = "mteb-lite",
    tasks: Annotated[list[str] | None, typer.Option(help="Only these tasks (repeat or comma-separate).")] = None,
    task_types: Annotated[list[str] | None, typer.Option(help="Only these task types (e.g. STS,Retrieval).")] = None,
    data_root: Annotated[
        Path | None, typer.Option(help=f"{DATA_ROOT_HELP} Default: $MOTE_DATA_ROOT.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write mteb result files, per-item records and summary.{json,md} here. "
                                  "Default: none (the summary is only printed).")
    ] = None,
    precision: PrecisionOpt = "auto",
    device: DeviceOpt = "auto",
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per forward pass.")] = 64,
    bf16: Annotated[bool | None, typer.Option(hidden=True, help="Deprecated: use --precision.")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an earlier evaluation in --out.")] = False,
) -> None:
    """Evaluate through mteb on local data: main score per task, type averages, overall."""
    from mote.evaluate import evaluate as do_evaluate
    from mote.evaluate.summary import to_markdown

    try:
        summary = do_evaluate(
            model,
            suite,
            tasks=_split(tasks),
            task_types=_split(task_types),
            data_root=_data_root(data_root),
            out=out,
            precision=precision or "auto",
            device=device or "auto",
            batch_size=batch_size,
            progress=typer.echo,
            show_progress_bar=True,
            bf16=bf16,
            overwrite=overwrite,
        )
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(to_markdown(summary))


@app.command()
def compare(
    result_dirs: Annotated[list[Path], typer.Argument(help="Result folders written by `mote evaluate --out`.")],
    baseline: Annotated[str, typer.Option(help="Name (folder name) of the run deltas are taken against.")],
    png: Annotated[Path, typer.Option(help="Bar chart to write.")] = Path("compare.png"),
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --png.")] = False,
) -> None:
    """Side-by-side table of several evaluation runs with deltas against a baseline, plus a bar chart."""
    from mote.evaluate import compare as do_compare

    try:
        typer.echo(do_compare(result_dirs, baseline, png=png, overwrite=overwrite))
    except USER_ERRORS as e:
        _fail(e)


@app.command()
def merge(
    config: Annotated[Path, typer.Argument(help="Merge YAML (see docs/merging.md).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value: key.sub=value (repeatable).")
    ] = None,
    probe: Annotated[
        Path | None, typer.Option(help="Probe JSONL (the examples self_positioning, fisher and regmean learn from; "
                                  "relative: to the working folder). Default: the config's probe.jsonl.")
    ] = None,
    precision: Annotated[
        str | None, _from_config(f"{PRECISION_HELP} Used by self_positioning's probe passes (other methods "
                                 "compute in fp32).", "precision")
    ] = None,
    device: Annotated[
        str | None, _from_config(f"{DEVICE_HELP} Where probe passes run.", "device")
    ] = None,
) -> None:
    """Merge fine-tunes (or a MoTE model's experts) into one dense sentence-transformers model."""
    from mote.merge import run_merge
    from mote.merge.config import load_merge_config

    try:
        extra = _runtime_overrides(precision, device, precision_keys=["precision"], device_key="device")
        if probe is None:
            out = run_merge(config, overrides=[*(set_ or []), *extra])
        else:  # loaded here: a probe for a method that reads none is refused, not silently ignored
            extra += _path_overrides(str(probe.resolve()), ["probe.jsonl"])
            out = run_merge(_check_probe(load_merge_config(config, [*(set_ or []), *extra]), probe))
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(f"Merged -> {out} (report: {out / 'merge_report.json'})")


def _check_probe(cfg: Any, probe: Path) -> Any:
    """``cfg`` when its method learns from the --probe file and that file exists."""
    from mote.merge.registry import get_method, probe_methods

    if not get_method(cfg.method).needs_probe:
        raise ValueError(f"--probe {str(probe)!r}: method {cfg.method!r} learns from no examples; a probe is for "
                         f"{', '.join(probe_methods())}. Drop --probe, or choose one of those (--set method=...).")
    if not probe.is_file():
        raise FileNotFoundError(f"--probe {str(probe)!r} does not exist or is not a file. Give the path of a JSONL "
                                'file of {"anchor", "positive", "task"} rows.')
    return cfg


@app.command()
def pipeline(
    config: Annotated[Path, typer.Argument(help="Pipeline config YAML (see configs/pipeline-*.yaml).")],
    set_: Annotated[
        list[str] | None, typer.Option("--set", help="Override a config value: key.sub=value (repeatable).")
    ] = None,
    only: Annotated[list[str] | None, typer.Option(help="Run only these variants (repeat or comma-separate).")] = None,
    data_root: Annotated[
        Path | None, typer.Option(help=f"{DATA_ROOT_HELP} Sets both the training data root (data_root) and the "
                                  "evaluation's (eval.data_root). Default: the config's data_root and eval.data_root.")
    ] = None,
    precision: Annotated[str | None, _from_config(PRECISION_HELP, "budget.precision and eval.precision")] = None,
    device: Annotated[str | None, _from_config(DEVICE_HELP, "device")] = None,
    report_only: Annotated[
        bool, typer.Option(help="Build nothing: report the finished jobs and list the missing ones.")
    ] = False,
) -> None:
    """Run an experiment matrix (variants x seeds, cached by config hash) and write REPORT.md."""
    from mote.pipeline import load_pipeline_config, run_pipeline

    try:
        extra = _runtime_overrides(
            precision, device, precision_keys=["budget.precision", "eval.precision"], device_key="device"
        )
        extra += _path_overrides(_data_root(data_root), ["data_root", "eval.data_root"])
        cfg = load_pipeline_config(config, [*(set_ or []), *extra])
        report = run_pipeline(cfg, only=_split(only), say=typer.echo, report_only=report_only)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(report.read_text(encoding="utf-8"))
    typer.echo(f"Report: {report}")


@app.command()
def export(
    model: Annotated[str, typer.Argument(help="Model folder: a MoTE model, or any Transformer + Pooling model.")],
    out: Annotated[Path, typer.Option(help="Output folder for the graphs, tokenizer and mote_export.json.")],
    format: Annotated[str, typer.Option(help="onnx (ONNX Runtime) or openvino.")] = "onnx",
    quantize: Annotated[str | None, typer.Option(help="int8: ONNX Runtime dynamic int8, per channel.")] = None,
    tasks: Annotated[list[str] | None, typer.Option(help="Tasks to export (repeat or comma-separate; default: all).")
                     ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing output folder.")] = False,
) -> None:
    """Export one graph per task route (a dense model: one graph), checked against PyTorch before it is written."""
    import json as _json

    from mote.deploy.export import export as do_export
    from mote.deploy.runtime import METADATA

    try:
        folder = do_export(model, out, format=format, quantize=quantize, tasks=_split(tasks), overwrite=overwrite)
    except USER_ERRORS as e:
        _fail(e)
    meta = _json.loads((folder / METADATA).read_text(encoding="utf-8"))
    for task, check in meta["checks"].items():
        typer.echo(f"{task}: graph {meta['tasks'][task]['graph']}, min cosine vs PyTorch {check['min_cosine']:.6f}, "
                   f"mean {check['mean_cosine']:.6f}")
    typer.echo(f"Exported {model} -> {folder} ({format}{', ' + quantize if quantize else ''}; {meta['size_note']}). "
               "Load it with mote.deploy.ExportedModel(folder).encode(texts, task=...).")


@app.command()
def serve(
    model: Annotated[str, typer.Argument(help="Model folder (mote or sentence-transformers) or a mote export.")],
    host: Annotated[str, typer.Option(help="Interface to listen on (0.0.0.0: every interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    api_key: Annotated[str | None, typer.Option(envvar="MOTE_API_KEY",
                                                help="Require 'Authorization: Bearer KEY' (or set MOTE_API_KEY).")
                       ] = None,
    precision: Annotated[str, typer.Option(help=PRECISION_HELP)] = "auto",
    max_batch: Annotated[int, typer.Option(min=1, help="Most texts in one dynamic batch.")] = 64,
    max_wait_ms: Annotated[float, typer.Option(min=0, help="How long a batch waits for more requests.")] = 5.0,
    max_inputs: Annotated[int, typer.Option(min=1, help="Most inputs in one request (413 beyond).")] = 2048,
    max_chars: Annotated[int, typer.Option(min=1, help="Most characters in one input (413 beyond).")] = 100_000,
    max_tokens: Annotated[int, typer.Option(min=1, help="Most tokens in one request (413 beyond).")] = 300_000,
    access_log: Annotated[bool, typer.Option(help="Log every request (GET /metrics counts them either way).")
                          ] = False,
) -> None:
    """Serve an OpenAI-compatible POST /v1/embeddings with a "task" field, dynamic batching, /health, /v1/models
    and Prometheus /metrics. Ctrl-C stops accepting and finishes the requests in flight."""
    from mote.deploy.serve import Limits
    from mote.deploy.serve import serve as do_serve

    try:
        do_serve(model, host=host, port=port, api_key=api_key, precision=precision, max_batch=max_batch,
                 max_wait_ms=max_wait_ms, limits=Limits(max_inputs, max_chars, max_tokens), access_log=access_log)
    except USER_ERRORS as e:
        _fail(e)


DEFAULT_BASE_NAME = "sentence-transformers/all-MiniLM-L6-v2"
analyze_app = typer.Typer(help="The papers' analyses on your own models (JSON + PNG each).", no_args_is_help=True)
app.add_typer(analyze_app, name="analyze")


@analyze_app.command("memory")
def analyze_memory(
    base: Annotated[str, typer.Argument(help="Dense base model (folder or known name).")] = DEFAULT_BASE_NAME,
    out: Annotated[Path, typer.Option(help="Output folder for memory.json and memory.png.")] = Path("analysis/memory"),
    max_tasks: Annotated[int, typer.Option(min=1, max=5, help="Up-cycle with 1..N tasks.")] = 5,
    patterns: Annotated[list[str] | None, typer.Option(help="Up-cycling patterns (repeat or comma-separate; "
                                                            "default: all, every-other, top-2).")] = None,
    peak: Annotated[bool, typer.Option(help="Measure peak encode memory (a fresh process per model).")] = True,
) -> None:
    """Parameters, weights size and peak encode memory vs number of tasks and up-cycling pattern (dense = 1.0)."""
    from mote.analyze.memory import DEFAULT_PATTERNS, memory

    try:
        result = memory(base, out, max_tasks=max_tasks, patterns=_split(patterns) or list(DEFAULT_PATTERNS),
                        measure_peak=peak)
    except USER_ERRORS as e:
        _fail(e)
    for r in result["rows"]:
        typer.echo(f"{r['pattern']:>12} {r['tasks']} tasks: params x{r['params_x_dense']:.3f}, active "
                   f"x{r['active_params_x_dense']:.3f}, weights {r['weights_mib']:.1f} MiB"
                   + (f", peak encode x{r['peak_encode_mib_x_dense']:.3f}" if r.get("peak_encode_mib_x_dense") else ""))
    typer.echo(f"-> {out / 'memory.json'}, {out / 'memory.png'}")


@analyze_app.command("conflict")
def analyze_conflict(
    model: Annotated[str, typer.Argument(help="Model folder (dense or MoTE).")],
    probe: Annotated[Path, typer.Option(help='Probe JSONL: {"anchor", "positive", "task"} rows (as mote merge).')],
    out: Annotated[Path, typer.Option(help="Output folder for conflict.json and conflict.png.")] = Path(
        "analysis/conflict"),
    batch_size: Annotated[int, typer.Option(min=2)] = 16,
    batches: Annotated[int, typer.Option(min=1, help="Probe batches per task (gradients accumulated).")] = 4,
    label: Annotated[str | None, typer.Option(help="Name of the model in the figure (default: its path).")] = None,
    tasks: Annotated[list[str] | None, typer.Option(help="Only these probe tasks (repeat or comma-separate).")] = None,
) -> None:
    """Per-task gradient cosines of the shared parameters (each task's own loss), overall and per block."""
    from mote.analyze.conflict import conflict

    try:
        result = conflict(model, probe, out, batch_size=batch_size, batches=batches, label=label, tasks=_split(tasks))
    except USER_ERRORS as e:
        _fail(e)
    names, m = result["tasks"], result["cosines"]["all shared"]
    typer.echo("gradient cosines (all shared parameters):")
    for i, a in enumerate(names):
        typer.echo(f"  {a:>15} " + " ".join(f"{m[i][j]:+.2f}" for j in range(len(names))))
    half = result.get("cosines_half_sample")
    for i, (t, c) in enumerate(result["within_task_split_half"].items()):
        other = f"; other tasks at the same sample size {min(r for j, r in enumerate(half[i]) if j != i):+.2f}.." \
            f"{max(r for j, r in enumerate(half[i]) if j != i):+.2f}" if half else ""
        typer.echo(f"  {t}: same task, two halves of its batches: {c:+.2f}{other}")
    typer.echo(f"-> {out / 'conflict.json'}, {out / 'conflict.png'}")


def _labelled(models: list[str]) -> dict[str, str]:
    """``LABEL=PATH`` or ``PATH`` (labelled by itself) -> {label: path}; a label given twice is an error."""
    out: dict[str, str] = {}
    for item in models:
        label, sep, path = item.partition("=")
        label, path = (label, path) if sep and path else (item, item)
        if label in out:
            raise ValueError(f"The label {label!r} is given twice; name the models LABEL=PATH.")
        out[label] = path
    return out


@analyze_app.command("spaces")
def analyze_spaces(
    models: Annotated[list[str], typer.Argument(help="Model folders, each PATH or LABEL=PATH (e.g. the MoTE model "
                                                     "and the instruction-only dense model).")],
    texts: Annotated[Path, typer.Option(help="Texts all routes embed: a .txt (one a line) or a probe .jsonl.")],
    out: Annotated[Path, typer.Option(help="Output folder for spaces.json and spaces.png.")] = Path(
        "analysis/spaces"),
    n_texts: Annotated[int, typer.Option(min=2, help="Texts sampled from the file (seeded).")] = 512,
    tasks: Annotated[list[str] | None, typer.Option(help="Routes to compare (default: each model's own).")] = None,
    seed: int = 0,
) -> None:
    """Linear CKA between the embedding spaces of each model's task routes, on the same texts."""
    from mote.analyze.spaces import spaces

    try:
        result = spaces(_labelled(models), texts, out, n_texts=n_texts, tasks=_split(tasks), seed=seed)
    except USER_ERRORS as e:
        _fail(e)
    for label, m in result["models"].items():
        mean = m["mean_off_diagonal_cka"]
        typer.echo(f"{label}: {len(m['routes'])} routes, mean CKA between routes "
                   + (f"{mean:.3f}" if mean is not None else "n/a (one route)"))
    typer.echo(f"-> {out / 'spaces.json'}, {out / 'spaces.png'}")


@analyze_app.command("task-vectors")
def analyze_task_vectors(
    models: Annotated[list[str], typer.Argument(help="Fine-tuned models, each LABEL=PATH; LABEL is the task, or "
                                                     "TASK@BUDGET for one task's budget sweep (query@600).")],
    base: Annotated[str, typer.Option(help="The base they were fine-tuned from (folder or known name).")] = (
        DEFAULT_BASE_NAME),
    out: Annotated[Path, typer.Option(help="Output folder for task_vectors.json and .png.")] = Path(
        "analysis/task-vectors"),
    examples: Annotated[list[str] | None, typer.Option(help="Examples seen, LABEL=N (default: the training run's "
                                                            "train_summary.json beside the model).")] = None,
) -> None:
    """Norms and pairwise cosines of separate models' task vectors, and the norm-vs-examples fit."""
    from mote.analyze.task_vectors import task_vectors

    try:
        seen = {}
        for k, v in _labelled(_split(examples) or []).items():
            if not v.isdigit():
                raise ValueError(f"--examples {k}={v}: give LABEL=N with N a whole number of examples.")
            seen[k] = int(v)
        result = task_vectors(base, _labelled(models), out, examples=seen)
    except USER_ERRORS as e:
        _fail(e)
    for label, m in result["models"].items():
        typer.echo(f"{label}: norm {m['norm']:.4f}, examples seen {m['examples_seen'] or 'unknown'}")
    fit = result["fit_all"]
    if fit:
        typer.echo(f"norm ~ examples^{fit['exponent']:.3f} (R2 {fit['r2']:.3f}, {fit['points']} models)")
    typer.echo(f"-> {out / 'task_vectors.json'}, {out / 'task_vectors.png'}")


@analyze_app.command("landscape")
def analyze_landscape(
    model_a: Annotated[str, typer.Argument(help="First fine-tune of the base, LABEL=PATH (tau_A: the a axis).")],
    model_b: Annotated[str, typer.Argument(help="Second fine-tune, LABEL=PATH (tau_B: the b axis).")],
    probe: Annotated[Path, typer.Option(help='Probe JSONL: {"anchor", "positive", "task"} rows (as mote merge).')],
    base: Annotated[str, typer.Option(help="The base both were fine-tuned from.")] = DEFAULT_BASE_NAME,
    out: Annotated[Path, typer.Option(help="Output folder for landscape.json and .png.")] = Path(
        "analysis/landscape"),
    low: float = -0.5,
    high: float = 1.5,
    points: Annotated[int, typer.Option(min=2, help="Grid points per axis.")] = 9,
    batch_size: Annotated[int, typer.Option(min=2)] = 16,
    batches: Annotated[int, typer.Option(min=1, help="Probe batches per task at each grid point.")] = 2,
    tasks: Annotated[list[str] | None, typer.Option(help="Only these probe tasks.")] = None,
    mark: Annotated[list[str] | None, typer.Option(help="Merged models to mark, NAME=PATH (projected onto the "
                                                        "plane; repeat).")] = None,
    sp_steps: Annotated[int, typer.Option(min=0, help="Self Positioning steps for its point (0: leave it out).")
                        ] = 100,
) -> None:
    """Each task's loss over the plane of two task vectors from the base, with merges marked."""
    from mote.analyze.landscape import landscape

    try:
        (la, pa), (lb, pb) = next(iter(_labelled([model_a]).items())), next(iter(_labelled([model_b]).items()))
        result = landscape(base, (la, pa), (lb, pb), probe, out, low=low, high=high, points=points,
                           batch_size=batch_size, batches=batches, tasks=_split(tasks),
                           marks=_labelled(_split(mark) or []), self_positioning_steps=sp_steps)
    except USER_ERRORS as e:
        _fail(e)
    typer.echo(f"cosine(tau_{la}, tau_{lb}) = {result['cosine_a_b']:+.3f}")
    for name, m in result["marks"].items():
        off = f", {m['off_plane_fraction']:.0%} of it off the plane" if m.get("projected") else ""
        off += " (outside the grid: widen --low/--high)" if m.get("outside_grid") else ""
        typer.echo(f"{name:>30}: a={m['a']:+.3f} b={m['b']:+.3f} total {m['total']:.3f}{off}")
    typer.echo(f"-> {out / 'landscape.json'}, {out / 'landscape.png'}")


@app.command()
def doctor(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    seconds: Annotated[float, typer.Option(min=0, help="Encode-rate measurement time (0: skip it).")] = 5.0,
) -> None:
    """This machine as mote sees it: CPU and flags, chosen precision and device, threads, library versions,
    and a measured encode rate fp32 vs bf16 on the packaged model."""
    from mote.runtime import system_report

    try:
        report = system_report(measure_encode=seconds > 0, seconds=seconds)
    except USER_ERRORS as e:
        _fail(e)
    if as_json:
        typer.echo(json.dumps(report, indent=2, default=str))
        return
    flags = " ".join(f"{k}{'+' if v else '-'}" for k, v in report["cpu_flags"].items())
    probe = report["bf16_probe"]
    lines = [
        f"CPU        {report['cpu']} (kind: {report['cpu_kind']})",
        f"flags      {flags}",
        f"oneDNN bf16 capability (torch's check): {report['onednn_reports_bf16']}",
        f"device     {report['device']}",
        f"precision  auto -> {report['precision']}: {report['reason']}",
    ]
    if probe:
        lines.append(f"bf16 probe linear {probe['shape']}: fp32 {probe['fp32_ms']:.2f} ms, "
                     f"bf16 {probe['bf16_ms']:.2f} ms ({probe['source']})")
    lines += [
        f"threads    {report['torch_threads']} torch threads; {report['cores_available']} cores available to this "
        f"process ({report['cpu_count']} in the machine)",
        f"versions   Python {report['python']}, torch {report['torch']}, oneDNN {report['onednn']}, "
        f"MKL {report['mkl']}, CUDA {report['cuda']}",
    ]
    rate = report.get("encode_rate")
    if rate and "skipped" in rate:
        lines.append(f"encode     skipped: {rate['skipped']}")
    elif rate:
        lines.append(f"encode     {rate['model']}, batch {rate['batch_size']}: fp32 {rate['fp32_per_s']}/s, "
                     f"bf16 {rate['bf16_per_s']}/s (bf16/fp32 {rate['bf16_over_fp32']})")
    typer.echo("\n".join(lines))


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("mote").setLevel(logging.INFO)
    app()


if __name__ == "__main__":
    main()

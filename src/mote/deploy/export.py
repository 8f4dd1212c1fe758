"""``mote export``: a model as ONNX or OpenVINO graphs, one dense graph per task route.

A MoTE model's route is fixed per task, so each task is a plain dense encoder: its expert folded in with weight 1
(Expert Averaging with a one-hot weight, :func:`mote.model.upcycle.average_backbone`) and exported on its own.
Tracing the MoTE model itself would freeze whichever task it was traced with. Dense models (Expert-averaged,
merged, any sentence-transformers model of Transformer + Pooling [+ Normalize]) export as one graph, their
prompts kept as the tasks' instructions.

The folder holds the graphs (``<task>/model.onnx`` or ``<task>/openvino_model.xml``; the weights are stored
once per graph: a MoTE export of T tasks is about T times the dense size, said in ``mote_export.json``), the
tokenizer, and ``mote_export.json``: per task its graph and instruction, the pooling, normalisation and
maximum length, and the check of every graph against PyTorch on a fixed text set (minimum and mean cosine).
An export that misses its threshold (fp32: min cosine 0.9999; int8: mean 0.99) is refused and nothing is
written. :class:`mote.deploy.runtime.ExportedModel` loads the folder with the same ``encode(texts, task=...)``.
"""

from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mote._errors import unknown_name
from mote.deploy.runtime import METADATA

log = logging.getLogger(__name__)

FORMATS = ("onnx", "openvino")
QUANTIZE = (None, "int8")
DENSE = "default"  # the graph name of a dense model's one graph
THRESHOLDS = {None: ("min_cosine", 0.9999), "int8": ("mean_cosine", 0.99)}
OPSET = 17
# the fixed check set: short and long, punctuation, numbers, a non-English line, a text past 128 tokens
CHECK_TEXTS = (
    "A man is playing a guitar.",
    "How do I reset my card PIN?",
    "what is the capital of australia",
    "The quick brown fox jumps over the lazy dog near the river bank.",
    "Stocks fell 3.2% on Tuesday after the central bank raised rates by 50 basis points.",
    "ok",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "Der Hund schläft im Garten.",
    "I loved this movie!!! best thing I've seen all year :)",
    "Which protein regulates the cell cycle in yeast?",
    "Subject: Re: new graphics card drivers for linux",
    # past 512 tokens: truncated to the model's max_seq_length, instruction included, as sentence-transformers does
    " ".join(["Embedding models map sentences to vectors so that similar meanings lie close together."] * 40),
)


class ExportCheckError(ValueError):
    """An exported graph does not encode as the PyTorch model within the threshold; nothing was written."""


def _pooling(st: Any) -> tuple[str, bool]:
    """(pooling mode, normalize) of a Transformer + Pooling [+ Normalize] model; anything else is refused."""
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    modules = list(st)
    kinds = [type(m).__name__ for m in modules]
    ok = (len(modules) in (2, 3) and isinstance(modules[0], Transformer) and isinstance(modules[1], Pooling)
          and (len(modules) == 2 or isinstance(modules[2], Normalize)))
    if not ok:
        raise ValueError(f"mote export supports Transformer + Pooling [+ Normalize] models; this one is {kinds}. "
                         "Export the others with sentence-transformers' own export functions.")
    pooling = modules[1]
    mode = str(pooling.pooling_mode)
    if mode not in ("mean", "cls", "max"):
        raise ValueError(f"Pooling mode {mode!r} is not supported by mote export; supported: mean, cls, max.")
    if not getattr(pooling, "include_prompt", True):
        raise ValueError("The model pools without its prompt tokens (Pooling include_prompt=False); mote export "
                         "pools every token. Export it with include_prompt=True or without prompts.")
    return mode, len(modules) == 3


def _routes(st: Any, tasks: Sequence[str] | None) -> tuple[dict[str, Any], dict[str, dict[str, str]], str | None]:
    """(graph name -> HF backbone, task -> {graph, instruction}, default task)."""
    from mote.model.hf import mote_of, task_instruction
    from mote.model.sentence import saved_prompts
    from mote.model.upcycle import average_backbone

    moe = mote_of(st)
    if moe is None:
        prompts = saved_prompts(st)
        names = list(dict.fromkeys([*(tasks or prompts), DENSE]))  # DENSE: the raw text, as encode() without a task
        for t in names:
            if t != DENSE and t not in prompts:
                raise unknown_name("task", t, sorted(prompts) or [DENSE], "A dense model's tasks are its prompts.")
        table = {t: {"graph": DENSE, "instruction": prompts.get(t, "")} for t in names}
        prompt_default = getattr(st, "default_prompt_name", None)
        return {DENSE: st[0].auto_model}, table, prompt_default if prompt_default in names else DENSE
    all_names = list(moe.config.tasks.names)
    names = list(tasks or all_names)
    for t in names:
        if t not in all_names:
            raise unknown_name("task", t, all_names, "Pass tasks of this MoTE model (--tasks).")
    graphs = {}
    for t in names:
        backbone = copy.deepcopy(moe.backbone)
        average_backbone(backbone, moe.arch, [1.0 if n == t else 0.0 for n in all_names])  # the task's own route
        graphs[t] = backbone.eval()
    table = {t: {"graph": t, "instruction": task_instruction(st, t)} for t in names}
    try:
        default: str | None = moe.config.tasks.resolve(None)
    except ValueError:  # no default task: every call names its task
        default = None
    return graphs, table, default if default in names else None


def _wrapper(backbone: Any, names: Sequence[str]) -> Any:
    import torch

    class Hidden(torch.nn.Module):
        def __init__(self, model: Any) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    return Hidden(backbone).eval()


def _export_onnx(backbone: Any, tokenizer: Any, path: Path) -> list[str]:
    import torch

    sample = tokenizer(["a short text", "a somewhat longer text to pad against"], padding=True, return_tensors="pt")
    names = [k for k in ("input_ids", "attention_mask", "token_type_ids") if k in sample]
    axes = {k: {0: "batch", 1: "sequence"} for k in [*names, "last_hidden_state"]}
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad():
        torch.onnx.export(_wrapper(backbone.float(), names), tuple(sample[k] for k in names), str(path),
                          input_names=names, output_names=["last_hidden_state"], dynamic_axes=axes,
                          opset_version=OPSET, dynamo=False)
    return names


def _quantize_int8(path: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = path.with_name("model.int8.onnx")
    # MatMuls only: the embedding tables stay fp32 (quantizing the Gather too cost all-MiniLM-L6-v2 0.0016 of
    # mean cosine on the check set, 0.9906 -> 0.9890, below the 0.99 threshold)
    quantize_dynamic(str(path), str(tmp), per_channel=True, weight_type=QuantType.QInt8,
                     op_types_to_quantize=["MatMul"])
    os.replace(tmp, path)


def _to_openvino(onnx_path: Path) -> Path:
    import openvino as ov

    xml = onnx_path.with_name("openvino_model.xml")
    ov.save_model(ov.convert_model(str(onnx_path)), str(xml), compress_to_fp16=False)
    onnx_path.unlink()
    return xml


def export(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    format: str = "onnx",
    quantize: str | None = None,
    tasks: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Export ``model`` (a mote or sentence-transformers folder) to ``out``; returns ``out``.

    Every task's graph is checked against PyTorch on :data:`CHECK_TEXTS` before the folder is published; the
    cosines are written to ``mote_export.json``. ``quantize="int8"``: ONNX Runtime dynamic int8, per channel
    (``format="onnx"`` only)."""
    from mote.deploy.runtime import ExportedModel
    from mote.model.io import atomic_dir, atomic_write_text
    from mote.model.sentence import encode, load

    if format not in FORMATS:
        raise unknown_name("export format", format, FORMATS, "Pass --format onnx or --format openvino.")
    if quantize not in QUANTIZE:
        raise unknown_name("quantization", str(quantize), ["int8"], "Pass --quantize int8, or leave it out.")
    if quantize and format != "onnx":
        raise ValueError(f"--quantize {quantize} is an ONNX Runtime quantization; use it with --format onnx "
                         "(OpenVINO runs bf16 where the CPU has it, from the fp32 graph).")
    st = load(str(model))
    mode, normalize = _pooling(st)
    graphs, table, default = _routes(st, tasks)
    metric, threshold = THRESHOLDS[quantize]
    with atomic_dir(out, overwrite=overwrite) as tmp:
        st.tokenizer.save_pretrained(str(tmp / "tokenizer"))
        files, inputs = {}, []
        for name, backbone in graphs.items():
            path = tmp / name / "model.onnx"
            log.info("export: graph %r (%s)", name, format)
            inputs = _export_onnx(backbone, st.tokenizer, path)
            if quantize == "int8":
                _quantize_int8(path)
            final = _to_openvino(path) if format == "openvino" else path
            files[name] = final.relative_to(tmp).as_posix()
        meta: dict[str, Any] = {
            "format": format, "quantize": quantize, "graphs": files, "tasks": table, "default_task": default,
            "pooling": mode, "normalize": normalize, "inputs": inputs,
            "max_seq_length": int(st.max_seq_length or st.tokenizer.model_max_length),
            "dimension": int(st.get_embedding_dimension() or 0),
            "source": str(model), "kind": "dense" if DENSE in files else "mote",
            "size_note": (f"{len(files)} graphs, each with its own copy of the weights (about {len(files)}x the "
                          "dense model's size)") if len(files) > 1 else "one graph",
        }
        from mote import __version__

        meta["mote_version"] = __version__
        atomic_write_text(tmp / METADATA, json.dumps(meta, indent=2) + "\n")
        runtime = ExportedModel(tmp)
        checks: dict[str, dict[str, Any]] = {}
        for task in table:
            ref = encode(st, list(CHECK_TEXTS), task=None if task == DENSE else task, normalize=True)
            got = runtime.encode(list(CHECK_TEXTS), task=task, normalize=True)
            cos = (ref * got).sum(axis=1)
            checks[task] = {"min_cosine": float(cos.min()), "mean_cosine": float(cos.mean()),
                            "texts": len(CHECK_TEXTS), "precision": runtime.precision}
            if checks[task][metric] < threshold:
                raise ExportCheckError(
                    f"Export check failed for task {task!r}: {metric} {checks[task][metric]:.6f} against PyTorch "
                    f"(threshold {threshold}); nothing was written. Report it with the model and format."
                )
        meta["checks"] = checks
        atomic_write_text(tmp / METADATA, json.dumps(meta, indent=2) + "\n")
    log.info("export: %s", {t: round(c[metric], 6) for t, c in checks.items()})
    return Path(out)

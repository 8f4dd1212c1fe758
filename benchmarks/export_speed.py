"""Encode throughput of exported graphs (``mote export``) against sentence-transformers, in one run.

all-MiniLM-L6-v2 (or ``--model``): sentence-transformers fp32, sentence-transformers under mote's ``auto``
precision, and the exported folders through ``mote.deploy.ExportedModel``: ONNX Runtime fp32, ONNX Runtime int8
(per channel, MatMuls), OpenVINO (bf16 inference where the CPU runs it natively, else fp32). Same texts (natural
lengths: STS-B sentences and SciFact abstracts interleaved, from ../shared/data when present), batch 32, timed
interleaved over repeats (median), each with its cosine to sentence-transformers fp32 and, for the exports, its
STS Benchmark test Spearman (x100) next to PyTorch's. Beside them, in the same run, the plain runtimes without
mote (ONNX Runtime fp32 and int8, OpenVINO with its defaults and with its throughput recipe: ``plain_paths``),
and the ratio of mote's fastest export to the fastest plain one. The CPU kind and flags go into the header.
Writes benchmarks/results/export_speed.{json,md}.

    python benchmarks/export_speed.py [--n 512] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line
from encode_speed import DATA, RESULTS, load_texts

from mote.deploy.export import export
from mote.deploy.runtime import ExportedModel
from mote.model.resolve import DEFAULT_BASE, resolve_model
from mote.model.sentence import load
from mote.runtime import resolve


def stsb_test() -> tuple[list[str], list[str], list[float]] | None:
    from mote.data.evaluations.sts import read_stsbenchmark

    if not (DATA / "stsbenchmark").is_dir():
        return None
    cols = read_stsbenchmark(DATA, "test")
    return cols["sentence1"], cols["sentence2"], cols["score"]


def spearman(encode: Any, data: tuple[list[str], list[str], list[float]] | None) -> float | None:
    if data is None:
        return None
    from scipy.stats import spearmanr

    x, y = encode(data[0]), encode(data[1])
    cos = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
    return round(100 * float(spearmanr(cos, data[2]).statistic), 3)


def plain_paths(model_dir: Path, work: Path, max_length: int, batch_size: int = 32) -> dict[str, Any]:
    """The same model run on ONNX Runtime and OpenVINO the way their own docs show, without mote: the Hugging Face
    encoder exported as is (``torch.onnx.export``; ``openvino.convert_model`` from PyTorch), default session and
    compile options (and OpenVINO's throughput hint with an ``AsyncInferQueue``, its docs' recipe for throughput),
    the model's tokenizer, batches of similar length, mean pooling and normalisation in numpy. The bar mote's
    exports must clear on a CPU where neither bf16 nor mote's tuning helps (issue 17: an AVX2-only CPU)."""
    import onnxruntime as ort
    import openvino as ov
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    hf = AutoModel.from_pretrained(model_dir).eval()
    sample = tok(["a short text", "a somewhat longer text to pad against"], padding=True, return_tensors="pt")
    names = list(sample.keys())

    class Hidden(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = hf

        def forward(self, *inputs: Any) -> Any:
            return self.model(**dict(zip(names, inputs, strict=True))).last_hidden_state

    onnx_path = work / "plain" / "model.onnx"
    onnx_path.parent.mkdir(parents=True)
    with torch.no_grad():
        torch.onnx.export(Hidden().eval(), tuple(sample[k] for k in names), str(onnx_path), input_names=names,
                          output_names=["last_hidden_state"], dynamo=False,
                          dynamic_axes={k: {0: "batch", 1: "sequence"} for k in [*names, "last_hidden_state"]})
    int8_path = onnx_path.with_name("model.int8.onnx")
    quantize_dynamic(str(onnx_path), str(int8_path), weight_type=QuantType.QInt8)  # the documented defaults
    sessions = {p: ort.InferenceSession(str(p), providers=["CPUExecutionProvider"]) for p in (onnx_path, int8_path)}
    with torch.no_grad():
        ov_model = ov.convert_model(hf, example_input=dict(sample))
    compiled = ov.Core().compile_model(ov_model, "CPU")

    def batches(batch: list[str]) -> Any:
        """(indices, feed, mask) per batch of similar length, as sentence-transformers' own encode does (unsorted
        batches of sentences and abstracts pad every sentence to an abstract's length: 2.8x slower for ONNX
        Runtime fp32 here)."""
        order = sorted(range(len(batch)), key=lambda i: -len(batch[i]))
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            enc = tok([batch[i] for i in idx], padding=True, truncation=True, max_length=max_length,
                      return_tensors="np")
            yield idx, {k: enc[k].astype(np.int64) for k in names}, enc["attention_mask"][..., None].astype(np.float32)

    def mean_pooled(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
        emb = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        return np.asarray(emb / np.linalg.norm(emb, axis=1, keepdims=True))

    def pooled(batch: list[str], run: Any) -> np.ndarray:
        out = np.empty((len(batch), hf.config.hidden_size), dtype=np.float32)
        for idx, feed, mask in batches(batch):
            out[idx] = mean_pooled(run(feed), mask)
        return out

    throughput = ov.Core().compile_model(ov_model, "CPU", {"PERFORMANCE_HINT": "THROUGHPUT"})

    def pooled_async(batch: list[str]) -> np.ndarray:
        """OpenVINO's throughput recipe: the throughput hint and an ``AsyncInferQueue`` of its optimal size, each
        batch pooled in its request's callback."""
        out = np.empty((len(batch), hf.config.hidden_size), dtype=np.float32)

        def done(request: Any, job: tuple[list[int], np.ndarray]) -> None:
            out[job[0]] = mean_pooled(request.get_output_tensor(0).data, job[1])

        queue = ov.AsyncInferQueue(throughput)
        queue.set_callback(done)
        for idx, feed, mask in batches(batch):
            queue.start_async(feed, (idx, mask))
        queue.wait_all()
        return out

    return {
        "plain onnxruntime fp32": lambda b: pooled(b, lambda f: sessions[onnx_path].run(None, f)[0]),
        "plain onnxruntime int8": lambda b: pooled(b, lambda f: sessions[int8_path].run(None, f)[0]),
        "plain openvino": lambda b: pooled(b, lambda f: next(iter(compiled(f).values()))),
        "plain openvino, throughput hint": pooled_async,
    }


def verdict(rows: dict[str, dict[str, Any]], min_mean_cosine: float = 0.99) -> dict[str, Any]:
    """mote's fastest export against the fastest plain runtime, each among the paths whose mean cosine to
    sentence-transformers fp32 is at least ``min_mean_cosine`` (the int8 bar)."""
    def best(prefix: str) -> tuple[str, float] | None:
        ok = [(k, r["texts_per_s"]) for k, r in rows.items()
              if k.startswith(prefix) and r["mean_cosine"] >= min_mean_cosine]
        return max(ok, key=lambda kv: kv[1]) if ok else None

    mote, plain = best("export "), best("plain ")
    if mote is None or plain is None:
        return {}
    return {"best_export": mote[0], "best_plain": plain[0], "ratio": round(mote[1] / plain[1], 2)}


def measure(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    model_dir = resolve_model(args.model)
    st = load(model_dir)
    texts = load_texts(args.n)
    rt = resolve("auto", "cpu")
    work = Path(tempfile.mkdtemp(prefix="mote-export-bench-"))
    folders = {
        "onnx fp32": export(model_dir, work / "onnx"),
        "onnx int8": export(model_dir, work / "int8", quantize="int8"),
        "openvino auto": export(model_dir, work / "ov", format="openvino"),
    }
    runtimes = {k: ExportedModel(v) for k, v in folders.items()}
    runtimes["openvino auto, latency hint"] = ExportedModel(folders["openvino auto"], hint="latency")

    def st_encode(precision: str) -> Any:
        r = resolve(precision, "cpu")

        def run(batch: list[str]) -> np.ndarray:
            with torch.inference_mode(), r.autocast():
                return np.asarray(st.encode(batch, batch_size=args.batch_size, convert_to_numpy=True), np.float32)
        return run

    variants: dict[str, Any] = {"sentence-transformers fp32": st_encode("fp32"),
                                f"sentence-transformers auto ({rt.precision})": st_encode("auto")}
    for name, runtime in runtimes.items():
        variants[f"export {name}"] = lambda batch, m=runtime: m.encode(batch, batch_size=args.batch_size)
    variants.update(plain_paths(Path(model_dir), work, st.max_seq_length, args.batch_size))
    for run in variants.values():  # warm-up
        run(texts[:64])
    times: dict[str, list[float]] = {k: [] for k in variants}
    order = list(variants)
    for r in range(args.repeats):
        for name in order[r % len(order):] + order[: r % len(order)]:
            start = time.perf_counter()
            variants[name](texts)
            times[name].append(time.perf_counter() - start)
    reference = variants["sentence-transformers fp32"](texts)
    sts = stsb_test()
    rows = {}
    base = statistics.median(times["sentence-transformers fp32"])
    for name, run in variants.items():
        emb = run(texts)
        cos = (emb * reference).sum(1) / np.linalg.norm(emb, axis=1) / np.linalg.norm(reference, axis=1)
        med = statistics.median(times[name])
        rows[name] = {"texts_per_s": round(len(texts) / med, 1), "speedup_vs_st_fp32": round(base / med, 2),
                      "min_cosine": round(float(cos.min()), 6), "mean_cosine": round(float(cos.mean()), 6),
                      "stsb_spearman": spearman(run, sts)}
    # one text per call (what a server does for a lone request): OpenVINO's two hints side by side
    single: dict[str, list[float]] = {}
    for _ in range(args.repeats):
        for name in ("openvino auto", "openvino auto, latency hint"):
            start = time.perf_counter()
            for t in texts[:200]:
                runtimes[name].encode([t])
            single.setdefault(name, []).append(200 / (time.perf_counter() - start))
    return {"machine": describe(), "model": str(args.model), "n_texts": len(texts), "batch_size": args.batch_size,
            "repeats": args.repeats, "rows": rows, "mote_vs_plain": verdict(rows),
            "single_text_calls_per_s": {k: round(statistics.median(v), 1) for k, v in single.items()}}


def to_markdown(result: dict[str, Any]) -> str:
    lines = [f"# Export encode speed ({result['model']})", "", machine_line(result["machine"]), "",
             f"{result['n_texts']} texts (natural lengths), batch {result['batch_size']}, median of "
             f"{result['repeats']} interleaved repeats; cosine against sentence-transformers fp32; STS Benchmark test "
             "Spearman x100.", "",
             "| path | texts/s | x ST fp32 | min cosine | mean cosine | STS-B |", "|---|---|---|---|---|---|"]
    for name, r in result["rows"].items():
        lines.append(f"| {name} | {r['texts_per_s']} | {r['speedup_vs_st_fp32']} | {r['min_cosine']} | "
                     f"{r['mean_cosine']} | {r['stsb_spearman']} |")
    v = result.get("mote_vs_plain") or {}
    if v:
        lines += ["", f"mote's fastest export ({v['best_export']}) / the fastest plain runtime ({v['best_plain']}), "
                  f"each among paths with mean cosine >= 0.99: **{v['ratio']}x** (issue 17 asks >= 1.0 on an "
                  "AVX2-only CPU; this run's CPU kind is in the header)."]
    single = result.get("single_text_calls_per_s") or {}
    if single:
        lines += ["", "One text per call (200 calls, median of the repeats; what a server does for a lone request): "
                  + ", ".join(f"{k} {v} calls/s" for k, v in single.items()) + "."]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", default=DEFAULT_BASE)
    p.add_argument("--n", type=int, default=512)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    result = measure(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_speed.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "export_speed.md").write_text(to_markdown(result))
    print(to_markdown(result))


if __name__ == "__main__":
    main()

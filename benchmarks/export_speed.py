"""Encode throughput of exported graphs (``mote export``) against sentence-transformers, in one run.

all-MiniLM-L6-v2 (or ``--model``): sentence-transformers fp32, sentence-transformers under mote's ``auto``
precision, and the exported folders through ``mote.deploy.ExportedModel``: ONNX Runtime fp32, ONNX Runtime int8
(per channel, MatMuls), OpenVINO (bf16 inference where the CPU runs it natively, else fp32). Same texts (natural
lengths: STS-B sentences and SciFact abstracts interleaved, from ../shared/data when present), batch 32, timed
interleaved over repeats (median), each with its cosine to sentence-transformers fp32 and, for the exports, its
STS Benchmark test Spearman (x100) next to PyTorch's. The CPU kind and flags go into the header.
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
            "repeats": args.repeats, "rows": rows,
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

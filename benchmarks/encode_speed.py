"""Encode throughput of an up-cycled MiniLM (5 tasks, every-other) against the dense base.

Dense, MoTE on single-task batches and MoTE on mixed-task batches are timed interleaved in one run
(round-robin over repeats), batch 64, natural lengths (real sentences and abstracts from ../shared/data
when present), in fp32, in bf16 autocast and in ``auto`` (what mote.runtime resolves on this machine). The
CPU kind and flags go into the header. Peak memory is measured per variant in a fresh subprocess.
Writes benchmarks/results/encode_speed.{json,md}.

    python benchmarks/encode_speed.py [--n 512] [--repeats 3] [--precisions fp32,bf16,auto]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch
from sentence_transformers import SentenceTransformer

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line

from mote.model.resolve import DEFAULT_BASE, resolve_model
from mote.model.sentence import upcycle
from mote.runtime import Runtime, resolve
from mote.tasks import TaskSet

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data"
RESULTS = ROOT / "benchmarks" / "results"


def load_texts(n: int) -> list[str]:
    """Half short sentences (STS-B), half longer abstracts (SciFact), interleaved; synthetic fallback."""
    short: list[str] = []
    long: list[str] = []
    sts = DATA / "stsbenchmark" / "sts-train.csv"
    if sts.is_file():
        for line in sts.read_text(encoding="utf-8").splitlines():
            parts = line.split("\t")
            if len(parts) >= 7:
                short.append(parts[5])
    corpus = DATA / "scifact" / "csv" / "corpus_train.csv"
    if corpus.is_file():
        import csv

        csv.field_size_limit(10**8)
        with corpus.open(encoding="utf-8") as f:
            for row in csv.DictReader(f):
                long.append(f"{row.get('title', '')} {row.get('abstract', '')}")
                if len(long) >= n:
                    break
    if not short or not long:
        words = [
            "the",
            "model",
            "routes",
            "each",
            "input",
            "by",
            "its",
            "task",
            "to",
            "one",
            "expert",
            "of",
            "the",
            "feed",
            "forward",
            "block",
        ]
        short = [" ".join(words[: 5 + i % 10]) for i in range(n)]
        long = [" ".join(words * (2 + i % 6)) for i in range(n)]
    return [short[i // 2] if i % 2 == 0 else long[i // 2] for i in range(n)]


def batches(model: SentenceTransformer, texts: list[str], size: int) -> list[dict[str, torch.Tensor]]:
    """Tokenised batches of length-sorted texts, as ``SentenceTransformer.encode`` forms them."""
    texts = sorted(texts, key=len, reverse=True)
    return [model.preprocess(texts[i : i + size]) for i in range(0, len(texts), size)]


def run_once(model: SentenceTransformer, feats: list[dict[str, Any]], tasks: list[Any], rt: Runtime) -> float:
    start = time.perf_counter()
    with torch.inference_mode(), rt.autocast():
        for f, t in zip(feats, tasks, strict=True):
            model(dict(f), **({"task": t} if t is not None else {}))
    return time.perf_counter() - start


def measure(args: argparse.Namespace) -> dict[str, Any]:
    base_dir = resolve_model(DEFAULT_BASE)
    dense = SentenceTransformer(base_dir, device="cpu").eval()
    moe = upcycle(base_dir, TaskSet(), layers="every-other").eval()
    texts = load_texts(args.n)
    feats = batches(dense, texts, args.batch_size)
    names = TaskSet().names
    single = [names[i % len(names)] for i in range(len(feats))]  # one task per batch, rotating
    mixed = [[names[(i * 7 + j) % len(names)] for j in range(f["input_ids"].shape[0])] for i, f in enumerate(feats)]
    variants = {"dense": (dense, [None] * len(feats)), "mote_single": (moe, single), "mote_mixed": (moe, mixed)}
    results: dict[str, Any] = {}
    for precision in args.precisions.split(","):
        rt = resolve(precision, "cpu")
        times: dict[str, list[float]] = {k: [] for k in variants}
        for m, t in variants.values():  # warm-up
            run_once(m, feats[:2], t[:2], rt)
        order = list(variants)
        for r in range(args.repeats):  # interleaved, rotating which variant goes first
            for name in order[r % len(order) :] + order[: r % len(order)]:
                m, t = variants[name]
                times[name].append(run_once(m, feats, t, rt))
        med = {k: statistics.median(v) for k, v in times.items()}
        label = precision if precision == rt.precision else f"{precision} (-> {rt.precision})"
        results[label] = {
            k: {"seconds_median": med[k], "seconds_all": times[k], "sentences_per_s": len(texts) / med[k]}
            for k in variants
        }
        for k in ("mote_single", "mote_mixed"):
            results[label][k]["ratio_vs_dense"] = med["dense"] / med[k]
    return results


def peak_memory(folder: str) -> float:
    """Peak RSS increase (MiB) over the post-import baseline in a fresh process: load the saved model
    folder and encode 256 texts (sampled after loading and after every batch)."""
    here = str(Path(__file__).parent)
    code = f"import sys; sys.path.insert(0, {here!r}); import encode_speed as b; b.memory_child({folder!r})"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(out.stdout.strip().splitlines()[-1])


def _rss_mib() -> float:
    with open("/proc/self/statm", encoding="utf-8") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def memory_child(variant: str) -> None:
    base_dir = resolve_model(DEFAULT_BASE)
    texts = load_texts(256)
    baseline = _rss_mib()
    model = (SentenceTransformer(base_dir, device="cpu") if variant == "dense" else upcycle(base_dir, TaskSet())).eval()
    peak = _rss_mib()
    feats = batches(model, texts, 64)
    tasks: list[Any] = [None] * len(feats) if variant == "dense" else ["query"] * len(feats)
    for f, t in zip(feats, tasks, strict=True):
        run_once(model, [f], [t], Runtime("cpu", "fp32"))
        peak = max(peak, _rss_mib())
    print(peak - baseline)


def write(results: dict[str, Any], mem: dict[str, float], args: argparse.Namespace, params: dict[str, int]) -> None:
    machine = describe()
    payload = {
        "config": vars(args),
        "machine": machine,
        "results": results,
        "peak_rss_increase_mib": mem,
        "parameter_bytes": params,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "encode_speed.json").write_text(json.dumps(payload, indent=2) + "\n")
    lines = [
        "# Encode speed: MoTE (5 tasks, every-other) vs dense all-MiniLM-L6-v2",
        "",
        f"Machine: {machine_line(machine)}. {args.n} texts (half STS-B sentences, half SciFact abstracts, "
        f"natural lengths, max 256 tokens, length-sorted into batches as `encode` does), batch {args.batch_size}, "
        f"median of {args.repeats} interleaved repeats. mote_single: each batch one task (tasks rotate across "
        "batches); mote_mixed: every batch mixes all 5 tasks.",
        "",
        "| precision | variant | sentences/s | ratio vs dense | speed vs fp32 |",
        "|---|---|---|---|---|",
    ]
    fp32 = results.get("fp32", {})
    for precision, rows in results.items():
        for k, r in rows.items():
            ratio = f"{r['ratio_vs_dense']:.3f}" if "ratio_vs_dense" in r else "1.000"
            vs = f"{r['sentences_per_s'] / fp32[k]['sentences_per_s']:.2f}x" if k in fp32 else "-"
            lines.append(f"| {precision} | {k} | {r['sentences_per_s']:.1f} | {ratio} | {vs} |")
    lines += [
        "",
        "| variant | parameters (MiB) | peak RSS increase (MiB): load + encode 256 texts, fresh process |",
        "|---|---|---|",
    ]
    lines += [f"| {k} | {params[k] / 2**20:.1f} | {v:.0f} |" for k, v in mem.items()]
    lines.append("")
    (RESULTS / "encode_speed.md").write_text("\n".join(lines))
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--precisions", default="fp32,bf16,auto", help="Comma-separated: fp32, bf16, auto.")
    args = parser.parse_args()
    results = measure(args)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        upcycle(resolve_model(DEFAULT_BASE), TaskSet(), out=Path(tmp) / "mote")
        mem = {"dense": peak_memory(resolve_model(DEFAULT_BASE)), "mote": peak_memory(str(Path(tmp) / "mote"))}
    write(results, mem, args, parameter_bytes())
    return None


def parameter_bytes() -> dict[str, int]:
    base_dir = resolve_model(DEFAULT_BASE)
    dense = SentenceTransformer(base_dir, device="cpu")
    moe = upcycle(base_dir, TaskSet())
    return {k: sum(p.numel() * p.element_size() for p in m.parameters()) for k, m in (("dense", dense), ("mote", moe))}


if __name__ == "__main__":
    main()

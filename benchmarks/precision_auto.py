"""Does ``precision: auto`` pick the fast precision on both CPU kinds? Encode and train speed, fp32 vs bf16 vs auto.

Runs the same measurement twice, each in a fresh process with a fresh bf16 probe (no cache):
  native       this machine as it is
  avx2-capped  oneDNN and MKL capped to AVX2 (ONEDNN_MAX_CPU_ISA=AVX2, MKL_ENABLE_INSTRUCTIONS=AVX2): an
               IMITATION of an AVX2-only CPU. PyTorch's capability check still reports bf16 (the flags are the
               machine's), but the bf16 kernels then run without bf16 instructions and are as slow as on a
               real AVX2 CPU; what ``auto`` decides rests on the measured probe, so it sees the difference. On
               a bf16-native CPU the first row is the real thing; on an AVX2-only CPU both rows are.
Per kind: the probe's bf16/fp32 speed, what auto resolved to, encode sentences/s of all-MiniLM-L6-v2 and
the median `mote train` step (joint with instructions) at fp32, bf16 and auto, measured side by side.
Writes benchmarks/results/precision_auto.{json,md}.

    python benchmarks/precision_auto.py [--texts 512] [--steps 8] [--rounds 3] [--batch-size 16] [--max-seq-length 64]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
KINDS = {
    "native": {},
    "avx2-capped": {"ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_ENABLE_INSTRUCTIONS": "AVX2"},
}


def child(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(HERE))
    from _machine import describe
    from datasets import Dataset
    from encode_speed import batches, load_texts, run_once
    from sentence_transformers import SentenceTransformer
    from train_speed import load_pairs, run_mote

    from mote.model.resolve import DEFAULT_BASE, resolve_model
    from mote.runtime import configure_threads, resolve

    configure_threads()
    machine = describe()  # measures the probe afresh (MOTE_CACHE_DIR is a new folder)
    base = resolve_model(DEFAULT_BASE)
    runtimes = {p: resolve(p, "cpu") for p in ("fp32", "bf16", "auto")}
    model = SentenceTransformer(base, device="cpu").eval()
    feats = batches(model, load_texts(args.texts), 64)
    enc: dict[str, list[float]] = {p: [] for p in runtimes}
    for rt in runtimes.values():
        run_once(model, feats[:1], [None], rt)  # warm-up
    for r in range(args.repeats):
        for p, rt in list(runtimes.items())[r % 3 :] + list(runtimes.items())[: r % 3]:
            enc[p].append(args.texts / run_once(model, feats, [None] * len(feats), rt))
    a, b = load_pairs(args.batch_size * args.steps * 2)
    data = Dataset.from_dict({"anchor": a, "positive": b, "anchor_task": ["query"] * len(a),
                              "positive_task": ["document"] * len(a)})
    steps: dict[str, list[float]] = {p: [] for p in runtimes}
    for r in range(args.rounds):  # interleaved rounds, rotating the order
        for p in list(runtimes)[r % 3 :] + list(runtimes)[: r % 3]:
            with tempfile.TemporaryDirectory() as tmp:
                steps[p] += run_mote("joint", True, base, data, args, Path(tmp) / p, p)[1:]
    return {
        "machine": machine,
        "auto_resolved": runtimes["auto"].precision,
        "auto_reason": runtimes["auto"].reason,
        "encode_sentences_per_s": {p: statistics.median(v) for p, v in enc.items()},
        "train_step_s": {p: statistics.median(v) for p, v in steps.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--texts", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)))
        return
    out: dict[str, Any] = {"config": {k: v for k, v in vars(args).items() if k != "child"}, "kinds": {}}
    for kind, env in KINDS.items():
        with tempfile.TemporaryDirectory() as cache:
            proc = subprocess.run(
                [sys.executable, __file__, "--child", *sys.argv[1:]],
                env={**os.environ, **env, "MOTE_CACHE_DIR": cache}, capture_output=True, text=True, check=False,
            )
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")), None)
        if line is None:
            sys.exit(f"{kind}: the measurement failed:\n{proc.stderr[-3000:]}")
        out["kinds"][kind] = json.loads(line[7:]) | {"env": env}
        print(f"{kind}: auto -> {out['kinds'][kind]['auto_resolved']}", flush=True)
    write(out, args)


def write(out: dict[str, Any], args: argparse.Namespace) -> None:
    from _machine import machine_line

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "precision_auto.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [
        "# `precision: auto` on both CPU kinds: encode and train speed, fp32 vs bf16 vs auto",
        "",
        f"all-MiniLM-L6-v2; encode {args.texts} texts (batch 64, median of {args.repeats}); `mote train` joint with "
        f"instructions, batch {args.batch_size}, max_seq_length {args.max_seq_length}, median over {args.rounds} "
        f"interleaved runs of {args.steps} steps (the first step of each dropped). `avx2-capped` imitates an "
        "AVX2-only CPU by capping oneDNN and MKL to AVX2 (see the script's docstring): the CPU's flags stay, its "
        "kernels lose bf16; it is not a real AVX2 machine. 'auto vs best' = time of the faster fixed choice / "
        "time of auto (1.00: auto is as fast as the better of fp32 and bf16; auto and its twin differ by noise).",
        "",
        "| CPU | bf16 probe (x fp32) | auto -> | encode/s fp32 | bf16 | auto | train step s fp32 | bf16 | auto | "
        "auto vs best |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for kind, r in out["kinds"].items():
        e, t = r["encode_sentences_per_s"], r["train_step_s"]
        best = min(t["fp32"], t["bf16"])
        lines.append(
            f"| {kind} (flags: {r['machine']['cpu_kind']}) | {r['machine']['bf16_probe_speedup']:.2f} | "
            f"**{r['auto_resolved']}** | {e['fp32']:.0f} | {e['bf16']:.0f} | {e['auto']:.0f} | {t['fp32']:.3f} | "
            f"{t['bf16']:.3f} | {t['auto']:.3f} | {best / t['auto']:.2f} |"
        )
    lines += ["", "Machines:"]
    lines += [f"- {kind}: {machine_line(r['machine'])}" for kind, r in out["kinds"].items()]
    lines.append("")
    (RESULTS / "precision_auto.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

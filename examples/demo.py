"""The main job on the embedded default model: up-cycle, encode per task, average the experts.

Run with `make demo` (or `python examples/demo.py --out demo-out`). Needs no network.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from sentence_transformers import SentenceTransformer

from mote.model.resolve import DEFAULT_BASE, resolve_model
from mote.model.sentence import average, encode, info, upcycle

SENTENCES = {
    "query": ["how do vaccines train the immune system?"],
    "document": ["Vaccines expose the immune system to an antigen so it can respond faster later."],
    "similarity": ["A man is playing a guitar on stage."],
    "classification": ["I want to cancel my card, it was stolen yesterday."],
    "clustering": ["How to merge two dictionaries in Python?"],
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", default=DEFAULT_BASE)
    parser.add_argument("--out", type=Path, default=Path("demo-out"))
    args = parser.parse_args()

    t0 = time.perf_counter()
    base_dir = resolve_model(args.base)
    print(f"1. base model {args.base} -> {base_dir}")
    dense = SentenceTransformer(base_dir, device="cpu")

    moe = upcycle(args.base, layers="every-other", out=args.out / "mote", overwrite=True)
    print(f"2. up-cycled into {args.out / 'mote'}\n{info(moe, args.out / 'mote').as_text()}")

    print("3. encode a sentence per task (expert + instruction); compare with the dense base + same prefix")
    for task, texts in SENTENCES.items():
        ours = encode(moe, texts, task=task)
        ref = dense.encode(texts, prompt=moe.prompts[task])
        print(f"   {task:<15} prefix {moe.prompts[task]!r:<22} dim {ours.shape[1]}  "
              f"max |MoTE - dense| = {np.abs(ours - ref).max():.2e}")

    q = encode(moe, SENTENCES["query"], task="query", normalize=True)
    d = encode(moe, SENTENCES["document"] + SENTENCES["clustering"], task="document", normalize=True)
    print(f"   query->documents cosine: relevant {float(q[0] @ d[0]):.3f}, unrelated {float(q[0] @ d[1]):.3f}")

    dense_out = args.out / "averaged"
    averaged = average(moe, out=dense_out, overwrite=True)
    diff = np.abs(averaged.encode(SENTENCES["similarity"]) - dense.encode(SENTENCES["similarity"])).max()
    print(f"4. Expert Averaging -> {dense_out} (a plain dense model)\n{info(averaged, dense_out).as_text()}")
    print(f"   freshly up-cycled experts average back to the base: max |diff| = {diff:.2e}")
    print(f"done in {time.perf_counter() - t0:.1f}s")


if __name__ == "__main__":
    main()

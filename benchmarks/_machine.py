"""Describe the machine and library versions for benchmark reports."""

from __future__ import annotations

import contextlib
import os
import platform
from typing import Any


def describe() -> dict[str, Any]:
    import sentence_transformers
    import torch
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem_gib = None
    with contextlib.suppress(ValueError, OSError):
        mem_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    from mote.runtime import ISA_CAP_VARIABLES, available_cores, bf16_probe, cpu_info, resolve

    info = cpu_info()
    probe = bf16_probe(info)
    auto = resolve("auto", "cpu", probe=probe)  # these benchmarks run on the CPU
    caps = {v: os.environ[v] for v in ISA_CAP_VARIABLES if os.environ.get(v)}
    return {
        "cpu": cpu,
        "cpu_kind": info.kind,
        "cpu_flags": [f for f, on in info.flags_of_interest().items() if on],
        "isa_caps": caps,
        "bf16_probe_speedup": round(probe.speedup, 3),
        "auto_precision": auto.precision,
        "cores": os.cpu_count(),
        "cores_available": available_cores(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "platform": platform.platform(),
    }


def machine_line(m: dict[str, Any]) -> str:
    caps = ", ".join(f"{k}={v}" for k, v in (m.get("isa_caps") or {}).items())
    return (
        f"{m['cpu']} (CPU kind **{m.get('cpu_kind', '?')}**; flags {' '.join(m.get('cpu_flags') or []) or 'none'}"
        + (f"; ISA capped: {caps}" if caps else "")
        + f"; bf16 probe {m.get('bf16_probe_speedup', '?')}x fp32 -> auto = {m.get('auto_precision', '?')}), "
        f"{m['cores']} cores ({m['torch_threads']} torch threads), {m['memory_gib']} GiB; "
        f"Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, "
        f"sentence-transformers {m['sentence_transformers']}"
    )

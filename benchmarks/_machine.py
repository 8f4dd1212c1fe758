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
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": mem_gib,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "platform": platform.platform(),
    }


def machine_line(m: dict[str, Any]) -> str:
    return (
        f"{m['cpu']}, {m['cores']} cores ({m['torch_threads']} torch threads), {m['memory_gib']} GiB; "
        f"Python {m['python']}, torch {m['torch']}, transformers {m['transformers']}, "
        f"sentence-transformers {m['sentence_transformers']}"
    )

"""Run one ``mote`` command and SIGKILL this process at a write point: the fault rows of the bad-input matrix.

    python fault_script.py POINT mote-args...

POINT: ``weights`` (a weights file half written, then killed), ``rename`` (killed just before the rename that
publishes a model folder), ``replace`` (killed just before the rename that publishes a file), ``checkpoint``
(killed just before a finished checkpoint is renamed out of ``.staging/``).
The patches go in before mote (and transformers) are imported, so every writer sees them.
"""

from __future__ import annotations

import os
import pathlib
import signal
import sys


def die(*_: object, **__: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


point, argv = sys.argv[1], sys.argv[2:]
if point == "weights":
    import safetensors.torch

    original = safetensors.torch.save_file

    def half_then_die(tensors: object, filename: str, metadata: object = None) -> None:
        original(tensors, filename, metadata=metadata)  # type: ignore[arg-type]
        data = pathlib.Path(filename).read_bytes()
        pathlib.Path(filename).write_bytes(data[: len(data) // 2])
        die()

    safetensors.torch.save_file = half_then_die
elif point == "rename":
    pathlib.Path.rename = die  # type: ignore[assignment,method-assign]
elif point == "replace":
    os.replace = die  # type: ignore[assignment]
elif point == "checkpoint":  # the rename that publishes a finished checkpoint from .staging/
    original_replace = os.replace

    def replace_or_die(src: object, dst: object, *args: object, **kwargs: object) -> None:
        if ".staging" in str(src):
            die()
        original_replace(src, dst, *args, **kwargs)  # type: ignore[arg-type]

    os.replace = replace_or_die  # type: ignore[assignment]
else:
    raise SystemExit(f"unknown fault point {point!r}")

from mote.cli import main  # noqa: E402

sys.argv = ["mote", *argv]
main()

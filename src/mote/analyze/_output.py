"""What every analysis ends with: its JSON result and its figure in the output folder."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mote.model.io import atomic_write_text


def pyplot() -> Any:
    """matplotlib's pyplot on the file-only backend (no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def write_result(out: str | os.PathLike[str], stem: str, result: dict[str, Any],
                 plot: Callable[[dict[str, Any], Path], None]) -> None:
    """``<out>/<stem>.json`` (written atomically) and ``<out>/<stem>.png`` drawn by ``plot(result, path)``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(folder / f"{stem}.json", json.dumps(result, indent=2) + "\n")
    plot(result, folder / f"{stem}.png")

"""README's quick tour runs verbatim: its bash block, then its Python block, in a fresh folder laid out like the
repository (configs/ and recipes/ beside the outputs, the shared data at ../shared/data)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]


def tour_blocks() -> tuple[str, str]:
    """The ```bash and ```python blocks of README's "Quick tour" section, as written."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Quick tour", 1)[1].split("\n## ", 1)[0]
    bash = re.findall(r"```bash\n(.*?)```", section, flags=re.S)
    python = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(bash) == 1 and len(python) == 1, "the quick tour has one bash and one python block"
    return bash[0], python[0]


def test_readme_quick_tour_runs_verbatim(shared_data: Path, tmp_path: Path) -> None:
    work = tmp_path / "repo"
    work.mkdir()
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(shared_data)
    for name in ("configs", "recipes"):
        (work / name).symlink_to(REPO / name)
    bash, python = tour_blocks()
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    res = subprocess.run(["bash", "-euo", "pipefail", "-c", bash], cwd=work, env=env, capture_output=True,
                         text=True, timeout=900)
    assert res.returncode == 0, f"bash block failed:\n{res.stdout[-3000:]}\n{res.stderr[-3000:]}"
    # what the commands claim to write is there, and sane
    q = np.load(work / "q.npy")
    assert q.shape == (2, 384) and np.isfinite(q).all()
    assert len((work / "s.jsonl").read_text(encoding="utf-8").splitlines()) == 2
    assert (work / "dense" / "README.md").is_file() and (work / "runs" / "tour" / "final").is_dir()
    assert res.stdout.count("\nmote ") >= 1 or "mote 0." in res.stdout  # --version
    res = subprocess.run([sys.executable, "-c", python], cwd=work, env=env, capture_output=True, text=True,
                         timeout=600)
    assert res.returncode == 0, f"python block failed:\n{res.stderr[-3000:]}"
    assert "(1, 384) (1, 384) (1, 384)" in res.stdout


def test_tour_mentions_only_files_it_creates() -> None:
    """An input the tour reads must be made by the tour itself (questions.txt once did not exist)."""
    bash, _ = tour_blocks()
    for path in re.findall(r"-i (\S+)", bash):
        assert f"> {path}" in bash, f"the tour reads {path} but never writes it"


@pytest.mark.parametrize("flag", ["--data-root"])
def test_every_data_reading_command_takes_data_root(flag: str) -> None:
    from typer.testing import CliRunner

    from mote.cli import app

    for command in ("train", "evaluate", "pipeline"):
        res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert flag in res.output, command

"""A saved MoTE folder is native in the ecosystem: plain sentence-transformers and transformers load it in a
fresh interpreter (mote installed; imported or not), with the task's expert and instruction at encode time."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest


def _fresh(code: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a new interpreter of this environment (site-packages processed as usual)."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})}
    full_env.pop("PYTHONPATH", None)  # what an installed mote gives, not this test run's path
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          env=full_env, timeout=300, cwd="/")


@pytest.fixture(scope="module")
def mote_dir(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mote.model.sentence import upcycle

    out = tmp_path_factory.mktemp("eco") / "m"
    upcycle(tiny_st_dir, ["query", "similarity"], layers="all", out=out, instructions="mote")
    return out


@pytest.fixture(scope="module")
def reference(mote_dir: Path) -> dict[str, np.ndarray]:
    """Embeddings computed in this process through mote's own API (expert + instruction of each task)."""
    from mote.model.sentence import encode, load

    model = load(mote_dir)
    texts = ["a cat sat on the mat", "how do vaccines work?"]
    return {t: encode(model, texts, task=t) for t in ("query", "similarity")}


ENCODE = """
    import json, numpy as np
    from sentence_transformers import SentenceTransformer
    m = SentenceTransformer({path!r}, device="cpu")
    texts = ["a cat sat on the mat", "how do vaccines work?"]
    out = {{t: m.encode(texts, task=t).tolist() for t in ("query", "similarity")}}
    out["model"] = type(m[0].model).__name__
    print("JSON" + json.dumps(out))
"""


def _embeddings(proc: subprocess.CompletedProcess[str]) -> dict[str, object]:
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("JSON"))
    return dict(json.loads(line[4:]))


def test_import_mote_then_sentence_transformers_loads(mote_dir: Path, reference: dict[str, np.ndarray]) -> None:
    out = _embeddings(_fresh("import mote\n" + textwrap.dedent(ENCODE.format(path=str(mote_dir)))))
    assert out["model"] == "MoteModel"
    for task, ref in reference.items():
        np.testing.assert_allclose(np.asarray(out[task]), ref, atol=1e-5)


def test_plain_sentence_transformers_loads_without_importing_mote(
    mote_dir: Path, reference: dict[str, np.ndarray]
) -> None:
    """mote installed, never imported by the user: the architecture registers when transformers is imported."""
    out = _embeddings(_fresh(ENCODE.format(path=str(mote_dir))))
    assert out["model"] == "MoteModel"
    for task, ref in reference.items():  # each task's expert AND instruction, as through mote's API
        np.testing.assert_allclose(np.asarray(out[task]), ref, atol=1e-5)
    assert not np.allclose(reference["query"], reference["similarity"])  # the routes differ, so this checks routing


def test_import_mote_registers_with_transformers_auto_classes(mote_dir: Path) -> None:
    proc = _fresh(f"""
        import mote
        from transformers import AutoConfig, AutoModel
        cfg = AutoConfig.from_pretrained({str(mote_dir)!r})
        model = AutoModel.from_pretrained({str(mote_dir)!r})
        print("OK", cfg.model_type, type(model).__name__, sorted(cfg.tasks.names))
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "OK mote MoteModel ['query', 'similarity']" in proc.stdout


def test_import_mote_is_light() -> None:
    """`import mote` (and so `mote --help`) does not pay for torch/transformers; registration waits for them."""
    proc = _fresh("""
        import sys, mote
        heavy = [m for m in ("torch", "transformers", "sentence_transformers", "pydantic") if m in sys.modules]
        print("HEAVY", heavy)
        print("API", mote.__version__, mote.TaskSet().names[:1])  # the documented names still resolve
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "HEAVY []" in proc.stdout, proc.stdout
    assert "API 0." in proc.stdout and "['query']" in proc.stdout


def test_autoregister_can_be_switched_off(mote_dir: Path) -> None:
    """MOTE_AUTOREGISTER=0: nothing happens at start-up; loading then needs an explicit `import mote`."""
    proc = _fresh(f"""
        from transformers import AutoConfig
        try:
            AutoConfig.from_pretrained({str(mote_dir)!r})
            print("LOADED")
        except (ValueError, KeyError) as e:
            print("REFUSED")
    """, env={"MOTE_AUTOREGISTER": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "REFUSED" in proc.stdout


def test_importing_transformers_alone_stays_light() -> None:
    """The start-up hook waits for transformers' Auto classes: a program that only imports transformers (lazy)
    does not pay for torch or mote; loading through AutoConfig then registers mote."""
    proc = _fresh("""
        import sys
        import transformers
        print("LIGHT", [m for m in ("torch", "mote.model.hf") if m in sys.modules])
        from transformers import AutoConfig, CONFIG_MAPPING
        print("REGISTERED", "mote" in CONFIG_MAPPING)
    """)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "LIGHT []" in proc.stdout and "REGISTERED True" in proc.stdout, proc.stdout


def test_built_wheel_ships_the_startup_hook(tmp_path: Path) -> None:
    """A regular wheel (what `pip install mote-embeddings` installs) has mote-autoregister.pth at its root, the
    same line as the source file; the editable install that tests run on is covered by the tests above."""
    import shutil
    import zipfile

    repo = Path(__file__).resolve().parents[1]
    src = tmp_path / "src-copy"
    src.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy(repo / name, src / name)
    shutil.copytree(repo / "src", src / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    proc = subprocess.run([sys.executable, "-c", "from setuptools import build_meta as b; "
                           f"print(b.build_wheel({str(tmp_path / 'dist')!r}))"], cwd=src, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next((tmp_path / "dist").glob("*.whl"))
    with zipfile.ZipFile(wheel) as z:
        assert z.read("mote-autoregister.pth") == (repo / "src" / "mote-autoregister.pth").read_bytes()
        assert "mote/_autoload.py" in z.namelist()

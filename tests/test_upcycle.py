"""MoTE up-cycling: layer selection, exactness against the dense base, routing, architectures."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer

from mote.model.architectures import get_arch
from mote.model.routing import TaskExperts, routed
from mote.model.sentence import info, mote_model, upcycle
from mote.model.upcycle import select_layers
from mote.tasks import TaskSet

TEXTS = ["hello world", "a much longer sentence about cats, dogs and other animals", "x y", "what is mote?"]


@pytest.mark.parametrize(
    ("spec", "n", "expected"),
    [
        ("every-other", 6, [1, 3, 5]),
        ("every-other", 4, [1, 3]),
        ("every-other", 5, [1, 3]),
        ("all", 3, [0, 1, 2]),
        ("top-2", 6, [4, 5]),
        ("1,3", 6, [1, 3]),
    ],
)
def test_select_layers(spec: object, n: int, expected: list[int]) -> None:
    assert select_layers(spec, n) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["top-0", "top-9", "7", "evry-other", "", [10]])
def test_select_layers_rejects(spec: object) -> None:
    with pytest.raises(ValueError, match="every-other"):
        select_layers(spec, 6)  # type: ignore[arg-type]


@pytest.mark.parametrize("spec", ["-1", [0, -1], "1,-2"])
def test_select_layers_refuses_negative_indices(spec: object) -> None:
    # '-1' once silently meant the last block (5 here); a user typing it rarely means that
    with pytest.raises(ValueError, match=r"negative block index -\d.*top-K"):
        select_layers(spec, 6)  # type: ignore[arg-type]


def test_upcycled_equals_dense_for_every_architecture(tiny_arch_dir: tuple[str, object]) -> None:
    arch, folder = tiny_arch_dir
    dense = SentenceTransformer(str(folder), device="cpu")
    moe = upcycle(str(folder), layers="all", instructions="mote")
    ref = dense.encode(TEXTS)
    for task, instruction in TaskSet().prompts().items():
        # the expert alone (explicit prompt="") is the dense model exactly
        got = moe.encode(TEXTS, task=task, prompt="")
        assert np.abs(got - ref).max() <= 1e-5, (arch, task)
        # encode(task=) applies the task's instruction, the ST prompt of the same name
        got = moe.encode(TEXTS, task=task)
        assert np.abs(got - dense.encode(TEXTS, prompt=instruction)).max() <= 1e-5, (arch, task)
    got_q = moe.encode_query(TEXTS)
    assert np.abs(got_q - dense.encode(TEXTS, prompt="search_query: ")).max() <= 1e-5
    assert get_arch(arch).ffn  # the table knows this architecture


def test_active_parameters_equal_dense(tiny_st_dir: object) -> None:
    dense = SentenceTransformer(str(tiny_st_dir), device="cpu")
    moe = upcycle(str(tiny_st_dir), layers="every-other")
    report = info(moe)
    assert report.upcycled_layers == [1, 3]
    assert report.tasks == TaskSet().names
    assert report.active_params == sum(p.numel() for p in dense.parameters())
    assert report.total_params > report.active_params


def _perturb_expert(moe: SentenceTransformer, expert: int, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for bank in mote_model(moe).modules():
        if isinstance(bank, TaskExperts):
            for p in bank.experts[expert].parameters():
                p.data += 0.5 * torch.randn(p.shape, generator=g)


def _embed(moe: SentenceTransformer, texts: list[str], tasks: list[str] | str) -> torch.Tensor:
    features = moe.preprocess(texts)
    with torch.no_grad():
        out = moe(features, task=tasks)
    return out["sentence_embedding"]


def test_mixed_batch_routes_each_example_to_its_own_expert(tiny_st_dir: object) -> None:
    moe = upcycle(str(tiny_st_dir), layers="all")
    for e in range(len(TaskSet())):
        _perturb_expert(moe, e, seed=e)
    tasks = ["query", "document", "query", "clustering"]
    mixed = _embed(moe, TEXTS, tasks)
    # naive reference: every example alone through its own task
    for i, (text, task) in enumerate(zip(TEXTS, tasks, strict=True)):
        alone = _embed(moe, [text], task)
        torch.testing.assert_close(mixed[i], alone[0], atol=1e-5, rtol=0)
    # and the experts really differ after training-like perturbation
    assert (mixed[0] - _embed(moe, [TEXTS[0]], "document")[0]).abs().max() > 1e-3


def test_only_the_routed_expert_receives_gradient(tiny_st_dir: object) -> None:
    moe = upcycle(str(tiny_st_dir), layers="all")
    moe.train()
    features = moe.preprocess(TEXTS[:2])
    moe(features, task="document")["sentence_embedding"].sum().backward()
    bank = next(m for m in mote_model(moe).modules() if isinstance(m, TaskExperts))
    for i, expert in enumerate(bank.experts):
        has_grad = any(p.grad is not None and p.grad.abs().sum() > 0 for p in expert.parameters())
        assert has_grad == (i == 1), i


def test_task_errors(tiny_st_dir: object) -> None:
    moe = upcycle(str(tiny_st_dir))
    with pytest.raises(ValueError, match='Did you mean "query"'):
        moe.encode(TEXTS, task="qurey")
    with pytest.raises(ValueError, match="No task given"):
        moe.encode(TEXTS)
    with pytest.raises(ValueError, match="one per input"):
        _embed(moe, TEXTS, ["query", "document"])


def test_default_task_routes_untagged_inputs(tiny_st_dir: object) -> None:
    moe = upcycle(str(tiny_st_dir), TaskSet.from_names(["a", "b"], default_task="b"))
    _perturb_expert(moe, 1)
    np.testing.assert_allclose(moe.encode(TEXTS), moe.encode(TEXTS, task="b"), atol=1e-6)
    assert np.abs(moe.encode(TEXTS) - moe.encode(TEXTS, task="a")).max() > 1e-3


def test_custom_task_set_and_instructions(tiny_st_dir: object) -> None:
    tasks = TaskSet.from_names(["query", "code"], instructions={"code": "code: "})
    moe = upcycle(str(tiny_st_dir), tasks, layers="top-1")
    assert {k: moe.prompts[k] for k in ("query", "code")} == {"query": "search_query: ", "code": "code: "}
    assert info(moe).upcycled_layers == [3]
    assert mote_model(moe).config.tasks.for_mteb("Retrieval", "query") == "query"
    with pytest.raises(ValueError, match="No task of"):
        mote_model(moe).config.tasks.for_mteb("Clustering", None)


def test_bank_outside_routed_forward_is_an_error() -> None:
    bank = TaskExperts([torch.nn.Linear(3, 3), torch.nn.Linear(3, 3)])
    with pytest.raises(RuntimeError, match="outside a routed forward"):
        bank(torch.zeros(2, 3))
    x = torch.randn(5, 3)
    for ids in ([1, 0, 1, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 1, 1]):  # scattered, grouped, single
        with routed(torch.tensor(ids)):
            out = bank(x)
        for i, e in enumerate(ids):  # naive reference: each row through its own expert
            torch.testing.assert_close(out[i], bank.experts[e](x[i]))


def test_unsupported_architecture() -> None:
    with pytest.raises(ValueError, match="Supported model types: .*bert.*modernbert"):
        get_arch("gpt2")
    with pytest.raises(ValueError, match='Did you mean "roberta"'):
        get_arch("robertaa")


def test_already_upcycled_is_rejected(tiny_st_dir: object) -> None:
    moe = upcycle(str(tiny_st_dir))
    with pytest.raises(ValueError, match="already a MoTE model"):
        upcycle(moe)


# -- instruction sets: the default follows the base ----------------------------------------------------------
def _declare_prompts(folder: Path, prompts: dict[str, str]) -> Path:
    import json
    import shutil

    out = folder.parent / f"{folder.name}-prompted"
    if not out.exists():
        shutil.copytree(folder, out)
    path = out / "config_sentence_transformers.json"
    data = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps({**data, "prompts": prompts}))
    return out


def test_auto_instructions_follow_the_base(tiny_st_dir: Path) -> None:
    # the base declares no prompts (like all-MiniLM-L6-v2): no task gets a prefix
    plain = upcycle(str(tiny_st_dir))
    assert all(t.instruction == "" for t in mote_model(plain).config.tasks.tasks)
    # a base declaring E5-style prompts: its query/passage prefixes reach our query/document tasks
    prompted = _declare_prompts(tiny_st_dir, {"query": "query: ", "passage": "passage: "})
    moe = upcycle(str(prompted))
    got = {t.name: t.instruction for t in mote_model(moe).config.tasks.tasks}
    assert got == {"query": "query: ", "document": "passage: ", "similarity": "", "classification": "",
                   "clustering": ""}


@pytest.mark.parametrize(("choice", "expected"), [
    ("none", {"query": "", "similarity": ""}),
    ("mote", {"query": "search_query: ", "similarity": "similarity: "}),
    ("e5", {"query": "query: ", "similarity": "query: "}),
    ({"similarity": "sts: "}, {"query": "", "similarity": "sts: "}),
])
def test_named_and_custom_instruction_sets(tiny_st_dir: Path, choice: object, expected: dict[str, str]) -> None:
    moe = upcycle(str(tiny_st_dir), ["query", "similarity"], instructions=choice)  # type: ignore[arg-type]
    assert {t.name: t.instruction for t in mote_model(moe).config.tasks.tasks} == expected
    # what encode() prepends is the chosen prefix
    ref = SentenceTransformer(str(tiny_st_dir), device="cpu").encode(TEXTS, prompt=expected["similarity"])
    assert np.abs(moe.encode(TEXTS, task="similarity") - ref).max() <= 1e-5


def test_instruction_set_errors(tiny_st_dir: Path) -> None:
    with pytest.raises(ValueError, match=r"Unknown instruction set .moet.*auto, e5, mote, none.*Did you mean \"mote\""):
        upcycle(str(tiny_st_dir), instructions="moet")
    with pytest.raises(ValueError, match=r"task in the custom instruction set 'sts'"):
        upcycle(str(tiny_st_dir), ["query"], instructions={"sts": "x: "})
    with pytest.raises(ValueError, match="not both"):
        upcycle(str(tiny_st_dir), TaskSet(), instructions="mote")


def test_boolean_instructions_mean_the_mote_set_or_none() -> None:
    from mote.tasks import resolve_instructions

    names = ["query", "clustering"]
    assert resolve_instructions(True, names)[0] == {"query": "search_query: ", "clustering": "clustering: "}
    assert resolve_instructions(False, names) == ({"query": "", "clustering": ""}, "none")
    assert resolve_instructions("auto", names, {"query": "", "document": "d: "}) == (
        {"query": "", "clustering": ""}, "auto: none (the base declares no prompts)")  # empty prompts declare none


def test_default_upcycle_of_the_packaged_base_encodes_as_the_base(minilm_dir: Path) -> None:
    """A freshly up-cycled all-MiniLM-L6-v2 (instructions auto: none for this base) gives the base's embeddings
    on every task: no prefix it was never trained with costs it points before training."""
    import numpy as np
    from sentence_transformers import SentenceTransformer

    from mote.model.sentence import encode

    texts = ["A man is playing a guitar.", "how do vaccines work?"]
    base = SentenceTransformer(str(minilm_dir), device="cpu").encode(texts)
    moe = upcycle(str(minilm_dir))
    for task in mote_model(moe).config.tasks.names:
        np.testing.assert_allclose(encode(moe, texts, task=task), base, atol=1e-5)


def test_upcycle_warns_when_prefixes_meet_a_base_without_them(tiny_st_dir: Path, tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """The base declares no prompts: prefixes it never saw cost points until training, and mote says so."""
    with caplog.at_level("WARNING", logger="mote"):
        upcycle(str(tiny_st_dir), instructions="mote")
    assert "never trained with prefixes" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="mote"):
        upcycle(str(tiny_st_dir))  # auto: no prefixes, nothing to say
        upcycle(str(_declare_prompts(tiny_st_dir, {"query": "query: "})), instructions="mote")  # a prompted base
    assert "never trained with prefixes" not in caplog.text

"""``mote analyze conflict``: two tasks with the same rows pull the shared parameters the same way (cosine 1);
a task of other texts does not; on a MoTE model the experts are not among the shared parameters."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def _probe(path: Path) -> Path:
    same = [{"anchor": f"question {i} about cats", "positive": f"cats answer {i}"} for i in range(8)]
    other = [{"anchor": f"stock {i} fell", "positive": f"markets dropped {i} percent"} for i in range(8)]
    rows = [{**r, "task": "query"} for r in same] + [{**r, "task": "document"} for r in same] + \
        [{**r, "task": "similarity"} for r in other]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_identical_tasks_have_gradient_cosine_one_and_others_less(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.conflict import conflict

    result = conflict(tiny_st_dir, _probe(tmp_path / "p.jsonl"), tmp_path / "out", batch_size=8, batches=1)
    names = result["tasks"]
    m = result["cosines"]["all shared"]
    q, d, s = names.index("query"), names.index("document"), names.index("similarity")
    assert m[q][d] == pytest.approx(1.0, abs=1e-6) and m[q][q] == pytest.approx(1.0, abs=1e-6)
    assert m[q][s] < 0.999
    assert "embeddings" in result["cosines"] and "block 0" in result["cosines"]
    assert result["within_task_split_half"] == {}  # one batch per task: no halves to compare
    assert (tmp_path / "out" / "conflict.png").stat().st_size > 5000


def test_on_a_mote_model_the_experts_are_not_shared(tiny_moe_dir: Path, tmp_path: Path) -> None:
    import torch

    from mote.analyze.conflict import conflict
    from mote.model.sentence import load

    result = conflict(tiny_moe_dir, _probe(tmp_path / "p.jsonl"), tmp_path / "out", batch_size=8, batches=1)
    st = load(str(tiny_moe_dir))
    experts = sum(p.numel() for n, p in st.named_parameters() if ".experts." in n)
    assert experts > 0 and result["routed"]
    assert result["shared_parameters"] == sum(p.numel() for p in st.parameters()) - experts
    # query and document route through different experts, so even the same rows need not give cosine 1
    assert torch.isfinite(torch.tensor(result["cosines"]["all shared"])).all()


def test_split_halves_of_one_task_give_the_noise_floor(tiny_st_dir: Path, tmp_path: Path) -> None:
    """Two halves of identical batches pull identically (cosine 1): the split-half reference is computed from
    the two halves, not from the task against itself."""
    from mote.analyze.conflict import conflict

    rows = [{"anchor": f"q {i % 4}", "positive": f"p {i % 4}", "task": t} for t in ("query", "document")
            for i in range(16)]  # batches of 4 rows, each batch the same four pairs
    p = tmp_path / "p.jsonl"
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = conflict(tiny_st_dir, p, tmp_path / "out", batch_size=4, batches=4)
    assert result["within_task_split_half"]["query"] == pytest.approx(1.0, abs=1e-6)
    half = result["cosines_half_sample"]  # query and document hold the same rows: halves agree across them too
    q, d = result["tasks"].index("query"), result["tasks"].index("document")
    assert half[q][d] == pytest.approx(1.0, abs=1e-6)


def test_a_probe_of_one_task_is_refused(tiny_st_dir: Path, tmp_path: Path) -> None:
    from mote.analyze.conflict import conflict

    p = tmp_path / "one.jsonl"
    p.write_text("".join(json.dumps({"anchor": f"a {i}", "positive": f"b {i}", "task": "query"}) + "\n"
                         for i in range(4)))
    with pytest.raises(ValueError, match="at least two"):
        conflict(tiny_st_dir, p, tmp_path / "out")

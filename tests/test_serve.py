"""``mote serve``: the OpenAI-compatible endpoint routes each request by its task (checked against in-process
vectors of the same model), batches concurrent requests, and answers bad requests with the right status."""

from __future__ import annotations

import asyncio
import base64
import importlib.util
from pathlib import Path

import numpy as np
import pytest

from mote.model.sentence import encode, load

pytestmark = pytest.mark.skipif(importlib.util.find_spec("fastapi") is None or importlib.util.find_spec("httpx") is None,
                                reason="needs fastapi and httpx (the deploy extra)")
TASKS = ["query", "document", "similarity", "classification", "clustering"]


@pytest.fixture(scope="module")
def moe_dir(tiny_moe_dir: Path) -> Path:
    return tiny_moe_dir


def _app(model: Path, **kw: object) -> object:
    from mote.deploy.serve import Backend, create_app

    return create_app(Backend(model, precision="fp32"), **kw)  # type: ignore[arg-type]


async def _requests(app: object, bodies: list[dict], headers: dict | None = None) -> list:
    import httpx

    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return list(await asyncio.gather(*(client.post("/v1/embeddings", json=b, headers=headers) for b in bodies)))


def test_fifty_concurrent_mixed_task_requests_are_routed_right_and_batched(moe_dir: Path) -> None:
    app = _app(moe_dir, max_wait_ms=50)
    texts = [f"sentence number {i} about topic {i % 7}" for i in range(50)]
    bodies = [{"input": texts[i], "task": TASKS[i % 5]} for i in range(50)]
    responses = asyncio.run(_requests(app, bodies))
    assert [r.status_code for r in responses] == [200] * 50
    st = load(str(moe_dir))
    for i, r in enumerate(responses):
        got = np.asarray(r.json()["data"][0]["embedding"])
        ref = encode(st, [texts[i]], task=TASKS[i % 5])[0]
        assert np.dot(got, ref) / np.linalg.norm(got) / np.linalg.norm(ref) > 0.9999, (i, TASKS[i % 5])
    metrics = app.state.metrics  # type: ignore[attr-defined]
    assert metrics.batches < 50 and metrics.forward_passes < 50  # requests shared batches and forward passes


def test_openai_shapes_base64_input_type_and_errors(moe_dir: Path) -> None:
    app = _app(moe_dir)
    ok, b64, alias, unknown, empty, dims, wrong_model = asyncio.run(_requests(app, [
        {"input": ["a", "b"], "task": "query", "model": moe_dir.name},
        {"input": "a", "task": "query", "encoding_format": "base64"},
        {"input": "a", "input_type": "query"},
        {"input": "a", "task": "querry"},
        {"input": []},
        {"input": "a", "task": "query", "dimensions": 8},
        {"input": "a", "task": "query", "model": "other"},
    ]))
    body = ok.json()
    assert body["object"] == "list" and [d["index"] for d in body["data"]] == [0, 1] and body["usage"]["total_tokens"] > 0
    vec = np.frombuffer(base64.b64decode(b64.json()["data"][0]["embedding"]), dtype="<f4")
    np.testing.assert_allclose(vec, body["data"][0]["embedding"], rtol=1e-5, atol=1e-6)
    assert alias.json()["data"][0]["embedding"] == body["data"][0]["embedding"]  # input_type query == task query
    assert unknown.status_code == 400 and "query" in unknown.json()["error"]["message"]
    assert empty.status_code == 422 and dims.status_code == 400 and wrong_model.status_code == 404
    full = len(body["data"][0]["embedding"])
    (same,) = asyncio.run(_requests(app, [{"input": "a", "task": "query", "dimensions": full}]))
    assert same.status_code == 200 and str(full) in dims.json()["error"]["message"]


def test_limits_api_key_and_the_other_endpoints(moe_dir: Path) -> None:
    import httpx

    from mote.deploy.serve import Limits

    app = _app(moe_dir, api_key="k", limits=Limits(max_inputs=3, max_chars=50, max_tokens=40))
    auth = {"Authorization": "Bearer k"}
    too_many, too_long, too_many_tokens, no_key, fine = asyncio.run(_requests(app, [
        {"input": ["a"] * 4, "task": "query"},
        {"input": "x" * 51, "task": "query"},
        {"input": ["a " * 20] * 3, "task": "query"},  # 40 characters, about 22 tokens each
        {"input": "a", "task": "query"},
        {"input": "a", "task": "query"},
    ][:3], auth)) + asyncio.run(_requests(app, [{"input": "a", "task": "query"}])) + \
        asyncio.run(_requests(app, [{"input": "a", "task": "query"}], auth))
    assert (too_many.status_code, too_long.status_code, too_many_tokens.status_code) == (413, 413, 413)
    assert no_key.status_code == 401 and fine.status_code == 200
    (bad_body_no_key,) = asyncio.run(_requests(app, [{"input": 5}]))  # the key is checked before the body
    assert bad_body_no_key.status_code == 401, bad_body_no_key.text
    token_ids, nested = asyncio.run(_requests(app, [{"input": [101, 2023]}, {"input": [[101, 2023]]}], auth))
    for r in (token_ids, nested):  # OpenAI accepts token ids; this server says it wants the texts
        assert r.status_code == 422 and "token ids" in r.json()["error"]["message"], r.text
    big, = asyncio.run(_requests(app, [{"input": ["word " * 8] * 3, "task": "query"}], auth))
    assert big.json()["usage"]["prompt_tokens"] == 3 * (8 + 2)  # the inputs' tokens and [CLS] [SEP], not the prefix

    async def get(path: str) -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:  # type: ignore[arg-type]
            return await c.get(path, headers=auth)

    assert asyncio.run(get("/health")).json()["status"] == "ok"
    assert asyncio.run(get("/v1/models")).json()["data"][0]["tasks"] == TASKS
    text = asyncio.run(get("/metrics")).text
    assert 'mote_requests_total{status="413"} 3' in text and 'mote_requests_total{status="200"} 2' in text


def test_an_exported_folder_is_served_like_the_model(moe_dir: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    from mote.deploy.export import export

    out = export(moe_dir, tmp_path / "onnx", tasks=["query", "document"])
    (doc,) = asyncio.run(_requests(_app(out), [{"input": "a cat on a mat", "input_type": "document"}]))
    ref = encode(load(str(moe_dir)), ["a cat on a mat"], task="document")[0]
    got = np.asarray(doc.json()["data"][0]["embedding"])
    assert np.dot(got, ref) / np.linalg.norm(got) / np.linalg.norm(ref) > 0.9999


def test_a_dynamic_batch_answers_each_forward_pass_as_it_finishes(moe_dir: Path) -> None:
    """The requests of a batch's first pass get their vectors while its later passes still run (their clients can
    send the next request meanwhile: the encoder is not left idle between batches), and a request whose texts
    fall in several passes gets all of them, in its order, when the last is done."""
    import time

    from mote.deploy.serve import SUB_BATCH, Backend, Batcher, Metrics

    backend = Backend(moe_dir, precision="fp32")
    passes: list[float] = []
    forward = backend.st.forward

    def slow(*args: object, **kwargs: object) -> object:  # a forward pass that takes a while
        passes.append(time.perf_counter())
        time.sleep(0.05)
        return forward(*args, **kwargs)

    backend.st.forward = slow  # type: ignore[method-assign]
    metrics = Metrics()
    texts = [f"sentence {i} " + "word " * (i % 9) for i in range(40)]
    many = [f"a longer text {i} " + "token " * i for i in range(20)]

    async def run() -> tuple[list[tuple[float, np.ndarray]], np.ndarray]:
        batcher = Batcher(backend, metrics, max_batch=64, max_wait_ms=50)

        async def one(text: str, task: str) -> tuple[float, np.ndarray]:
            emb = await batcher.submit([text], task)
            return time.perf_counter(), emb

        results = await asyncio.gather(*(one(t, TASKS[i % 5]) for i, t in enumerate(texts)),
                                       batcher.submit(many, "document"))
        return list(results[:-1]), results[-1]  # type: ignore[return-value]

    singles, multi = asyncio.run(run())
    assert metrics.batches == 1 and len(passes) >= (len(texts) + len(many)) // SUB_BATCH >= 3  # one batch, passes
    assert min(t for t, _ in singles) < passes[-1], "every request waited for the batch's last pass"
    backend.st.forward = forward  # type: ignore[method-assign]
    st = load(str(moe_dir))
    for i, (_, emb) in enumerate(singles):
        ref = encode(st, [texts[i]], task=TASKS[i % 5])[0]
        assert np.dot(emb[0], ref) / np.linalg.norm(emb[0]) / np.linalg.norm(ref) > 0.9999, i
    ref = encode(st, many, task="document")
    cos = (multi * ref).sum(1) / np.linalg.norm(multi, axis=1) / np.linalg.norm(ref, axis=1)
    assert multi.shape == ref.shape and cos.min() > 0.9999


class _FakeBackend:
    """Rows that say which text they are (its number), a pass that raises on "boom" and one that returns a row
    too few on "short": what a backend bug looks like to the batcher."""

    def __init__(self, mixes_tasks: bool) -> None:
        self.mixes_tasks = mixes_tasks
        self.passes: list[list[str]] = []

    def prompt(self, task: str) -> str:
        return ""

    def encode_pass(self, texts: list[str], tasks: list[str]) -> np.ndarray:
        self.passes.append(list(tasks))
        if "boom" in texts:
            raise RuntimeError("boom")
        rows = np.array([[float(t.split()[-1]) if t[-1].isdigit() else -1.0] for t in texts], dtype=np.float32)
        return rows[:-1] if "short" in texts else rows


@pytest.mark.parametrize("mixes_tasks", [True, False])
def test_a_pass_that_fails_fails_only_its_requests_and_the_batcher_goes_on(mixes_tasks: bool) -> None:
    from mote.deploy.serve import Batcher, Metrics

    backend = _FakeBackend(mixes_tasks)

    async def run() -> list[object]:
        batcher = Batcher(backend, Metrics(), max_batch=256, max_wait_ms=50)  # type: ignore[arg-type]
        jobs = [batcher.submit([f"text {i}"], TASKS[i % 2]) for i in range(30)]
        jobs.append(batcher.submit(["x" * 40 + " 5", "boom"], "query"))  # its texts in the first and a failing pass
        jobs.append(batcher.submit([], "query"))
        results = await asyncio.wait_for(asyncio.gather(*jobs, return_exceptions=True), 10)
        short = await asyncio.wait_for(asyncio.gather(batcher.submit(["short", "text 7"], "query"),
                                                      return_exceptions=True), 10)
        after = await asyncio.wait_for(batcher.submit(["text 99"], "query"), 10)  # the batcher still serves
        return [*results, *short, after]

    results = asyncio.run(run())
    assert isinstance(results[30], RuntimeError)  # the request with the failing text
    failed = [i for i in range(30) if isinstance(results[i], Exception)]
    assert len(failed) < 30  # only those that shared its pass
    for i in set(range(30)) - set(failed):
        assert results[i].tolist() == [[float(i)]], i  # type: ignore[union-attr]
    assert np.asarray(results[31]).shape[0] == 0  # no texts, no wait
    assert isinstance(results[32], Exception)  # a pass that gave a row too few: a failed request, not a hang
    assert results[33].tolist() == [[99.0]]  # type: ignore[union-attr]
    if not mixes_tasks:
        assert all(len(set(p)) == 1 for p in backend.passes)  # one task per pass

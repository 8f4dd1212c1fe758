"""``mote serve``: an OpenAI-compatible embeddings endpoint that routes every input by its task.

``POST /v1/embeddings`` takes OpenAI's body (``input`` a string or a list, ``model``, ``encoding_format``
float|base64, ``dimensions``) plus ``task`` (or ``input_type`` query|document as an alias). Requests that arrive
together are batched (:class:`Batcher`), up to ``max_batch`` texts or ``max_wait_ms`` after the first, and
encoded in forward passes of ``SUB_BATCH`` texts (on a MoTE model a pass mixes tasks, each row routed to its
expert). ``GET /health``, ``GET /v1/models`` and Prometheus ``GET /metrics``; an optional API key
(``Authorization: Bearer KEY``); limits per request on inputs, characters and tokens (413, or 422 for an empty
or malformed body). The server runs PyTorch model folders and ``mote export`` folders alike.

FastAPI + uvicorn: the standard async stack in Python serving (the OpenAI-compatible servers users know are
built on it), pydantic validation shared with the rest of mote, and uvicorn's graceful shutdown, which stops
accepting connections and finishes the requests in flight.
"""

from __future__ import annotations

import asyncio
import base64
import copy
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from fastapi import Request  # module level: FastAPI resolves the endpoints' annotations from this module
from pydantic import BaseModel, ConfigDict

# a dynamic batch is encoded in length-sorted forward passes of this many texts: requests of mixed lengths
# (a sentence beside an abstract) would otherwise pad every short text to the longest of the batch
SUB_BATCH = 16
# requests of at most this many characters are token-counted on the event loop (a few tens of microseconds);
# larger ones in a worker thread, so one long request never stalls the others
INLINE_COUNT_CHARS = 20_000
INPUT_TYPES = {"query": "query", "document": "document", "passage": "document"}


class Backend:
    """What the server encodes with: a PyTorch model folder or an exported one, behind one ``encode``."""

    def __init__(self, model: str | os.PathLike[str], precision: str = "auto") -> None:
        self.path = Path(model)
        self.model_id = self.path.name or str(model)
        if (self.path / "mote_export.json").is_file():
            from mote.deploy.runtime import ExportedModel

            # a server's calls are small (a lone request is one text): OpenVINO's latency hint, one request on all
            # cores, encoded 1.1-1.5x the single-text calls of the throughput hint (benchmarks/results/export_speed.md)
            self.exported: Any = ExportedModel(self.path, precision=precision, hint="latency")
            self.tokenizer = self.exported.tokenizer
            self.task_names: list[str] = self.exported.task_names
            self.default_task: str | None = self.exported.default_task
            self.dimension = int(self.exported.meta["dimension"])
            self.mixes_tasks = False  # one graph per task: a pass holds one task
            self.kind = "export"
            return
        from mote.deploy.export import DENSE
        from mote.model.hf import mote_of
        from mote.model.sentence import load, saved_prompts
        from mote.runtime import resolve

        self.exported = None
        self.st = load(str(model))
        self.runtime = resolve(precision, "cpu")  # load() puts the model on the CPU
        self.tokenizer = self.st.tokenizer
        self.dimension = int(self.st.get_embedding_dimension() or 0)
        moe = mote_of(self.st)
        if moe is not None:
            self.task_names = list(moe.config.tasks.names)
            try:
                self.default_task = moe.config.tasks.resolve(None)
            except ValueError:
                self.default_task = None
        else:  # a dense model's tasks are its prompts, and DENSE the raw text (as in an export)
            self.task_names = [*saved_prompts(self.st), DENSE]
            self.default_task = DENSE
        # one forward pass can carry several tasks' inputs on a MoTE model (rows routed inside it) when the
        # pooling counts the prompt tokens, as the per-task encode does
        self.mixes_tasks = moe is not None and getattr(self.st[1], "include_prompt", True) is not False
        self.kind = "pytorch"

    def resolve(self, task: str | None) -> str:
        from mote.deploy.runtime import resolve_task

        return resolve_task(task, self.task_names, self.default_task)

    def encode(self, texts: Sequence[str], task: str) -> np.ndarray:
        if self.exported is not None:
            return np.asarray(self.exported.encode(list(texts), task=task, batch_size=SUB_BATCH), dtype=np.float32)
        import torch

        from mote.deploy.export import DENSE
        from mote.model.sentence import encode

        with torch.inference_mode(), self.runtime.autocast():
            emb = encode(self.st, list(texts), task=None if task == DENSE else task, batch_size=SUB_BATCH)
        return np.asarray(emb, dtype=np.float32)

    def describe(self) -> dict[str, Any]:
        """Precision and threads the encodes run with (shown by /health)."""
        if self.exported is not None:
            return {"precision": self.exported.precision}
        import torch

        return {"precision": self.runtime.precision, "torch_threads": torch.get_num_threads()}

    def prompt(self, task: str) -> str:
        """The instruction a pass puts before ``task``'s texts (what their length is sorted by); "" where the
        backend adds it inside ``encode``."""
        if not self.mixes_tasks:
            return ""
        from mote.model.hf import task_instruction

        return task_instruction(self.st, task)

    def encode_pass(self, texts: Sequence[str], tasks: Sequence[str]) -> np.ndarray:
        """One forward pass over ``texts`` (at most ``SUB_BATCH``), each with its task: on a MoTE model that mixes
        tasks in a pass, each text gets its task's instruction and is routed to its task's expert inside the pass
        (equal to ``encode`` per task: tests/test_serve.py); otherwise every text must share one task."""
        if not self.mixes_tasks:
            if len(set(tasks)) > 1:
                raise ValueError(f"this backend encodes one task per pass; got {sorted(set(tasks))}")
            return self.encode(texts, tasks[0])
        import torch

        prompts = {t: self.prompt(t) for t in set(tasks)}
        features = self.st.preprocess([prompts[t] + x for x, t in zip(texts, tasks, strict=True)])
        with torch.inference_mode(), self.runtime.autocast():
            out = self.st(features, task=list(tasks))["sentence_embedding"]
        return np.asarray(out.float().cpu().numpy())

    def count_tokens(self, texts: Sequence[str]) -> int:
        """Tokens of ``texts`` (special tokens included), on a copy of the tokenizer: a fast tokenizer keeps its
        padding and truncation settings in shared state, and counting on the event loop while the encode thread
        tokenizes with padding made that thread's batch ragged (HTTP 500 under 50 concurrent clients)."""
        if not hasattr(self, "_counter"):
            self._counter = copy.deepcopy(self.tokenizer)
        return sum(len(ids) for ids in self._counter(list(texts), add_special_tokens=True)["input_ids"])


@dataclass
class _Job:
    texts: list[str]
    task: str
    future: asyncio.Future[np.ndarray]


@dataclass
class Metrics:
    requests: Counter[str] = field(default_factory=Counter)  # by HTTP status
    texts: int = 0
    batches: int = 0
    batch_texts: int = 0
    forward_passes: int = 0
    request_seconds: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def prometheus(self) -> str:
        lines = ["# HELP mote_requests_total Embedding requests by HTTP status.",
                 "# TYPE mote_requests_total counter"]
        lines += [f'mote_requests_total{{status="{s}"}} {n}' for s, n in sorted(self.requests.items())]
        for name, value, kind, text in (
            ("mote_texts_total", self.texts, "counter", "Texts embedded."),
            ("mote_batches_total", self.batches, "counter", "Dynamic batches run."),
            ("mote_batch_texts_total", self.batch_texts, "counter", "Texts in dynamic batches (sum)."),
            ("mote_forward_passes_total", self.forward_passes, "counter", "Forward passes (up to 16 texts each)."),
            ("mote_request_seconds_total", round(self.request_seconds, 6), "counter", "Time in embedding requests."),
        ):
            lines += [f"# HELP {name} {text}", f"# TYPE {name} {kind}", f"{name} {value}"]
        return "\n".join(lines) + "\n"


class Batcher:
    """Collects concurrent requests into batches: at most ``max_batch`` texts, closed ``max_wait_ms`` after its
    first request; a batch is encoded in forward passes of ``SUB_BATCH`` texts in one worker thread (the model's
    own threads parallelise inside a pass), each request answered when its last pass is done (``_encode``)."""

    def __init__(self, backend: Backend, metrics: Metrics, max_batch: int = 64, max_wait_ms: float = 5.0) -> None:
        self.backend, self.metrics = backend, metrics
        self.max_batch, self.max_wait = max_batch, max_wait_ms / 1000
        self._queue: asyncio.Queue[_Job] | None = None
        self._worker: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mote-encode")

    async def submit(self, texts: list[str], task: str) -> np.ndarray:
        if not texts:  # nothing to encode: no batch to wait for
            return np.zeros((0, getattr(self.backend, "dimension", 0)), dtype=np.float32)
        if self._queue is None or self._worker is None or self._worker.done():
            self._queue = asyncio.Queue()
            self._worker = asyncio.get_running_loop().create_task(self._run())
        future: asyncio.Future[np.ndarray] = asyncio.get_running_loop().create_future()
        await self._queue.put(_Job(texts, task, future))
        return await future

    async def _run(self) -> None:
        assert self._queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self._queue.get()]
            size = len(jobs[0].texts)
            deadline = loop.time() + self.max_wait
            while size < self.max_batch:
                timeout = deadline - loop.time()
                if timeout <= 0:
                    break
                try:
                    job = await asyncio.wait_for(self._queue.get(), timeout)
                except TimeoutError:
                    break
                jobs.append(job)
                size += len(job.texts)
            await self._encode(jobs, loop)

    async def _encode(self, jobs: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        """The batch's texts in forward passes of ``SUB_BATCH`` texts of similar length (longest first, instruction
        included; a pass mixes tasks when the backend routes rows inside it, else one task per pass), each request
        answered as soon as the pass holding its last text is done: its client can send the next request while
        the later passes run. A pass that raises, or returns the wrong rows, fails the requests with a text in it
        (HTTP 500); anything else going wrong fails the batch's unanswered requests: none is left waiting."""
        with self.metrics.lock:
            self.metrics.batches += 1
            self.metrics.batch_texts += sum(len(j.texts) for j in jobs)
        groups: dict[str | None, list[_Job]] = {}
        for job in jobs:
            groups.setdefault(None if self.backend.mixes_tasks else job.task, []).append(job)
        try:
            for group in groups.values():
                await self._encode_group(group, loop)
        except BaseException as e:
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(e if isinstance(e, Exception) else RuntimeError("encoding stopped"))
            if not isinstance(e, Exception):
                raise

    async def _encode_group(self, group: list[_Job], loop: asyncio.AbstractEventLoop) -> None:
        from mote.deploy.runtime import length_batches

        texts = [t for j in group for t in j.texts]
        tasks = [j.task for j in group for _ in j.texts]
        owner = [k for k, j in enumerate(group) for _ in j.texts]  # the request of each text
        first = np.cumsum([0] + [len(j.texts) for j in group])  # each request's first text
        rows: list[np.ndarray | None] = [None] * len(group)
        left = [len(j.texts) for j in group]
        prompted = [self.backend.prompt(t) + x for x, t in zip(texts, tasks, strict=True)]
        for idx in length_batches(prompted, SUB_BATCH):
            if all(group[owner[i]].future.done() for i in idx):  # failed in an earlier pass, or cancelled
                continue
            try:
                emb = await loop.run_in_executor(self._pool, self.backend.encode_pass, [texts[i] for i in idx],
                                                 [tasks[i] for i in idx])
                if len(emb) != len(idx):
                    raise RuntimeError(f"the encoder returned {len(emb)} rows for {len(idx)} texts")
            except Exception as e:  # these requests fail; the server keeps serving
                for i in idx:
                    if not group[owner[i]].future.done():
                        group[owner[i]].future.set_exception(e)
                continue
            with self.metrics.lock:
                self.metrics.forward_passes += 1
            for row, i in zip(emb, idx, strict=True):
                k = owner[i]
                if rows[k] is None:
                    rows[k] = np.empty((len(group[k].texts), len(row)), dtype=np.float32)
                rows[k][i - first[k]] = row  # type: ignore[index]
                left[k] -= 1
                if left[k] == 0 and not group[k].future.done():
                    group[k].future.set_result(rows[k])  # type: ignore[arg-type]


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings body, plus ``task`` / ``input_type``."""

    model_config = ConfigDict(extra="ignore")  # OpenAI clients send fields (user, ...) this server ignores

    input: str | list[str]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = None
    task: str | None = None
    input_type: str | None = None


class _KeyFirst:
    """Pure ASGI middleware refusing /v1/ requests without the API key (Starlette's ``BaseHTTPMiddleware`` costs a
    task group per request, a third of the server's time on one-sentence requests)."""

    def __init__(self, app: Any, expected: bytes, refuse: Any) -> None:
        self.app, self.expected, self.refuse = app, expected, refuse

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith("/v1/"):
            given = next((v for k, v in scope["headers"] if k == b"authorization"), None)
            if given != self.expected:
                await self.refuse()(scope, receive, send)
                return
        await self.app(scope, receive, send)


@dataclass(frozen=True)
class Limits:
    max_inputs: int = 2048
    max_chars: int = 100_000  # per input
    max_tokens: int = 300_000  # per request, after tokenisation (special tokens included)


def create_app(backend: Backend, api_key: str | None = None, limits: Limits | None = None, max_batch: int = 64,
               max_wait_ms: float = 5.0) -> Any:
    """The FastAPI application serving ``backend``."""
    from fastapi import FastAPI
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import JSONResponse, PlainTextResponse
    limits = limits or Limits()
    metrics = Metrics()
    batcher = Batcher(backend, metrics, max_batch=max_batch, max_wait_ms=max_wait_ms)
    count_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="mote-count")  # off the event loop
    app = FastAPI(title="mote embeddings", version=_version())

    def error(status: int, message: str, param: str | None = None, kind: str = "invalid_request_error") -> Any:
        with metrics.lock:
            metrics.requests[str(status)] += 1
        return JSONResponse(status_code=status,
                            content={"error": {"message": message, "type": kind, "param": param, "code": status}})

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Any:
        body = exc.body if isinstance(exc.body, dict) else {}
        value = body.get("input")
        if isinstance(value, list) and value and all(isinstance(x, int) or (isinstance(x, list) and x and all(
                isinstance(y, int) for y in x)) for x in value):
            return error(422, '"input" holds token ids: this server takes texts (it tokenises them with the model\'s '
                         "own tokenizer); send the strings.", "input")
        details = "; ".join(f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.errors())
        return error(422, f"Invalid request body: {details}.")

    if api_key is not None:  # checked before FastAPI parses the body: no key is a 401, never a 422 on the schema
        app.add_middleware(_KeyFirst, expected=f"Bearer {api_key}".encode(),
                           refuse=lambda: error(401, "Missing or wrong API key: send 'Authorization: Bearer KEY'.",
                                                kind="authentication_error"))

    @app.get("/health")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "model": backend.model_id, "backend": backend.kind, **backend.describe()}

    @app.get("/v1/models")
    async def models() -> Any:
        return {"object": "list", "data": [{"id": backend.model_id, "object": "model", "owned_by": "mote",
                                            "tasks": backend.task_names, "default_task": backend.default_task}]}

    @app.get("/metrics")
    async def prometheus() -> Any:
        return PlainTextResponse(metrics.prometheus(), media_type="text/plain; version=0.0.4")

    @app.post("/v1/embeddings")
    async def embeddings(body: EmbeddingRequest) -> Any:
        start = time.perf_counter()
        texts = [body.input] if isinstance(body.input, str) else list(body.input)
        if not texts:
            return error(422, '"input" is an empty list: send at least one text.', "input")
        if any(not isinstance(t, str) or not t.strip() for t in texts):
            bad = next(i for i, t in enumerate(texts) if not t.strip())
            return error(422, f'"input"[{bad}] is empty or blank: every input must hold text.', "input")
        if len(texts) > limits.max_inputs:
            return error(413, f"{len(texts)} inputs in one request; the limit is {limits.max_inputs}. Split it.",
                         "input")
        longest = max(range(len(texts)), key=lambda i: len(texts[i]))
        if len(texts[longest]) > limits.max_chars:
            return error(413, f'"input"[{longest}] has {len(texts[longest])} characters; the limit is '
                         f"{limits.max_chars} per input.", "input")
        if body.model not in (None, "", backend.model_id):
            return error(404, f"Model {body.model!r} is not served here; this server serves {backend.model_id!r} "
                         "(GET /v1/models).", "model", "not_found_error")
        task = body.task
        if task is None and body.input_type is not None:
            if body.input_type not in INPUT_TYPES:
                return error(400, f"Unknown input_type {body.input_type!r}; valid: {', '.join(INPUT_TYPES)} (or "
                             f"send \"task\": one of {', '.join(backend.task_names)}).", "input_type")
            task = INPUT_TYPES[body.input_type]
        try:
            name = backend.resolve(task)
        except ValueError as e:
            return error(400, str(e), "task")
        if body.dimensions is not None and body.dimensions != backend.dimension:  # the full size is always fine
            return error(400, f"dimensions={body.dimensions}: this model gives {backend.dimension}-dimensional "
                         "embeddings and was not trained for truncated ones (no Matryoshka dimensions declared); "
                         f"send {backend.dimension} or leave \"dimensions\" out.", "dimensions")
        if sum(len(t) for t in texts) <= INLINE_COUNT_CHARS:  # small: counting costs less than a thread hop
            tokens = backend.count_tokens(texts)
        else:  # large: off the event loop
            tokens = await asyncio.get_running_loop().run_in_executor(count_pool, backend.count_tokens, texts)
        if tokens > limits.max_tokens:
            return error(413, f"The request holds {tokens} tokens; the limit is {limits.max_tokens}. Split it.",
                         "input")
        try:
            emb = await batcher.submit(texts, name)
        except Exception as e:  # an encode failure is the server's, not the client's
            return error(500, f"Encoding failed: {type(e).__name__}: {e}", kind="server_error")
        data = []
        for i, row in enumerate(emb):
            vec: Any = (base64.b64encode(np.asarray(row, dtype="<f4").tobytes()).decode("ascii")
                        if body.encoding_format == "base64" else row.tolist())
            data.append({"object": "embedding", "index": i, "embedding": vec})
        with metrics.lock:
            metrics.requests["200"] += 1
            metrics.texts += len(texts)
            metrics.request_seconds += time.perf_counter() - start
        # a JSONResponse directly: FastAPI's own encoding walks every float through jsonable_encoder, which
        # cost more than the encoding itself for 32-text requests
        return JSONResponse({"object": "list", "data": data, "model": backend.model_id, "task": name,
                             "usage": {"prompt_tokens": tokens, "total_tokens": tokens}})

    app.state.metrics = metrics
    app.state.batcher = batcher
    return app


def _version() -> str:
    from mote import __version__

    return __version__


def serve(model: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 8000, api_key: str | None = None,
          precision: str = "auto", max_batch: int = 64, max_wait_ms: float = 5.0, limits: Limits | None = None,
          graceful_seconds: int = 30, access_log: bool = False) -> None:
    """Run the server until interrupted; on SIGINT/SIGTERM it stops accepting and finishes requests in flight
    (up to ``graceful_seconds``). uvicorn picks uvloop and httptools when installed (``pip install
    'mote-embeddings[deploy]'`` brings them); ``access_log`` logs every request (GET /metrics counts them)."""
    # OpenMP threads that spin after each op take the cores the event loop needs to parse requests and write
    # responses between forward passes (measured: +10 % requests/s on one-sentence requests); set before the
    # first import of torch, and only if the user has not chosen
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import uvicorn

    app = create_app(Backend(model, precision=precision), api_key=api_key, limits=limits, max_batch=max_batch,
                     max_wait_ms=max_wait_ms)
    uvicorn.run(app, host=host, port=port, timeout_graceful_shutdown=graceful_seconds, log_level="info",
                access_log=access_log)

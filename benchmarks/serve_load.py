"""Load on ``mote serve``: a bounded generator on 127.0.0.1 against a server it starts and stops itself.

The model: all-MiniLM-L6-v2 up-cycled to a MoTE model of the five standard tasks (every other block), served
from its PyTorch folder (``--export openvino|onnx`` serves an export of it instead). Scenarios: 1, 8 and 50
concurrent clients x one-sentence and 32-sentence requests, tasks mixed round-robin; a fixed number of requests
each (the generator stops itself), each scenario run ``--rounds`` times (3) with in-process encode timed right
after each run. Per scenario: requests/s, sentences/s, p50/p99 latency, errors, how many
responses matched the in-process vector of their task (cosine >= 0.9999, a sample of 20 checked), and the ratio
of sentences/s to in-process ``encode`` of the same sentences (batch 32, per task) measured in the same run.
Writes benchmarks/results/serve_load.{json,md} with the machine (CPU kind).

    python benchmarks/serve_load.py [--requests 400] [--export openvino]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from _machine import describe, machine_line
from encode_speed import RESULTS, load_texts

TASKS = ["query", "document", "similarity", "classification", "clustering"]
GENERATORS = {"raw": "one keep-alive HTTP/1.1 connection per client, no client library",
              "httpx": "httpx.AsyncClient"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(model: Path, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "mote.cli", "serve", str(model), "--port", str(port)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import httpx

    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError("the server did not answer /health within 180 s")


def make_bodies(texts: list[str], size: int, n_requests: int) -> list[dict[str, Any]]:
    return [{"input": [texts[(i * size + j) % len(texts)] for j in range(size)], "task": TASKS[i % len(TASKS)]}
            for i in range(n_requests)]


class RawClient:
    """One keep-alive HTTP/1.1 connection with nothing on top: the load generator shares the server's two cores,
    and httpx's per-request cost (about as much CPU as the server's own for a one-sentence request) was measured
    against the server. Status and body only; the server always sends Content-Length."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        data = json.dumps(body).encode()
        self.writer.write(f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                          f"Content-Length: {len(data)}\r\n\r\n".encode() + data)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split()[1])
        length = next(int(v) for k, _, v in (h.partition(b":") for h in lines[1:]) if k.lower() == b"content-length")
        return status, await self.reader.readexactly(length)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            await self.writer.wait_closed()


class HttpxClient:
    """The same ``post`` through ``httpx.AsyncClient`` (``--client httpx``)."""

    def __init__(self, client: Any) -> None:
        self.client = client

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, bytes]:
        r = await self.client.post(path, json=body)
        return r.status_code, r.content

    async def close(self) -> None:
        return None


async def scenario(port: int, texts: list[str], clients: int, size: int, n_requests: int,
                   client_kind: str = "raw") -> dict[str, Any]:
    """``clients`` concurrent workers send ``n_requests`` requests of ``size`` sentences, tasks round-robin."""
    import httpx

    bodies = make_bodies(texts, size, n_requests)
    latencies: list[float] = []
    errors = 0
    kinds: Counter[str] = Counter()
    responses: dict[int, list[list[float]]] = {}
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n_requests):
        queue.put_nowait(i)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    shared = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=120, limits=limits)
    conns: list[Any] = ([RawClient(port) for _ in range(clients)] if client_kind == "raw"
                        else [HttpxClient(shared)] * clients)

    async def worker(conn: Any) -> None:
        nonlocal errors
        while not queue.empty():
            i = queue.get_nowait()
            start = time.perf_counter()
            try:
                status, data = await conn.post("/v1/embeddings", bodies[i])
            except (OSError, asyncio.IncompleteReadError, ValueError, httpx.HTTPError) as e:
                status, data = 0, f"{type(e).__name__}: {e}".encode()
                if isinstance(conn, RawClient):
                    conn.writer = None  # reconnect next time
            latencies.append(time.perf_counter() - start)
            if status != 200:
                errors += 1
                kinds[f"HTTP {status}: {data[:120]!r}"] += 1
            elif i < 20:
                responses[i] = [d["embedding"] for d in json.loads(data)["data"]]

    start = time.perf_counter()
    await asyncio.gather(*(worker(c) for c in conns))
    wall = time.perf_counter() - start
    for c in conns:
        await c.close()
    await shared.aclose()
    lat = sorted(latencies)
    return {"clients": clients, "sentences_per_request": size, "requests": n_requests, "errors": errors,
            "requests_per_s": round(n_requests / wall, 2), "sentences_per_s": round(n_requests * size / wall, 1),
            "p50_ms": round(1000 * statistics.median(lat), 1),
            "p99_ms": round(1000 * lat[int(0.99 * (len(lat) - 1))], 1),
            "error_kinds": dict(kinds), "_bodies": {i: bodies[i] for i in responses}, "_responses": responses}


def in_process_rate(model: Any, bodies: list[dict[str, Any]]) -> float:
    """Sentences/s of in-process encode of the same requests' sentences at the precision the server resolves
    (``auto``): each task's sentences in one call, batch 32 (what the server could at best do). One timing:
    ``main`` takes it right after each server run of the scenario (``summarise``)."""
    import torch

    from mote.model.sentence import encode
    from mote.runtime import resolve

    rt = resolve("auto", "cpu")
    groups: dict[str, list[str]] = {}
    for b in bodies:
        groups.setdefault(b["task"], []).extend(b["input"])
    with torch.inference_mode(), rt.autocast():
        for t, g in groups.items():  # warm-up
            encode(model, g[:8], task=t)
        start = time.perf_counter()
        for t, g in groups.items():
            encode(model, g, task=t, batch_size=32)
        return sum(len(g) for g in groups.values()) / (time.perf_counter() - start)


def summarise(rounds: list[tuple[dict[str, Any], float]]) -> dict[str, Any]:
    """One scenario over its rounds, each a server run and the in-process rate timed right after it: the ratio of
    each round, and the medians (the machine's speed drifts by tens of percent within minutes: a ratio of two
    timings taken apart measured the drift as much as the server)."""
    runs = [r for r, _ in rounds]
    ratios = [r["sentences_per_s"] / ref for r, ref in rounds]
    row = {k: runs[0][k] for k in ("clients", "sentences_per_request", "requests")}
    row |= {k: round(statistics.median(r[k] for r in runs), 2 if k == "requests_per_s" else 1)
            for k in ("requests_per_s", "sentences_per_s", "p50_ms", "p99_ms")}
    row |= {"errors": sum(r["errors"] for r in runs), "error_kinds": dict(sum((Counter(r["error_kinds"]) for r in runs),
                                                                            Counter())),
            "in_process_sentences_per_s": round(statistics.median(ref for _, ref in rounds), 1),
            "ratio_to_in_process": round(statistics.median(ratios), 2),
            "ratios_to_in_process": [round(x, 2) for x in ratios], "rounds": len(rounds),
            "_bodies": runs[0]["_bodies"], "_responses": runs[0]["_responses"]}
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--requests", type=int, default=400, help="one-sentence requests per scenario (32-sentence: /10)")
    p.add_argument("--export", choices=["onnx", "openvino"], default=None)
    p.add_argument("--client", choices=["raw", "httpx"], default="raw",
                   help="load generator: raw keep-alive HTTP/1.1 (default, least CPU) or httpx.AsyncClient")
    p.add_argument("--rounds", type=int, default=3,
                   help="server run and in-process timing alternated this many times per scenario (median ratio)")
    args = p.parse_args()

    from mote.model.resolve import DEFAULT_BASE, resolve_model
    from mote.model.sentence import encode, load, upcycle
    from mote.tasks import TaskSet

    work = Path(tempfile.mkdtemp(prefix="mote-serve-bench-"))
    upcycle(resolve_model(DEFAULT_BASE), TaskSet(), layers="every-other", out=work / "moe")
    served = work / "moe"
    if args.export:
        from mote.deploy.export import export

        served = export(work / "moe", work / "export", format=args.export)
    model = load(str(work / "moe"))
    texts = load_texts(1024)
    port = free_port()
    server = start_server(served, port)
    rows = []
    try:
        for size in (1, 32):
            n = args.requests if size == 1 else max(10, args.requests // 10)
            bodies = make_bodies(texts, size, n)
            for clients in (1, 8, 50):
                rounds = []
                for _ in range(args.rounds):  # the server's rate and in-process encode's, side by side
                    run = asyncio.run(scenario(port, texts, clients, size, n, args.client))
                    rounds.append((run, in_process_rate(model, bodies)))
                rows.append(summarise(rounds))
                print(clients, size, rows[-1]["sentences_per_s"], rows[-1]["ratios_to_in_process"],
                      rows[-1]["errors"], flush=True)
    finally:
        server.terminate()
        server.wait(timeout=60)
    for r in rows:
        checked = matched = 0
        for i, vecs in r["_responses"].items():
            body = r["_bodies"][i]
            ref = encode(model, body["input"], task=body["task"])
            got = np.asarray(vecs)
            cos = (ref * got).sum(1) / np.linalg.norm(ref, axis=1) / np.linalg.norm(got, axis=1)
            checked += 1
            matched += int(cos.min() >= 0.9999)
        r["routing_checked"], r["routing_matched"] = checked, matched
        del r["_bodies"], r["_responses"]
    result = {"machine": describe(), "served": "export " + args.export if args.export else "PyTorch folder",
              "client": args.client,
              "model": "all-MiniLM-L6-v2 up-cycled (5 tasks, every other block)",
              "rows": rows}
    name = f"serve_load{'-' + args.export if args.export else ''}{'-httpx' if args.client == 'httpx' else ''}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [f"# mote serve under load ({result['served']})", "", machine_line(result["machine"]), "",
             f"{result['model']}. x in-process: sentences/s over in-process encode of the same requests' sentences "
             "(each task's in one call, batch 32, the server's precision), timed right after each server run: "
             f"{args.rounds} rounds per scenario, the median ratio (each round's in brackets) and medians of the rates "
             f"and latencies. Load generator: {GENERATORS[args.client]}, on the server's 2 cores.", "",
             "| clients | sentences/request | requests per round | errors (all rounds) | requests/s | sentences/s | "
             "p50 ms | p99 ms | "
             "x in-process | in-process/s | routing ok |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['clients']} | {r['sentences_per_request']} | {r['requests']} | {r['errors']} | "
                     f"{r['requests_per_s']} | {r['sentences_per_s']} | {r['p50_ms']} | {r['p99_ms']} | "
                     f"{r['ratio_to_in_process']} ({', '.join(str(x) for x in r['ratios_to_in_process'])}) | "
                     f"{r['in_process_sentences_per_s']} | "
                     f"{r['routing_matched']}/{r['routing_checked']} |")
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

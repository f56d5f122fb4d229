"""The pruning proxy's own cost: `deepprune proxy --pool` (the replay backend at rate 0, so no model
time) serving n > 1 requests over HTTP, against the same method run in-process without HTTP.

    python bench/bench_proxy.py          # prints a Markdown table

Per method: the in-process time of one request (Run + method, no HTTP), the proxy's latency p50/p99
and CPU ms per request (the proxy process's user + system time / requests) with 1 client, and
requests per second with 1, 16 and 64 concurrent clients (httpx; the clients share the machine's
cores with the proxy). The pool is the packaged demo pool (12 questions x 32 traces with text), n = 16;
sizes are our choice.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np

from deepprune.engine.backends import get_backend
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.methods import build_methods
from deepprune.engine.problems import Problem
from deepprune.engine.run import Run
from deepprune.judges import get_judge
from deepprune.proxy.job import ProxyConfig

POOL = Path(__file__).resolve().parents[1] / "deepprune" / "data" / "demo_pool.jsonl"
N, REQUESTS = 16, 96  # our choice
SETTINGS = {"judge": "lexical:jaccard", "trunc": "tokens:200", "max_tokens": 10**6}
FLAGS = [
    "--judge",
    "lexical:jaccard",
    "--trunc",
    "tokens:200",
    "--max-tokens",
    str(10**6),
    "--deterministic",
]
QUESTIONS = [json.loads(x) for x in POOL.read_text().splitlines()]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def in_process(method: str) -> list[float]:
    """Milliseconds per request of the method itself (Run + method.run on the replay backend)."""
    import dataclasses

    base = dataclasses.replace(ProxyConfig(**SETTINGS, deterministic=True), n=N, methods=(method,))
    backend = get_backend("replay", pool=str(POOL))
    judge = get_judge(base.judge) if method == "deepprune" else None

    async def go():
        out = []
        for k in range(-8, REQUESTS):  # 8 warm-up requests first, as through the proxy
            q = QUESTIONS[k % len(QUESTIONS)]
            t0 = time.perf_counter()
            m = build_methods(base, judge)[0]
            await m.run(Run(backend, Problem(q["id"], q["question"]), base), LiveLedger(), {})
            if k >= 0:
                out.append(1000 * (time.perf_counter() - t0))
        return out

    return asyncio.run(go())


async def clients(url: str, concurrency: int, total: int) -> tuple[list[float], float]:
    import httpx

    lat, sem = [], asyncio.Semaphore(concurrency)
    async with httpx.AsyncClient(
        timeout=300, limits=httpx.Limits(max_connections=concurrency)
    ) as c:

        async def one(k):
            q = QUESTIONS[k % len(QUESTIONS)]
            async with sem:
                t0 = time.perf_counter()
                r = await c.post(url, json={"model": "replay", "prompt": q["question"], "n": N})
                lat.append(1000 * (time.perf_counter() - t0))
                assert r.status_code == 200, r.text

        t0 = time.perf_counter()
        await asyncio.gather(*(one(k) for k in range(total)))
        return lat, time.perf_counter() - t0


def through_proxy(method: str) -> dict:
    port = _port()
    cmd = [sys.executable, "-m", "deepprune.cli", "proxy", "--pool", str(POOL), "--port", str(port), "--method",
           method, "--max-running", "64", "--max-queued", "256", "--log", os.devnull, *FLAGS]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/health", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        url = base + "/v1/completions"
        asyncio.run(clients(url, 1, 8))  # warm-up: imports, the judge, the pool's token counts
        out = {}
        for conc in (1, 16, 64):
            cpu0 = _cpu_s(proc.pid)
            lat, wall = asyncio.run(clients(url, conc, REQUESTS))
            out[conc] = {"rps": REQUESTS / wall, "p50": np.percentile(lat, 50), "p99": np.percentile(lat, 99),
                         "cpu_ms": 1000 * (_cpu_s(proc.pid) - cpu0) / REQUESTS}  # fmt: skip
        return out
    finally:
        proc.terminate()
        proc.wait(30)


print(f"pool: {POOL.name} ({len(QUESTIONS)} questions), n = {N}, {REQUESTS} requests per row; "
      f"{os.cpu_count()} cores shared by the proxy and its clients\n")  # fmt: skip
print(
    "| method | in-process ms p50 / p99 | proxy, 1 client: ms p50 / p99 | HTTP overhead ms (p50 difference) | proxy CPU ms per request | req/s at 1 / 16 / 64 clients |"
)
print("|---|---|---|---|---|---|")
for method in ("cons@N", "deepprune"):
    mine = in_process(method)
    got = through_proxy(method)
    print(f"| {method} | {np.percentile(mine, 50):.1f} / {np.percentile(mine, 99):.1f} | "
          f"{got[1]['p50']:.1f} / {got[1]['p99']:.1f} | {got[1]['p50'] - np.percentile(mine, 50):.1f} | {got[1]['cpu_ms']:.1f} | "
          f"{got[1]['rps']:.1f} / {got[16]['rps']:.1f} / {got[64]['rps']:.1f} |", flush=True)  # fmt: skip

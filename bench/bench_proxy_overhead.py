"""Direct versus proxied: what putting `deepprune proxy` in front of a server adds to each request.

    python bench/bench_proxy_overhead.py            # prints a Markdown table
    python bench/bench_proxy_overhead.py --json     # one JSON object per row

The upstream is the fault server in its well-behaved mode (stdlib, 127.0.0.1: a server that
answers at once, so what is measured is the proxy's own cost); the proxy runs as
`deepprune proxy --method cons@N` in its own process, as in production. Each row sends the same
requests straight to the server and through the proxy, with 1 and 64 concurrent clients (httpx),
3 repeats of 200 requests each (our choices): `n = 1` (passed through unchanged) and `n = 4`
(the server samples 4 in one request; the proxy runs cons@N: 4 upstream requests and a vote).
Latency p50 and p99 and requests per second are reported as the mean ± sd over the repeats.
The clients, the proxy and the server share the machine's cores.
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

import numpy as np

REPEATS, REQUESTS, CONCURRENCY = 3, 200, (1, 64)  # our choices


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(url: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{url}: not up within {limit} s")


async def _load(url: str, n: int, clients: int) -> dict:
    """REQUESTS completions at ``clients`` at a time: latency p50 / p99 (ms) and requests/s."""
    import httpx

    body = {"model": "fault-model", "prompt": "1+1?", "n": n, "max_tokens": 16, "seed": 1}
    lat: list[float] = []
    sem = asyncio.Semaphore(clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=60, limits=limits) as c:

        async def one():
            async with sem:
                t0 = time.perf_counter()
                r = await c.post(url + "/completions", json=body)
                lat.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text[:200]

        t0 = time.perf_counter()
        await asyncio.gather(*(one() for _ in range(REQUESTS)))
        wall = time.perf_counter() - t0
    ms = 1000 * np.asarray(lat)
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "rps": REQUESTS / wall,
    }


def _spread(xs: list[float]) -> str:
    return f"{np.mean(xs):.1f} ± {np.std(xs):.1f}"


def main() -> list[dict]:
    up, px = _port(), _port()
    server = subprocess.Popen([sys.executable, "-m", "deepprune.dev.fault_server", "--port", str(up)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    proxy = subprocess.Popen([sys.executable, "-m", "deepprune.cli", "proxy", "--upstream", f"http://127.0.0.1:{up}/v1",
                              "--port", str(px), "--method", "cons@N", "--log", os.devnull, "--max-running", "128",
                              "--max-queued", "256", "--upstream-concurrency", "256"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    rows = []
    try:
        _wait(f"http://127.0.0.1:{up}/health")
        _wait(f"http://127.0.0.1:{px}/health")
        direct, proxied = f"http://127.0.0.1:{up}/v1", f"http://127.0.0.1:{px}/v1"
        for n in (1, 4):
            for clients in CONCURRENCY:
                got = {"direct": [], "proxied": []}
                for _ in range(REPEATS):
                    for name, url in (("direct", direct), ("proxied", proxied)):
                        got[name].append(asyncio.run(_load(url, n, clients)))
                row = {"n": n, "clients": clients, "repeats": REPEATS, "requests": REQUESTS}
                for name, runs in got.items():
                    for k in ("p50", "p99", "rps"):
                        row[f"{name}_{k}"] = [r[k] for r in runs]
                row["overhead_p50_ms"] = [
                    p - d for p, d in zip(row["proxied_p50"], row["direct_p50"], strict=True)
                ]
                rows.append(row)
    finally:
        for p in (proxy, server):
            p.terminate()
            p.wait(30)
    return rows


if __name__ == "__main__":
    rows = main()
    if "--json" in sys.argv:
        print("\n".join(json.dumps(r) for r in rows))
    else:
        print(f"{os.cpu_count()} cores shared by the clients, the proxy and the server; {REPEATS} repeats x {REQUESTS} "
              "requests per cell, mean ± sd over the repeats\n")  # fmt: skip
        print(
            "| n | clients | direct p50 / p99 ms | proxied p50 / p99 ms | overhead p50 ms | direct req/s | proxied req/s |"
        )
        print("|---|---|---|---|---|---|---|")
        for r in rows:
            kind = "1 (passed through)" if r["n"] == 1 else f"{r['n']} (cons@N in the proxy)"
            print(f"| {kind} | {r['clients']} | {_spread(r['direct_p50'])} / {_spread(r['direct_p99'])} "
                  f"| {_spread(r['proxied_p50'])} / {_spread(r['proxied_p99'])} | {_spread(r['overhead_p50_ms'])} "
                  f"| {_spread(r['direct_rps'])} | {_spread(r['proxied_rps'])} |")  # fmt: skip

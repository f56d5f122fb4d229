"""Replicas behind a real router: two local llama.cpp servers behind vllm-router (PyPI, Rust), solve unchanged."""

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from deepprune.engine.server import MODEL_ALIAS, LocalServer
from deepprune.engine.solve import SolveConfig, solve
from tests.conftest import ROOT

# two real servers and a router; one test worker runs every llama.cpp server
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("llama")]

PROMPT = ROOT / "DeepPrune_data" / "prompts" / "fewshot_add.txt"
PROBLEMS = ROOT / "DeepPrune_data" / "problems" / "add24.jsonl"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _generated(root: str) -> float:
    with urllib.request.urlopen(root + "/metrics", timeout=5) as r:
        line = next(
            x
            for x in r.read().decode().splitlines()
            if x.startswith("llamacpp:tokens_predicted_total")
        )
    return float(line.split()[1])


def test_solve_through_vllm_router_keeps_each_problem_on_one_replica(tmp_path):
    router_bin = shutil.which("vllm-router") or str(Path(sys.executable).parent / "vllm-router")
    ports = [_free_port(), _free_port()]
    roots = [f"http://127.0.0.1:{p}" for p in ports]
    with LocalServer(port=ports[0], n_ctx=2048, threads=1, log=str(tmp_path / "a.log")), \
            LocalServer(port=ports[1], n_ctx=2048, threads=1, log=str(tmp_path / "b.log")):  # fmt: skip
        rport = _free_port()
        router = subprocess.Popen([router_bin, "--host", "127.0.0.1", "--port", str(rport), "--worker-urls", *roots,
                                   "--policy", "consistent_hash", "--log-level", "warning",
                                   "--prometheus-port", str(_free_port())],  # its own metrics: a free port
                                  stdout=open(tmp_path / "router.log", "wb"), stderr=subprocess.STDOUT)  # noqa: SIM115  # fmt: skip
        try:
            base = f"http://127.0.0.1:{rport}/v1"
            for _ in range(360):  # the router waits for every worker's GET /health
                try:
                    with urllib.request.urlopen(base + "/models", timeout=2) as r:
                        assert json.loads(r.read())["data"][0]["id"] == MODEL_ALIAS
                    break
                except (OSError, ValueError):
                    assert router.poll() is None, (tmp_path / "router.log").read_text()[-2000:]
                    time.sleep(0.5)
            else:
                pytest.fail(
                    "vllm-router never answered /v1/models: "
                    + (tmp_path / "router.log").read_text()[-2000:]
                )
            cfg = SolveConfig(n=4, methods=("cons@N",), max_tokens=12, prompt=PROMPT.read_text(),
                              stop=("\nQuestion:",), concurrent_problems=1)  # fmt: skip
            spread = []
            # the hash ring follows the replicas' (random, free) ports: problems are added until both
            # replicas have served one (at least 4, at most 12: all on one replica by chance is 2^-11)
            for line in PROBLEMS.read_text().splitlines()[:12]:
                if len(spread) >= 4 and len({d.index(max(d)) for d in spread}) == 2:
                    break
                p = tmp_path / "one.jsonl"
                p.write_text(line + "\n")
                before = [_generated(r) for r in roots]
                res = solve(str(p), cfg, base_url=base, model=MODEL_ALIAS, progress=False,
                            metrics_url=tuple(r + "/metrics" for r in roots))  # fmt: skip
                delta = [_generated(r) - b for r, b in zip(roots, before, strict=True)]
                ledger = sum(r["tokens"] for r in res["records"])
                # the ledger equals both servers' own counts together, and solve says so itself
                assert sum(delta) == ledger == res["counters"]["server_generated_tokens"], (
                    delta,
                    res["counters"],
                )
                assert "warning" not in res["counters"]
                spread.append(delta)
            # consistent_hash keys on the request: a problem's traces share their prompt, so they
            # land on one replica (its prefix cache is reused); the four problems use both
            print("tokens per replica, per problem:", spread)
            assert all(min(d) == 0 and max(d) > 0 for d in spread), spread
            assert {d.index(max(d)) for d in spread} == {0, 1}, spread
        finally:
            router.terminate()
            router.wait(timeout=20)

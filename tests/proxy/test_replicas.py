"""Past one machine: two proxy replicas behind a real router (vllm-router, consistent hashing), each
in front of its own upstream server (the fault server, well-behaved). A request's traces all go to
one upstream; the replicas' ledgers sum to the servers' own generated-token counters."""

import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from deepprune.dev.fault_server import FaultServer
from deepprune.engine.backends.openai_compat import parse_generated_counter
from deepprune.greedy import ClusterConfig
from deepprune.proxy.job import ProxyConfig, ProxyJob
from tests.conftest import free_port

pytestmark = pytest.mark.slow  # a router process


def _counter(root: str) -> float:
    with urllib.request.urlopen(root + "/metrics", timeout=10) as r:
        return parse_generated_counter(r.read().decode())[1]


def _proxy_tokens(h) -> int:
    return h.proxy.total("generated_tokens_total") + h.proxy.total("probe_tokens_total")


def test_two_replicas_behind_vllm_router(tmp_path):
    router_bin = shutil.which("vllm-router") or str(Path(sys.executable).parent / "vllm-router")
    cfg = ProxyConfig(
        max_tokens=20,
        cluster=ClusterConfig(K2=2, K3=2),
        judge="lexical:jaccard",
        trunc="tokens:4",
        deterministic=True,
    )
    with FaultServer() as a, FaultServer() as b:
        ups = [a, b]
        jobs = [ProxyJob(upstream=u.url(), port=free_port(), method="deepprune", config=cfg, log=str(tmp_path / f"p{i}.log"))
                for i, u in enumerate(ups)]  # fmt: skip
        with jobs[0].start() as p0, jobs[1].start() as p1:
            proxies = [p0, p1]
            roots = [p.url.removesuffix("/v1") for p in proxies]
            rport = free_port()
            log = open(tmp_path / "router.log", "wb")  # noqa: SIM115 - lives with the router
            router = subprocess.Popen([router_bin, "--host", "127.0.0.1", "--port", str(rport), "--worker-urls", *roots,
                                       "--policy", "consistent_hash", "--log-level", "warning",
                                       "--prometheus-port", str(free_port())], stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
            try:
                base = f"http://127.0.0.1:{rport}/v1"
                for _ in range(240):
                    try:
                        if httpx.get(base + "/models", timeout=2).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    assert router.poll() is None, (tmp_path / "router.log").read_text()[-2000:]
                    time.sleep(0.5)
                else:
                    pytest.fail(
                        "vllm-router never answered: "
                        + (tmp_path / "router.log").read_text()[-2000:]
                    )
                used = set()
                for k in range(16):  # until both replicas served (the ring follows random ports)
                    if k >= 6 and len(used) == 2:
                        break
                    before = [_counter(u.url().removesuffix("/v1")) for u in ups]
                    mine = [_proxy_tokens(p) for p in proxies]
                    r = httpx.post(base + "/completions", json={"model": "fault-model", "prompt": f"{k}+{k}?",
                                                                "n": 4, "max_tokens": 20, "seed": k}, timeout=60)  # fmt: skip
                    assert r.status_code == 200, r.text
                    spent = r.json()["usage"]["completion_tokens"]
                    delta = [
                        _counter(u.url().removesuffix("/v1")) - x
                        for u, x in zip(ups, before, strict=True)
                    ]
                    grew = [_proxy_tokens(p) - x for p, x in zip(proxies, mine, strict=True)]
                    # every trace and probe of the request on one upstream, through one replica
                    assert sorted(delta) == [0, spent] and sorted(grew) == [0, spent], (
                        delta,
                        grew,
                        spent,
                    )
                    assert delta.index(spent) == grew.index(spent)
                    used.add(delta.index(spent))
                assert used == {0, 1}
                total = sum(_counter(u.url().removesuffix("/v1")) for u in ups)
                assert (
                    sum(_proxy_tokens(p) for p in proxies) == total
                )  # the ledgers sum to the servers'
            finally:
                router.terminate()
                router.wait(timeout=20)

"""The proxy's bounds as properties (issue 38): trace and probe slots are separate, so a trace that
waits on its own probe never deadlocks, and neither kind ever exceeds its limit; admission counts
requests running plus waiting, so a burst gets exactly ``--max-running + --max-queued`` 200s and
the rest 429."""

import asyncio
import os
from dataclasses import replace

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune.engine.backends import Finish, Request
from deepprune.engine.backends.replay import ReplayBackend
from deepprune.pools import read_pool
from deepprune.proxy.job import ProxyConfig, ProxyJob
from deepprune.proxy.upstream import Bounded
from tests.conftest import DEMO_POOL, free_port

POOL = read_pool(DEMO_POOL)


def probed(q):
    """``q`` with three answer probes per trace (the demo pool has none)."""
    return replace(
        q, traces=[replace(t, extra={**t.extra, "probes": ["1", "2", "3"]}) for t in q.traces]
    )


class Watched(ReplayBackend):
    """The replayed pool, with the most traces and probes it ever had in flight at once."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.now = {"trace": 0, "probe": 0}
        self.most = {"trace": 0, "probe": 0}

    async def stream(self, req):
        kind = "probe" if "probe" in req.meta else "trace"
        self.now[kind] += 1
        self.most[kind] = max(self.most[kind], self.now[kind])
        try:
            async for item in super().stream(req):
                yield item
        finally:
            self.now[kind] -= 1


@settings(max_examples=30, deadline=None)
@given(limit=st.integers(1, 3), traces=st.integers(1, 7), probes_per_trace=st.integers(1, 3))
def test_a_trace_waiting_on_its_probes_never_deadlocks_and_no_kind_exceeds_its_slots(
    limit, traces, probes_per_trace
):
    q = probed(POOL[0])
    inner = Watched([q], rate=2000.0)
    up = Bounded(inner, limit)

    async def one(i: int) -> None:
        meta = {"question": q.id, "index": i % len(q.traces)}
        req = Request(f"{q.id}/{i}", q.question, i, 20, meta=meta)
        gen = up.stream(req)
        try:
            async for item in gen:  # holds a trace slot while it asks its probes, as DeepPrune does
                if not isinstance(item, Finish):
                    for k in range(probes_per_trace):
                        probe = Request(
                            f"{q.id}/{i}/probe{k}", q.question, 0, 16, meta={**meta, "probe": k}
                        )
                        await up.complete(probe)
                    await asyncio.sleep(0.01)  # the slot held a while: the traces overlap
                    break
        finally:
            await gen.aclose()

    async def main():
        await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(traces))), 5)

    asyncio.run(main())
    assert inner.most["trace"] == min(limit, traces)
    assert 1 <= inner.most["probe"] <= limit


@pytest.mark.slow
@settings(max_examples=4, deadline=None)
@given(running=st.integers(1, 3), queued=st.integers(0, 3), extra=st.integers(1, 4))
def test_a_burst_gets_exactly_running_plus_queued_admitted(running, queued, extra):
    """Each admitted request streams 4 traces of 40 tokens at 40 tokens/s (about 1 s), so the whole
    burst arrives before any finishes: running + queued are served, every other one is a 429."""
    q = POOL[0]
    burst = running + queued + extra
    job = ProxyJob(pool=str(DEMO_POOL), rate=40.0, port=free_port(), method="cons@N", max_running=running,
                   max_queued=queued, log=os.devnull, config=ProxyConfig(max_tokens=10**6))  # fmt: skip
    body = {"model": "replay", "prompt": q.question, "n": 4, "seed": 1, "max_tokens": 40}

    async def main(url):
        async with httpx.AsyncClient(timeout=60, limits=httpx.Limits(max_connections=64)) as c:
            return await asyncio.gather(
                *(c.post(url + "/completions", json=body) for _ in range(burst))
            )

    with job.start() as h:
        statuses = sorted(r.status_code for r in asyncio.run(main(h.url)))
    assert statuses == [200] * (running + queued) + [429] * extra

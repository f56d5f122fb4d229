"""The proxy's view of its upstream: a backend whose traces and probes are bounded, each in slots
of their own, shared by every request (each request may send its own key through it)."""

from __future__ import annotations

import asyncio

from deepprune.engine.backends import Backend


class Bounded(Backend):
    """A backend with at most ``limit`` traces and ``limit`` probes in flight (separate slots: a
    trace waiting on its probe never holds the slot the probe needs)."""

    def __init__(self, inner: Backend, limit: int):
        self.inner, self.name = inner, inner.name
        self.slots, self.probe_slots = asyncio.Semaphore(limit), asyncio.Semaphore(limit)

    def __getattr__(self, name):  # the replayed pool's questions, require_probes, ...
        return getattr(self.inner, name)

    def keyed(self, api_key: str) -> Bounded:
        """This backend sending ``api_key`` (one request's credentials), sharing these slots."""
        other = Bounded.__new__(Bounded)
        other.inner, other.name = self.inner.with_api_key(api_key), self.name
        other.slots, other.probe_slots = self.slots, self.probe_slots
        return other

    def require_probes(self, probe_every=None) -> None:
        self.inner.require_probes(probe_every)

    def require_text(self) -> None:
        self.inner.require_text()

    def pool_question(self, qid: str):
        return self.inner.pool_question(qid)

    async def generated_counter(self):
        return await self.inner.generated_counter()

    async def prompt_tokens(self, req):
        return await self.inner.prompt_tokens(req)

    def _slots(self, req) -> asyncio.Semaphore:
        return self.probe_slots if "probe" in req.meta else self.slots

    async def stream(self, req):
        async with self._slots(req):
            gen = self.inner.stream(req)
            try:
                async for item in gen:
                    yield item
            finally:
                await gen.aclose()

    async def complete(self, req):
        async with self._slots(req):
            return await self.inner.complete(req)

    async def close(self) -> None:
        await self.inner.close()

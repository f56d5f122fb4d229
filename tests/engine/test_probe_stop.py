"""An answer probe stops at the answer's closing brace (issue 37): it costs the answer's tokens,
not ``--probe-tokens``; a ``}`` that closes an inner brace is put back and the probe goes on."""

import asyncio

import pytest

from deepprune.dev.fault_server import FaultServer
from deepprune.dev.fault_text import PROBE_REPLY
from deepprune.engine.backends.openai_compat import OpenAIBackend
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.problems import Problem
from deepprune.engine.run import Run
from deepprune.engine.solve import SolveConfig


def probe(
    srv: FaultServer, api: str = "completions", probe_tokens: int = 16, **cfg
) -> tuple[str | None, LiveLedger]:
    async def go():
        backend = OpenAIBackend(srv.url("ok"), "fault-model", api=api)
        try:
            led = LiveLedger()
            run = Run(
                backend,
                Problem("q", "What is one half?"),
                SolveConfig(probe_tokens=probe_tokens, **cfg),
            )
            return await run.probe(0, 0, " so we halve it", led), led
        finally:
            await backend.close()

    return asyncio.run(go())


@pytest.mark.parametrize("api", ["completions", "chat"])
@pytest.mark.parametrize("says_stop", [True, False])
def test_a_probe_ends_at_the_brace_that_closes_the_box(api, says_stop):
    """The fault server's probe reply is `` \\frac{1}{2}} so it is done.`` (10 tokens): stopped at
    each ``}``, the probe asks three times (the ``}`` of ``{1}`` and ``{2}`` close inner braces) and
    generates 7 tokens, the answer and its closing brace, not 10 (the reply) or 16 (the limit);
    the ledger charges what the server generated, request by request."""
    with FaultServer(stop_reason=says_stop) as srv:
        answer, led = probe(srv, api)
        generated = srv.httpd.generated
    assert answer == "\\frac{1}{2}"
    assert [rid for rid, _ in led.requests] == ["q/0/probe0", "q/0/probe0.1", "q/0/probe0.2"]
    assert [n for _, n in led.requests] == [3, 3, 1]
    assert led.probe_tokens == generated == 7 < len(PROBE_REPLY) < 16
    assert led.probe_calls == 3 and led.tokens == 0


@pytest.mark.parametrize("says_stop", [True, False])
def test_an_end_of_text_inside_the_box(says_stop):
    """A reply that ends without closing the box (a cue the fault server does not answer as a
    probe): where the server says the request ended at an end of text (vLLM's ``stop_reason``
    None), the probe has no answer, as before; where it does not say (llama.cpp), the stop is read
    as the closing brace, the one ambiguity of a server that does not say."""
    cue = "\nThe answer is \\fbox{"
    with FaultServer(stop_reason=says_stop) as srv:
        answer, led = probe(srv, answer_cue=cue)
    assert led.probe_calls == 1
    assert (answer is None) == says_stop


def test_a_cue_that_opens_no_brace_sends_no_stop():
    """A cue without ``{`` (an MMLU letter cue) has no brace to stop at: one request, no stop
    string sent, the reply whole (the fault server's plain 10 tokens); a brace cue sends ``}``."""
    with FaultServer() as srv:
        _, led = probe(srv, "chat", answer_cue="\nThe answer is ")
        _, braced = probe(srv, "chat")
        sent = [body.get("stop") for body in srv.httpd.chat_requests]
    assert led.probe_calls == 1 and led.probe_tokens == 10
    assert sent == [None, ["}"], ["}"], ["}"]]


def test_the_continued_requests_share_one_probe_limit():
    """--probe-tokens 5: the first request stops at the inner ``}`` after 3 tokens, the second may
    generate only the 2 left and ends inside the box: no answer, 5 tokens in all."""
    with FaultServer() as srv:
        answer, led = probe(srv, probe_tokens=5)
    assert answer is None
    assert [n for _, n in led.requests] == [3, 2] and led.probe_tokens == 5

"""The generation side under server faults, driven by our own fault-injecting OpenAI-compatible server
(:mod:`deepprune.dev.fault_server`): every fault is a one-line error naming the request and what
happened, or a flagged, client-counted usage; nothing hangs; an aborted run resumes losslessly."""

import json
import socket
import threading

import pytest

from deepprune.dev.fault_server import MODES, FaultServer
from deepprune.engine.backends.openai_compat import check_usage
from deepprune.engine.generate import GenerateConfig, generate
from deepprune.engine.solve import SolveConfig, solve
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.greedy import ClusterConfig
from deepprune.pools import iter_pool
from tests.conftest import free_port

# what each fault must produce: an error saying this, or a run whose usage is flagged
ERRORS = {
    "http500": "HTTP 500: ",
    "html200": "",  # an HTML page: "instead of a completion" (or, streamed, no finish reason)
    "no-usage": "",  # non-streamed: its tokens cannot be counted (streamed: counted by the client)
    "empty-choices": "",
    "no-choices": "no choices",
    "cut-json": "",
    "disconnect": "",
    "bad-sse": "not valid JSON",
    "stall": "timed out",
}
FLAGGED = ("ignore-max-tokens", "negative-usage", "zero-usage", "usage-above-max")
# modes whose effect is on one request, met by the backend's own tables below (STREAMED, COMPLETED,
# the log-probabilities' and the cut traces'): generate and solve read every trace through it
BACKEND_ONLY = ("usage-not-int", "usage-no-count", "usage-plus-one", "cached-prefix", "http403",
                "no-logprobs", "bad-text", "empty-token")  # fmt: skip
HANG_S = 60


def _in_thread(fn):
    """fn() in a thread; (result, error); fails the test if it is still running after HANG_S."""
    box = {}

    def go():
        try:
            box["res"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the test
            box["err"] = e

    t = threading.Thread(target=go, daemon=True)
    t.start()
    t.join(HANG_S)
    assert not t.is_alive(), f"still running after {HANG_S} s: a hang"
    return box.get("res"), box.get("err")


@pytest.fixture(scope="module")
def faults():
    with FaultServer() as fs:
        yield fs


@pytest.fixture
def problems(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": "1+1?", "gold": "42"}) + "\n" for i in range(3)
        )
    )
    return str(path)


def _srv(fs, mode):
    return {"base_url": fs.url(mode), "model": "fault-model", "timeout": 2.0, "retries": 0}


RUNS = {
    "generate": lambda fs, mode, probs, out: generate(
        probs, out / "pool.jsonl", GenerateConfig(n=2, max_tokens=20, probe_every=5, concurrency=2), progress=False, **_srv(fs, mode)
    ),
    "generate-plain": lambda fs, mode, probs, out: generate(
        probs, out / "pool.jsonl", GenerateConfig(n=2, max_tokens=20), progress=False, **_srv(fs, mode)
    ),
    "solve-resume": lambda fs, mode, probs, out: solve(
        probs, SolveConfig(n=4, max_tokens=20, judge="lexical:jaccard", trunc="tokens:4", deterministic=True, concurrent_problems=1), out=out / "run",
        progress=False, **_srv(fs, mode),
    ),
    "solve-stream": lambda fs, mode, probs, out: solve(
        probs, SolveConfig(n=4, max_tokens=20, judge="lexical:jaccard", trunc="words:2", mode="stream", concurrent_problems=1),
        out=out / "run", progress=False, **_srv(fs, mode),
    ),
    "solve-probes": lambda fs, mode, probs, out: solve(
        probs, SolveConfig(n=4, max_tokens=20, methods=("cons@N", "parallel-probe", "short-m@k"), probe_every=4,
                           pp_warm_up=0, pp_patience=1, concurrent_problems=1), out=out / "run", progress=False, **_srv(fs, mode),
    ),
}  # fmt: skip


@pytest.mark.parametrize("run", list(RUNS))
@pytest.mark.parametrize("mode", list(ERRORS))
def test_a_fault_is_one_line_naming_the_request_never_a_hang(faults, problems, tmp_path, run, mode):
    res, err = _in_thread(lambda: RUNS[run](faults, mode, problems, tmp_path))
    if err is None:  # some faults only touch one request form (e.g. no-usage streams count tokens)
        assert mode in ("no-usage",) or (mode, run) in {("empty-choices", "generate-plain")}, res
        return
    assert isinstance(err, DeepPruneError), repr(err)
    msg = str(err)
    assert "\n" not in msg and faults.url(mode) in msg and "request q" in msg, msg
    assert ERRORS[mode] in msg, msg
    assert not (tmp_path / "pool.jsonl").exists()  # no pool that looks complete


@pytest.mark.parametrize("run", ["generate", "generate-plain", "solve-resume", "solve-stream"])
@pytest.mark.parametrize("mode", FLAGGED)
def test_an_implausible_usage_is_flagged_and_counted_by_the_client(
    faults, problems, tmp_path, run, mode
):
    res, err = _in_thread(lambda: RUNS[run](faults, mode, problems, tmp_path))
    assert err is None, err
    flags = (
        res["usage_flags"]
        if run.startswith("generate")
        else [f for r in res["records"] for f in r["usage_flags"]]
    )
    assert flags, "no request was flagged"
    if run.startswith("generate"):
        for q in iter_pool(tmp_path / "pool.jsonl"):
            assert all(0 <= t.num_tokens <= 20 for t in q.traces)
            if mode == "ignore-max-tokens":  # stopped by the client: not a finished trace
                assert not any(t.finished for t in q.traces)
    else:
        for r in res["records"]:
            assert r["tokens"] >= 0
            assert all(0 <= n <= 20 for _, n in r["requests"])


def test_a_refused_connection_says_so(problems, tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    srv = {"base_url": f"http://127.0.0.1:{port}/v1", "model": "m", "timeout": 2.0, "retries": 0}
    with pytest.raises(DeepPruneError, match="connection refused"):
        solve(problems, SolveConfig(n=2, methods=("cons@N",)), progress=False, **srv)


def test_check_usage_flags_what_cannot_be():
    assert check_usage(5, "abc", 10, counted=5) is None
    assert check_usage(7, "abc", 10, counted=5) is None  # several tokens per chunk (vLLM)
    assert "negative" in check_usage(-1, "abc", 10)
    assert "usage 0" in check_usage(0, "abc", 10)
    assert check_usage(0, "", 10) is None
    assert "above max_tokens" in check_usage(11, "abc", 10)
    assert "streamed" in check_usage(3, "abc", 10, counted=5)
    assert "streamed" in check_usage(
        6, "abc", 10, counted=5, exact=True
    )  # one logprob row per token
    assert "integer" in check_usage("5", "abc", 10)
    assert check_usage(None, "abc", 10) == "no usage reported"


def test_check_usage_and_explain_say_exactly_what_by_hand():
    import httpx
    import openai

    from deepprune.engine.backends.openai_compat import cached_tokens, explain, stopped_by

    assert [check_usage(u, "abc", 10, counted=c, exact=x) for u, c, x in (
        (True, None, False), (-1, None, False), (0, None, False), (11, None, False), (3, 5, False),
        (6, 5, True), (10, 10, True), (10, None, False), (5, 5, True))] == [
        "usage.completion_tokens is not an integer (True)", "negative usage (-1)", "usage 0 for a non-empty text",
        "usage 11 above max_tokens=10", "usage 3 but 5 tokens streamed", "usage 6 but 5 tokens streamed",
        None, None, None]  # fmt: skip
    req = httpx.Request("POST", "http://h/v1/completions")
    assert explain(httpx.ReadTimeout("slow"), 2.5) == "timed out: no answer for 2.5 s (--timeout)"
    assert (
        explain(openai.APITimeoutError(request=req), 600.0)
        == "timed out: no answer for 600 s (--timeout)"
    )
    refused = openai.APIConnectionError(request=req)
    refused.__cause__ = httpx.ConnectError("refused")
    assert explain(refused, 1) == "connection refused (is the server running?)"
    assert explain(httpx.RemoteProtocolError("cut"), 1) == (
        "the response was cut (the server closed the connection mid-response)")  # fmt: skip
    assert explain(json.JSONDecodeError("Expecting value", "x", 0), 1) == (
        "a body or stream chunk that is not valid JSON (Expecting value)")  # fmt: skip
    assert explain(KeyError("k"), 1) == "builtins.KeyError: 'k'"

    class Boom(Exception):  # of this module, not builtins: named by its own module
        pass

    assert explain(Boom("x"), 1) == f"{__name__}.Boom: x" and __name__ != "builtins"
    import http.client

    assert explain(TimeoutError(), 3) == "timed out: no answer for 3 s (--timeout)"
    assert explain(ConnectionRefusedError(), 1) == "connection refused (is the server running?)"
    for cut in (httpx.ReadError("x"), http.client.IncompleteRead(b"")):
        assert (
            explain(cut, 1)
            == "the response was cut (the server closed the connection mid-response)"
        )
    bare = openai.APIConnectionError(request=req)  # no cause: what it wraps is its context
    bare.__context__ = httpx.ReadError("reset")
    assert (
        explain(bare, 1) == "the response was cut (the server closed the connection mid-response)"
    )
    bad = openai.APIResponseValidationError(response=httpx.Response(200, request=req), body=None)
    assert explain(bad, 1) == "a response that does not have the completions format"
    assert cached_tokens(type("U", (), {"prompt_tokens_details": {"cached_tokens": 7}})()) == 7
    assert (
        cached_tokens(
            type("U", (), {"prompt_tokens_details": type("D", (), {"cached_tokens": 3})()})()
        )
        == 3
    )
    assert cached_tokens(type("U", (), {})()) is None
    said = lambda extra: stopped_by(type("C", (), {"model_extra": extra})())  # noqa: E731
    assert [said(e) for e in ({"stop_reason": "\nQ:"}, {"stop_reason": None}, {"stop_reason": 151643},
                              {"matched_stop": 2}, {"matched_stop": "END"}, {}, None)] == [
        "\nQ:", "eos", "eos", "eos", "END", None, None]  # fmt: skip


RESUMED = {
    **RUNS,
    # one trace in flight: the first problem is whole before the stall, whatever the timing (with
    # concurrency 2 all three problems can still be open at the half-way request); concurrency is not
    # part of the resume key
    "generate": lambda fs, mode, probs, out: generate(
        probs, out / "pool.jsonl", GenerateConfig(n=2, max_tokens=20, probe_every=5, concurrency=1), progress=False, **_srv(fs, mode)
    ),
}  # fmt: skip


@pytest.mark.parametrize("run", ["generate", "solve-resume", "solve-stream", "solve-probes"])
def test_an_aborted_run_resumes_losslessly(faults, problems, tmp_path, run):
    """A run cut by a fault mid-way, resumed against the same server once healthy, equals a clean run
    (one base URL: the resume key includes the server's URL)."""
    faults.fail_after("ok", 0)
    clean, _ = _in_thread(lambda: RESUMED[run](faults, None, problems, tmp_path / "clean"))
    total = faults.httpd.served
    try:  # two thirds of the requests go through, then the server stalls: the first problem (a
        # third of them, whatever the interleaving) is whole before it
        faults.fail_after("stall", 2 * total // 3)
        _, err = _in_thread(lambda: RESUMED[run](faults, None, problems, tmp_path / "cut"))
        assert isinstance(err, DeepPruneError) and "timed out" in str(err)
    finally:
        faults.fail_after("ok", 0)
    saved = _saved_problems(
        tmp_path / "cut", run
    )  # what the cut run left, however the load timed it
    assert 1 <= saved < 3
    resumed, err = _in_thread(lambda: RESUMED[run](faults, None, problems, tmp_path / "cut"))
    assert err is None
    redone = resumed["generated_problems"] if run.startswith("generate") else resumed["solved_now"]
    assert redone == 3 - saved  # exactly what was not saved is redone, nothing that was
    if run.startswith("generate"):
        a = [q.to_dict() for q in iter_pool(tmp_path / "clean" / "pool.jsonl")]
        b = [q.to_dict() for q in iter_pool(tmp_path / "cut" / "pool.jsonl")]
        assert a == b
    else:
        keep = ("question", "method", "correct", "tokens", "requests")
        key = lambda r: (r["question"], r["method"])  # noqa: E731
        norm = lambda r: {k: sorted(map(tuple, r[k])) if k == "requests" else r[k] for k in keep}  # noqa: E731
        a = sorted(map(norm, clean["records"]), key=key)
        b = sorted(map(norm, resumed["records"]), key=key)
        # stream mode, short-m@k and Parallel-Probe stop traces by the server's timing: their tokens vary
        timed = lambda r: run == "solve-stream" or r["method"] in ("short-m@k", "parallel-probe")  # noqa: E731
        assert [r for r in a if not timed(r)] == [r for r in b if not timed(r)]
        assert [key(r) for r in a] == [key(r) for r in b]


def _saved_problems(out, run: str) -> int:
    """Problems a cut run saved whole: generate's lines in OUT.partial; solve's problems with a
    record of every method in records.jsonl."""
    import json

    if run.startswith("generate"):
        part = out / "pool.jsonl.partial"
        return sum(1 for ln in part.read_text().splitlines() if ln.strip()) if part.exists() else 0
    run = out / "run"  # RUNS write solve's run directory there
    methods = set(json.loads((run / "config.json").read_text())["config"]["methods"])
    recs = [json.loads(ln) for ln in (run / "records.jsonl").read_text().splitlines() if ln.strip()]
    by_q: dict = {}
    for r in recs:
        by_q.setdefault(r["question"], set()).add(r["method"])
    return sum(1 for ms in by_q.values() if ms >= methods)


def test_every_mode_is_documented():
    assert set(ERRORS) | set(FLAGGED) | set(BACKEND_ONLY) | {"ok", "usage-mismatch"} == set(MODES)


def test_the_chat_api_streams_completes_and_continues_a_partial_assistant_turn(
    faults, problems, tmp_path
):
    """--api chat: /v1/chat/completions with the prompt as the user's message; a continuation (resume
    mode's rest of a trace, an answer probe) is a partial assistant message the server continues in
    place (continue_final_message, no generation prompt); the ledger counts the same tokens."""
    faults.fail_after("ok", 0)
    faults.httpd.chat_requests.clear()
    kw = {"base_url": faults.url("ok"), "model": "fault-model", "retries": 0, "progress": False}
    cfg = SolveConfig(n=4, max_tokens=20, methods=("cons@N", "deepprune"), trunc="probe:1", probe_every=4,
                      deterministic=True, cluster=ClusterConfig(K2=2, K3=2))  # fmt: skip
    chat = solve(problems, cfg, api="chat", **kw)
    plain = solve(problems, cfg, **kw)

    def key(res):
        return sorted(
            (r["question"], r["method"], r["tokens"], r["probe_calls"]) for r in res["records"]
        )

    assert key(chat) == key(plain) and all(
        r["correct"] for r in chat["records"] if r["method"] == "cons@N"
    )
    sent = faults.httpd.chat_requests
    assert all(
        b["messages"][0] == {"role": "user", "content": cfg.prompt.replace("{question}", "1+1?")}
        for b in sent
    )
    cont = [b for b in sent if len(b["messages"]) == 2]
    assert cont and all(b["messages"][1]["role"] == "assistant" and b["continue_final_message"] is True
                        and b["add_generation_prompt"] is False for b in cont)  # fmt: skip
    assert any(
        b["messages"][1]["content"].endswith(cfg.answer_cue) for b in cont
    )  # the answer probes
    with pytest.raises(ConfigError, match="--api must be completions or chat"):
        solve(problems, cfg, api="responses", **kw)
    # generate with logprobs through the chat API: top_logprobs rows read as confidences
    res = generate(
        problems,
        tmp_path / "chat.jsonl",
        GenerateConfig(n=2, max_tokens=20, logprobs=3),
        api="chat",
        **kw,
    )
    assert res["problems"] == 3
    assert all(
        t.confs and len(t.confs) == t.num_tokens
        for q in iter_pool(tmp_path / "chat.jsonl")
        for t in q.traces
    )


@pytest.mark.parametrize("run", ["solve", "generate"])
def test_max_tokens_past_the_servers_context_is_a_warning(problems, tmp_path, capsys, run):
    """A server that lists its context (vLLM's max_model_len) and a --max-tokens past it: warned."""
    with FaultServer(max_model_len=48) as fs:
        for max_tokens, warned in ((64, True), (32, False)):
            out = tmp_path / f"{run}{max_tokens}"
            if run == "solve":
                cfg = SolveConfig(n=2, methods=("cons@N",), max_tokens=max_tokens)
                solve(problems, cfg, out=out, progress=False, **_srv(fs, None))
            else:
                cfg = GenerateConfig(n=2, max_tokens=max_tokens)
                generate(problems, out.with_suffix(".jsonl"), cfg, progress=False, **_srv(fs, None))
            err = capsys.readouterr().err
            said = (
                f"warning: --max-tokens {max_tokens} is not below the server's context of 48 tokens"
            )
            assert (said in err) is warned, err


@pytest.mark.parametrize("retries", [0, 2])
def test_retries_is_how_often_a_failed_request_is_sent_again(retries):
    """An HTTP 500 is retried exactly ``retries`` times, then it is one line."""
    import asyncio

    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def go(url):
        b = OpenAIBackend(url, "fault-model", retries=retries, timeout=5.0)
        try:
            await b.complete(Request("q/0", "1+1?", 0, 8))
        finally:
            await b.close()

    with FaultServer() as fs:
        with pytest.raises(DeepPruneError, match="500|server"):
            asyncio.run(go(fs.url("http500")))
        assert fs.httpd.served == retries + 1


@pytest.mark.slow  # ~2 s: four clients streaming
def test_a_trace_stopped_early_is_aborted_by_its_id_where_the_server_takes_aborts():
    """SGLang: with ``abort_url`` each request carries our request id (``rid``), and a trace the
    consumer stops is aborted by it (``POST /abort_request``); a finished trace is not; without an
    ``abort_url`` nothing is sent; an abort URL that answers nothing is no error (closing the stream
    stops the trace too)."""
    import asyncio

    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def go(url, abort_url, stop_early):
        b = OpenAIBackend(url, "fault-model", retries=0, timeout=5.0, abort_url=abort_url)
        try:
            gen = b.stream(Request("q/7", "1+1?", 3, 12))
            async for _ in gen:
                if stop_early:
                    break
            await gen.aclose()
        finally:
            await b.close()

    with FaultServer() as fs:
        root = fs.url().removesuffix("/v1")
        asyncio.run(go(fs.url("ok"), root + "/abort_request", True))
        assert fs.httpd.rids == ["q/7"] and fs.httpd.aborted == ["q/7"]
        asyncio.run(go(fs.url("ok"), root + "/abort_request", False))  # finished: nothing to abort
        assert fs.httpd.rids == ["q/7", "q/7"] and fs.httpd.aborted == ["q/7"]
        asyncio.run(go(fs.url("ok"), None, True))  # no abort URL: no rid, no abort
        assert fs.httpd.rids == ["q/7", "q/7"] and fs.httpd.aborted == ["q/7"]
        asyncio.run(
            go(fs.url("ok"), f"http://127.0.0.1:{free_port()}/abort_request", True)
        )  # nobody there
        assert fs.httpd.aborted == ["q/7"]


@pytest.mark.slow  # ~4 s: four servers and clients (the fast suite stays under 2 minutes)
@pytest.mark.parametrize("routes", [("vllm",), ("llamacpp",), ("vllm", "llamacpp"), ()])
def test_prompt_tokens_are_counted_by_the_servers_own_tokenizer_route(routes):
    """The prompt (with its continuation) counted by vLLM's ``/tokenize``, else llama-cpp-python's
    ``/extras/tokenize/count``, with the key the completions use; remembered per text; None for
    the chat API or a conversation (the chat template decides), a server with neither route, or
    an answer that is no count."""
    import asyncio

    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    def count(fs, req, api="completions", key="k"):
        async def go():
            b = OpenAIBackend(
                fs.url("ok") + "/", "fault-model", api_key=key, retries=0, timeout=5.0, api=api
            )
            try:
                return [
                    await b.prompt_tokens(req),
                    await b.prompt_tokens(req),
                ]  # the second: remembered
            finally:
                await b.close()

        return asyncio.run(go())

    req = Request("q/0", "one two three", 0, 8, continuation=" four five")
    with FaultServer(api_key="k", tokenize=routes) as fs:
        want = 5 if routes else None
        assert count(fs, req) == [want, want]
        asked = [route for route, _ in fs.httpd.tokenized]
        first = "/tokenize" if "vllm" in routes else "/extras/tokenize/count"
        assert asked == ([first] if routes else [])  # once: the second count was remembered
        if routes:
            body = fs.httpd.tokenized[0][1]
            field = "prompt" if first == "/tokenize" else "input"
            assert body == {"model": "fault-model", field: "one two three four five"}
        fs.httpd.tokenized.clear()
        assert count(fs, req, api="chat") == [None, None]
        assert count(
            fs, Request("q/1", "x", 0, 8, messages=({"role": "user", "content": "x"},))
        ) == [None, None]
        assert fs.httpd.tokenized == []  # neither asks the server
        if not routes:
            return
        assert count(fs, Request("q/2", "a b", 0, 8), key="wrong") == [
            None,
            None,
        ]  # refused: no count
        assert count(fs, Request("q/3", "", 0, 8)) == [
            0,
            0,
        ]  # an empty prompt is 0 tokens, not unknown
        for reply in ({"count": True}, {"count": -1}, {"count": "3"}, {"tokens": [1]}, [3]):
            fs.httpd.tokenize_reply = reply
            assert count(fs, Request("q/4", f"a {reply}", 0, 8)) == [None, None], reply


def _one_line(fs, mode, call, want) -> str:
    """The error ``call`` fails with against ``mode``: it names the server and request q/1, then says ``want``."""
    from deepprune.errors import UpstreamRefused

    with pytest.raises(DeepPruneError) as e:
        call(fs.url(mode))
    said = f"{fs.url(mode)}: request q/1: {want}"
    # whole, but for a parser's message (an open parenthesis: its own words follow)
    assert str(e.value).startswith(said) if want.endswith("(") else str(e.value) == said, (
        mode,
        str(e.value),
    )
    # a key the server refuses (401, 403) is the client's to know: no retry helps
    assert getattr(e.value, "status", None) == (403 if mode == "http403" else None), mode
    assert isinstance(e.value, UpstreamRefused) == (mode == "http403"), mode
    return str(e.value)


STREAMED = {  # fault mode -> (finished, tokens, source, flags) of the trace, or its one-line error
    "ok": (True, 10, "usage", ()),
    "no-usage": (True, 10, "stream", ()),
    "no-choices": (True, 10, "usage", ()),
    "ignore-max-tokens": (False, 12, "stream", ("the server streamed past max_tokens=12; the client stopped it",)),
    "negative-usage": (True, 10, "stream", ("negative usage (-5)",)),
    "zero-usage": (True, 10, "stream", ("usage 0 for a non-empty text",)),
    "usage-above-max": (True, 10, "stream", ("usage 112 above max_tokens=12",)),
    "usage-mismatch": (True, 10, "stream", ("usage 5 but 10 tokens streamed",)),
    "usage-not-int": (True, 10, "stream", ("usage.completion_tokens is not an integer (7.5)",)),
    "usage-no-count": (True, 10, "stream", ("no usage reported",)),
    "usage-plus-one": (True, 11, "usage", ()),  # one more than streamed: plausible (not exact without logprobs)
    "cached-prefix": (True, 10, "usage", ()),
    "no-logprobs": (True, 10, "usage", ()),  # none asked
    "empty-token": (True, 11, "usage", ()),  # a token of no text: yielded, and counted
    "http500": "HTTP 500: Error code: 500 - injected failure",
    "http403": "HTTP 403: Error code: 403 - key lacks permission",
    "bad-text": "a malformed stream chunk (a chunk whose choice has no text)",
    "html200": "the stream ended without a finish reason (response cut)",
    "disconnect": "the stream ended without a finish reason (response cut)",
    "empty-choices": "a malformed stream chunk (a chunk with neither choices nor usage)",
    "cut-json": "a body or stream chunk that is not valid JSON (",
    "bad-sse": "a body or stream chunk that is not valid JSON (",
}  # fmt: skip


@pytest.mark.slow  # ~3 s: a client per fault mode
def test_each_fault_streamed_is_its_own_trace_or_its_own_line():
    """One streamed trace per fault mode, straight from the backend: what it yields (the text and
    tokens, the finish, where its count comes from, its flags) or the one line it fails with,
    naming the server and the request."""
    import asyncio

    from deepprune.dev.fault_text import tokens_for
    from deepprune.engine.backends import Finish, Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def go(url):
        b = OpenAIBackend(url, "fault-model", retries=0, timeout=5.0)
        try:
            return [x async for x in b.stream(Request("q/1", "1+1?", 0, 12))]
        finally:
            await b.close()

    assert set(STREAMED) == set(MODES) - {"stall"}
    with FaultServer() as fs:
        for mode, want in STREAMED.items():
            if isinstance(want, str):
                assert "\n" not in _one_line(fs, mode, lambda url: asyncio.run(go(url)), want)
                continue
            *deltas, fin = asyncio.run(go(fs.url(mode)))
            assert isinstance(fin, Finish) and not any(isinstance(d, Finish) for d in deltas)
            finished, tokens, source, flags = want
            assert (fin.finished, fin.completion_tokens, fin.usage_source, fin.flags) == want, mode
            assert fin.prompt_tokens == (10 if source == "usage" else None), mode
            assert fin.cached_tokens == (6 if mode == "cached-prefix" else None), mode
            seen = tokens - (
                mode == "usage-plus-one"
            )  # what was streamed; the Finish says the count
            assert sum(d.tokens for d in deltas) == seen, mode
            assert [d.tokens for d in deltas if not d.text] == (
                [1] if mode == "empty-token" else []
            ), mode
            if finished:
                assert "".join(d.text for d in deltas) == "".join(tokens_for("1+1?", 0)), mode


COMPLETED = {  # fault mode -> (tokens, finished, source, flags) of a non-streamed completion, or its error
    "ok": (10, True, "usage", ()),
    "usage-mismatch": (5, True, "usage", ()),  # nothing streamed to compare with: the server's count
    "negative-usage": (1, True, "usage-clamped", ("negative usage (-5)",)),
    "zero-usage": (1, True, "usage-clamped", ("usage 0 for a non-empty text",)),
    "usage-above-max": (12, True, "usage-clamped", ("usage 112 above max_tokens=12",)),
    "ignore-max-tokens": (12, False, "usage-clamped", ("usage 62 above max_tokens=12",)),
    "usage-not-int": (1, True, "usage-clamped", ("usage.completion_tokens is not an integer (7.5)",)),
    "usage-plus-one": (11, True, "usage", ()),
    "cached-prefix": (10, True, "usage", ()),
    "no-logprobs": (10, True, "usage", ()),
    "empty-token": (11, True, "usage", ()),
    "http500": "HTTP 500: Error code: 500 - injected failure",
    "http403": "HTTP 403: Error code: 403 - key lacks permission",
    "bad-text": "a completion choice without text",
    "usage-no-count": "a completion without usage: its tokens cannot be counted",
    "html200": "an HTML or text page instead of a completion",
    "no-usage": "a completion without usage: its tokens cannot be counted",
    "empty-choices": "a response with no choices instead of a completion",
    "no-choices": "a response with no choices instead of a completion",
    "cut-json": "the response was cut (the server closed the connection mid-response)",
    "disconnect": "the response was cut (the server closed the connection mid-response)",
    "bad-sse": "a body or stream chunk that is not valid JSON (",
}  # fmt: skip


@pytest.mark.slow  # ~3 s: a client per fault mode and API
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_each_fault_completed_is_its_own_completion_or_its_own_line(api):
    """One non-streamed completion (what probes and the proxy's passthrough use) per fault mode,
    through either API: the text, the count (clamped into what is possible, and flagged, where
    the server's is not), the finish and the stop that ended it, or the one line it fails with."""
    import asyncio

    from deepprune.dev.fault_text import tokens_for
    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def go(url):
        b = OpenAIBackend(url, "fault-model", retries=0, timeout=5.0, api=api)
        try:
            return await b.complete(Request("q/1", "1+1?", 0, 12))
        finally:
            await b.close()

    assert set(COMPLETED) == set(MODES) - {"stall"}
    with FaultServer() as fs:
        for mode, want in COMPLETED.items():
            if isinstance(want, str):
                _one_line(fs, mode, lambda url: asyncio.run(go(url)), want)
                continue
            text, fin = asyncio.run(go(fs.url(mode)))
            assert (fin.completion_tokens, fin.finished, fin.usage_source, fin.flags) == want, mode
            assert (fin.prompt_tokens, fin.stopped_by) == (10, "eos"), mode
            assert fin.cached_tokens == (6 if mode == "cached-prefix" else None), mode
            if want[1]:
                assert text == "".join(tokens_for("1+1?", 0)), mode


@pytest.mark.slow  # ~2 s: three servers
def test_the_backend_checks_the_model_and_sums_the_servers_counters():
    """``check``: the model must be served (else one line listing what is), a refused key is
    :class:`UpstreamRefused` with its status; ``generated_counter``: the servers' generated-token
    counters summed over every metrics URL, None where any is missing or unreachable."""
    import asyncio

    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend
    from deepprune.errors import UpstreamRefused

    def run(url, coro, **kw):
        async def go():
            b = OpenAIBackend(url, kw.pop("model", "fault-model"), retries=0, timeout=5.0, **kw)
            try:
                return await coro(b)
            finally:
                await b.close()

        return asyncio.run(go())

    async def two(b):
        await b.complete(Request("q/0", "1+1?", 0, 8))
        return await b.generated_counter()

    with FaultServer(api_key="k") as a, FaultServer() as b:
        run(a.url("ok"), lambda x: x.check(), api_key="k")  # served: no error
        with pytest.raises(DeepPruneError) as e:
            run(a.url("ok"), lambda x: x.check(), api_key="k", model="other")
        assert str(e.value) == f"{a.url('ok')}: unknown model 'other'; served: fault-model"
        with pytest.raises(UpstreamRefused) as e:
            run(a.url("ok"), lambda x: x.check(), api_key="wrong")
        assert (
            e.value.status == 401
            and str(e.value) == f"{a.url('ok')}: the server refused /models (401)"
        )
        root = lambda s: s.url().removesuffix("/v1")  # noqa: E731
        assert run(a.url(), two, api_key="k") == (
            "llamacpp:tokens_predicted_total",
            8.0,
        )  # ROOT/metrics
        both = (root(a) + "/metrics", root(b) + "/metrics")
        run(b.url("ok"), lambda x: x.complete(Request("q/1", "1+1?", 0, 8)))
        assert run(a.url("ok"), two, api_key="k", metrics_url=both) == (
            "llamacpp:tokens_predicted_total",
            24.0,
        )
        missing = (root(a) + "/metrics", root(b) + "/nothing-here")
        assert run(a.url("ok"), lambda x: x.generated_counter(), metrics_url=missing) is None
        gone = (root(a) + "/metrics", f"http://127.0.0.1:{free_port()}/metrics")
        assert run(a.url("ok"), lambda x: x.generated_counter(), metrics_url=gone) is None


@pytest.mark.slow  # ~6 s: twelve servers (the fast suite stays under 2 minutes)
@pytest.mark.parametrize("route", ["models", "health"])
def test_the_servers_context_is_read_where_it_says_it_and_only_a_count(route):
    """The context length: vLLM's ``max_model_len`` in ``/models``, else ``deepprune serve``'s in
    ``/health``; a value that is no positive integer, or none said, is unknown (None), never an error."""
    import asyncio

    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def context(url):
        b = OpenAIBackend(url, "fault-model", retries=0, timeout=5.0)
        try:
            await b.check()
            return b.context
        finally:
            await b.close()

    for said, want in (
        (48, 48),
        (1, 1),
        (None, None),
        (0, None),
        (-3, None),
        (True, None),
        ("48", None),
    ):
        with FaultServer(max_model_len=said, context_route=route) as fs:
            assert asyncio.run(context(fs.url())) == want, (route, said)
    if route == "health":  # the context in a /health that is not 200: not read
        with FaultServer(max_model_len=48, context_route=route) as fs:
            fs.status["/health"] = 503
            assert asyncio.run(context(fs.url())) is None


def _completion(url, req, **kw):
    """What the backend completes (not streamed) for ``req`` from ``url``: (text, Finish)."""
    import asyncio

    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def go():
        b = OpenAIBackend(url, "fault-model", retries=0, timeout=5.0, **kw)
        try:
            return await b.complete(req)
        finally:
            await b.close()

    return asyncio.run(go())


def _trace(url, req, **kw):
    """What the backend streams for ``req`` from ``url``: its deltas, then its Finish."""
    import asyncio

    from deepprune.engine.backends.openai_compat import OpenAIBackend

    async def go():
        b = OpenAIBackend(url, "fault-model", retries=0, timeout=5.0, **kw)
        try:
            return [x async for x in b.stream(req)]
        finally:
            await b.close()

    return asyncio.run(go())


@pytest.mark.slow  # ~2 s: a client per mode and API
@pytest.mark.parametrize("api", ["completions", "chat"])
def test_log_probabilities_streamed_make_the_count_exact_and_their_absence_an_error(api):
    """Asked for top-2 log-probabilities: a row per token, and the server's count must equal the
    rows (one more than streamed is flagged and the rows counted, where without log-probabilities
    it is plausible); a token streamed without its row, of text or not, is one line."""
    from deepprune.engine.backends import Request

    req = Request("q/1", "1+1?", 0, 12, logprobs=2)
    with FaultServer() as fs:
        *deltas, fin = _trace(fs.url("ok"), req, api=api)
        assert [len(r) for d in deltas for r in d.top_logprobs] == [2] * 10
        assert all(d.tokens == len(d.top_logprobs) == 1 for d in deltas)
        assert (fin.completion_tokens, fin.usage_source, fin.flags) == (10, "usage", ())
        *_, fin = _trace(fs.url("usage-plus-one"), req, api=api)
        assert (fin.completion_tokens, fin.usage_source, fin.flags) == (
            10,
            "stream",
            ("usage 11 but 10 tokens streamed",),
        )
        for mode in (
            "no-logprobs",
            "empty-token",
        ):  # a text token without a row; a token of no text without one
            _one_line(
                fs,
                mode,
                lambda url: _trace(url, req, api=api),
                "the server returned no logprobs although logprobs=2 was asked",
            )


@pytest.mark.slow  # ~1 s
def test_an_empty_completion_is_no_token_and_a_bad_count_of_it_is_clamped_to_none():
    """A stop string met by the first token: no text. A server's count of 0 is then plausible
    (streamed: taken, not flagged); completed, an implausible count (negative, not an integer) is
    clamped to 0 tokens (no text, no token to count) and flagged."""

    from deepprune.engine.backends import Request

    req = Request("q/1", "1+1?", 0, 12, stop=(" so",))
    with FaultServer() as fs:
        *deltas, fin = _trace(fs.url("zero-usage"), req)
        assert "".join(d.text for d in deltas) == ""
        assert (fin.finished, fin.completion_tokens, fin.usage_source, fin.flags) == (
            True,
            0,
            "usage",
            (),
        )

        for mode, flag in (("negative-usage", "negative usage (-5)"),
                           ("usage-not-int", "usage.completion_tokens is not an integer (7.5)")):  # fmt: skip
            text, fin = _completion(fs.url(mode), req)
            assert (text, fin.completion_tokens, fin.usage_source, fin.flags) == (
                "",
                0,
                "usage-clamped",
                (flag,),
            ), mode


@pytest.mark.slow  # ~1 s
def test_a_trace_cut_at_max_tokens_is_unfinished_whichever_count_it_takes():
    """Cut at max_tokens=6 (finish "length"): unfinished, counted by the server where its usage is
    plausible, by the client where there is none or it is implausible; the same completed."""

    from deepprune.engine.backends import Request

    req = Request("q/1", "1+1?", 0, 6)
    with FaultServer() as fs:
        for mode, source, flags in (("ok", "usage", ()), ("no-usage", "stream", ()),
                                    ("usage-mismatch", "stream", ("usage 3 but 6 tokens streamed",))):  # fmt: skip
            *deltas, fin = _trace(fs.url(mode), req)
            assert (fin.finished, fin.completion_tokens, fin.usage_source, fin.flags) == (
                False,
                6,
                source,
                flags,
            ), mode

        for mode, n, source in (("ok", 6, "usage"), ("negative-usage", 1, "usage-clamped")):
            _, fin = _completion(fs.url(mode), req)
            assert (fin.finished, fin.completion_tokens, fin.usage_source) == (False, n, source), (
                mode
            )


@pytest.mark.slow  # ~3 s: a slow route waits out the auxiliary timeout
def test_the_backend_says_why_models_failed_and_waits_little_on_an_auxiliary_route():
    """``check``: a key refused (401, 403) is :class:`UpstreamRefused`; any other status, a timeout
    or an unknown model is one line naming the server (and, for a model, every one served). The
    auxiliary calls (a prompt count, the context, the counters) wait at most the request timeout
    (and 10 s) and read only a 200 answer."""
    import asyncio

    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend
    from deepprune.errors import UpstreamRefused

    def run(url, coro, model="fault-model", timeout=5.0):
        async def go():
            b = OpenAIBackend(url, model, retries=0, timeout=timeout)
            try:
                return await coro(b)
            finally:
                await b.close()

        return asyncio.run(go())

    check = lambda b: b.check()  # noqa: E731
    with FaultServer(tokenize=("vllm",)) as fs:
        url = fs.url("ok")
        for status in (401, 403, 404, 500):
            fs.status["/v1/models"] = status
            with pytest.raises(DeepPruneError) as e:
                run(url, check)
            assert str(e.value) == f"{url}: the server refused /models ({status})"
            assert isinstance(e.value, UpstreamRefused) == (status < 404), status
        fs.status.clear()
        fs.more_models[:] = ["other-model", "third"]
        with pytest.raises(DeepPruneError) as e:
            run(url, check, model="x")
        assert str(e.value) == f"{url}: unknown model 'x'; served: fault-model, other-model, third"
        fs.delay["/v1/models"] = 2.0
        with pytest.raises(DeepPruneError) as e:
            run(url, check, timeout=0.3)
        assert str(e.value) == f"{url}: /models: timed out: no answer for 0.3 s (--timeout)"
        fs.delay.clear()
        fs.delay["/tokenize"] = 1.5  # slower than the request timeout: no count, not a wait
        req = Request("q/1", "one two three", 0, 8)
        assert run(url, lambda b: b.prompt_tokens(req), timeout=0.3) is None
        assert run(url, lambda b: b.prompt_tokens(req)) == 3  # within it: the count
        fs.delay.clear()
        counter = lambda b: b.generated_counter()  # noqa: E731 - ROOT/metrics: the base URL without a mode
        assert run(fs.url(), counter) == ("llamacpp:tokens_predicted_total", 0.0)
        fs.status["/metrics"] = 500  # the counter's text, with a status that disowns it
        assert run(fs.url(), counter) is None
        fs.status["/tokenize"] = 500
        assert run(url, lambda b: b.prompt_tokens(Request("q/2", "a b", 0, 8))) is None


@pytest.mark.slow  # ~1 s
def test_a_chat_continuation_keeps_its_extras_beside_the_backends_and_the_request_id():
    """The chat API's continuation asks the server to continue the assistant's message
    (``continue_final_message``); the backend's own extra body and SGLang's ``rid`` (with an abort
    URL) are sent beside it, none replacing another."""
    from deepprune.engine.backends import Request

    with FaultServer() as fs:
        abort = fs.url().removesuffix("/v1") + "/abort_request"
        req = Request("q/1", "1+1?", 0, 12, continuation=" so we")
        _trace(fs.url("ok"), req, api="chat", extra_body={"top_k": 5}, abort_url=abort)
        (body,) = fs.httpd.chat_requests
        assert {k: body.get(k) for k in ("continue_final_message", "add_generation_prompt", "top_k", "rid")} == {
            "continue_final_message": True, "add_generation_prompt": False, "top_k": 5, "rid": "q/1"}  # fmt: skip
        assert body["messages"][-1] == {"role": "assistant", "content": " so we"}

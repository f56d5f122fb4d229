"""Backends without a server: request building and output reading (openai, vllm), and the replay backend."""

import asyncio
import json
from types import SimpleNamespace as NS

import pytest

from deepprune.cli import main
from deepprune.confidence import token_confidence
from deepprune.engine.backends import Finish, Request, Server, get_backend
from deepprune.engine.backends.openai_compat import (
    as_completion,
    chat_kwargs,
    completion_kwargs,
    read_chunk,
)
from deepprune.engine.backends.vllm_engine import read_output, sampling_kwargs
from deepprune.engine.problems import RecordFile
from deepprune.errors import ConfigError
from deepprune.pools import read_pool
from tests.conftest import DEMO_POOL, write_jsonl

REQ = Request(
    "q1/3",
    "Q: 1+1?\nA:",
    seed=7,
    max_tokens=32,
    temperature=0.6,
    top_p=0.9,
    logprobs=5,
    stop=("\nQ:",),
)


def test_openai_request_is_one_seeded_streamed_trace():
    kw = completion_kwargs(REQ, "m")
    assert kw["n"] == 1 and kw["seed"] == 7 and kw["stream"] and kw["logprobs"] == 5
    assert kw["stop"] == ["\nQ:"] and kw["stream_options"] == {"include_usage": True}
    assert "logprobs" not in completion_kwargs(Request("r", "p", 0, 4), "m")


def test_openai_chunks_give_text_tokens_and_top_logprobs():
    lp = NS(top_logprobs=[{"a": -0.1, "b": -2.0, "c": -3.0}])
    d, fin, usage = read_chunk(
        NS(choices=[NS(text="a", logprobs=lp, finish_reason=None)], usage=None), 2
    )
    assert (d.text, d.tokens, d.top_logprobs, fin) == ("a", 1, [[-0.1, -2.0]], None)
    d, fin, _ = read_chunk(
        NS(choices=[NS(text="", logprobs=None, finish_reason="length")], usage=None), 0
    )
    assert d.tokens == 0 and fin == "length"  # llama.cpp's closing chunk carries no token
    u = NS(completion_tokens=9, prompt_tokens=4)
    assert read_chunk(NS(choices=[], usage=u), 0) == (None, None, u)  # vLLM's usage chunk


def test_vllm_request_and_delta_outputs_without_vllm():
    kw = sampling_kwargs(REQ)
    assert kw == {"n": 1, "seed": 7, "max_tokens": 32, "temperature": 0.6, "top_p": 0.9, "logprobs": 5,
                  "stop": ["\nQ:"]}  # fmt: skip
    out = NS(prompt_token_ids=[1, 2, 3], outputs=[NS(text=" two", token_ids=[11, 12], finish_reason=None,
             logprobs=[{11: NS(logprob=-0.2), 5: NS(logprob=-1.0)}, {12: NS(logprob=-0.5)}])])  # fmt: skip
    d, fin, prompt = read_output(out, 5)
    assert (
        d.text == " two"
        and d.tokens == 2
        and d.top_logprobs == [[-0.2, -1.0], [-0.5]]
        and prompt == 3
    )
    assert token_confidence(d.top_logprobs[0]) == pytest.approx(0.6)


def test_chat_request_by_hand():
    """The chat arguments of one trace: the prompt as the user's message, top log-probabilities
    asked the chat way (``logprobs`` on, ``top_logprobs`` K), usage in the stream; a continuation
    a partial assistant message continued in place."""
    kw = chat_kwargs(REQ, "m")
    assert kw == {"model": "m", "messages": [{"role": "user", "content": REQ.prompt}], "max_tokens": 32, "n": 1,
                  "seed": 7, "temperature": 0.6, "top_p": 0.9, "stream": True, "stop": ["\nQ:"], "logprobs": True,
                  "top_logprobs": 5, "stream_options": {"include_usage": True}}  # fmt: skip
    plain = chat_kwargs(Request("r", "p", 0, 4), "m", stream=False)
    assert "logprobs" not in plain and "top_logprobs" not in plain and "stream_options" not in plain
    assert "stop" not in plain and "extra_body" not in plain and plain["stream"] is False
    cont = chat_kwargs(Request("r", "p", 0, 4, continuation="so far"), "m")
    assert cont["messages"] == [
        {"role": "user", "content": "p"},
        {"role": "assistant", "content": "so far"},
    ]
    assert cont["extra_body"] == {"continue_final_message": True, "add_generation_prompt": False}


def test_chat_chunks_read_as_completion_chunks_by_hand():
    """A chat chunk's choices read as completions choices: the delta's (or message's) content as
    text, finish reason and the server's extras kept, top log-probabilities per token as a dict
    per position; the opening role-only delta is no choice; a choice lacking any of these fields
    reads as None, never an error."""
    row = NS(top_logprobs=[NS(token="a", logprob=-0.1), NS(token="b", logprob=-2.0)])
    ch = NS(delta=NS(content="a"), finish_reason=None, model_extra={"stop_reason": None},
            logprobs=NS(content=[row, NS(top_logprobs=None)]))  # fmt: skip
    got = as_completion(NS(choices=[ch], usage="U"))
    (c,) = got.choices
    assert (c.text, c.finish_reason, c.model_extra, got.usage, got.role_only) == ("a", None, {"stop_reason": None},
                                                                                 "U", False)  # fmt: skip
    assert c.logprobs.top_logprobs == [{"a": -0.1, "b": -2.0}, {}]
    d, fin, _ = read_chunk(got, 1)
    assert (d.text, d.tokens, d.top_logprobs, fin) == ("a", 1, [[-0.1]], None)
    # bare choices: no finish_reason, model_extra, logprobs or usage attribute; a message, not a delta
    bare = as_completion(NS(choices=[NS(message=NS(content="whole"))]))
    (c,) = bare.choices
    assert (c.text, c.finish_reason, c.model_extra, c.logprobs, bare.usage) == (
        "whole",
        None,
        None,
        None,
        None,
    )
    no_content = as_completion(NS(choices=[NS(delta=NS(), finish_reason="length")]))
    assert no_content.choices[0].text is None and no_content.choices[0].finish_reason == "length"
    opening = as_completion(NS(choices=[NS(delta=NS(role="assistant"))], usage=None))
    assert opening.choices == [] and opening.role_only is True
    assert read_chunk(opening, 0) == (None, None, None)
    closing = as_completion(
        NS(choices=[NS(delta=NS(content=None), finish_reason="stop")], usage=None)
    )
    assert closing.role_only is False and closing.choices[0].finish_reason == "stop"
    usage_only = NS(choices=[], usage="U")
    assert as_completion(usage_only) is usage_only  # nothing to read


def test_a_chunk_lacking_a_field_reads_as_none_and_a_count_is_its_rows_by_hand():
    """The openai client's objects may lack any field a server left out: a chunk without choices or
    usage, a choice with neither delta nor message, logprobs or their rows, or the server's extras
    read as None; a chunk's tokens are its log-probability rows where it has them, else one per
    chunk (none for a closing chunk of no text); a choice whose text is no string is refused."""
    from deepprune.engine.backends.base import Delta
    from deepprune.engine.backends.openai_compat import stopped_by

    no_choices = NS(usage="U")
    assert as_completion(no_choices) is no_choices and read_chunk(no_choices, 0) == (
        None,
        None,
        "U",
    )
    (c,) = as_completion(NS(choices=[NS(finish_reason="stop")])).choices  # no delta, no message
    assert (c.text, c.finish_reason) == (None, "stop")
    assert stopped_by(NS()) is None and stopped_by(NS(model_extra=None)) is None
    text = lambda t, fin=None, **kw: NS(choices=[NS(text=t, finish_reason=fin, **kw)])  # noqa: E731 - no usage field
    assert read_chunk(text("a"), 2) == (Delta("a", 1, None), None, None)  # no logprobs field
    assert read_chunk(text("a", logprobs=NS()), 2) == (
        Delta("a", 1, None),
        None,
        None,
    )  # no rows field
    two = NS(top_logprobs=[{"a": -0.1, "x": -0.5}, {"b": -0.2}])  # a chunk of two tokens
    assert read_chunk(text("ab", logprobs=two), 1) == (Delta("ab", 2, [[-0.1], [-0.2]]), None, None)
    assert read_chunk(text("a", "stop"), 0)[0].tokens == 1  # the last token, with the finish
    assert read_chunk(text(""), 0)[0].tokens == 1  # a token that decodes to nothing yet
    assert read_chunk(text("", "stop"), 0)[0].tokens == 0  # a closing chunk: no token
    with pytest.raises(ValueError) as e:
        read_chunk(text(7), 0)
    assert str(e.value) == "a chunk whose choice has no text"


def test_the_openai_backends_defaults_and_its_servers_root(monkeypatch):
    """Built with no options: the key vLLM accepts when it has none ("EMPTY"), 600 s, two
    retries, the completions API; the server's own routes (metrics, tokenize, health) hang off the
    base URL without its /v1, a trailing slash or not; without the openai package, one line saying
    which extra to install."""
    import sys

    from deepprune.engine.backends.openai_compat import OpenAIBackend

    b = OpenAIBackend("http://h:1/v1/", "m")
    assert (b.client.api_key, b.timeout, b.client.timeout, b.client.max_retries, b.api) == (
        "EMPTY", 600.0, 600.0, 2, "completions")  # fmt: skip
    assert (b.root, b.metrics_urls) == ("http://h:1", ("http://h:1/metrics",))
    assert OpenAIBackend("http://h:1/api/v1", "m").root == "http://h:1/api"
    assert OpenAIBackend("http://h:1/apiX/", "m").root == "http://h:1/apiX"  # slashes alone go
    monkeypatch.setitem(sys.modules, "openai", None)  # an import of it fails, as without the extra
    with pytest.raises(ConfigError) as e:
        OpenAIBackend("http://h:1/v1", "m")
    assert str(e.value) == "the openai backend needs the serve extra: pip install -e '.[serve]'"


def test_generated_token_counters_with_timestamps_and_tabs_or_no_number_by_hand():
    """Prometheus lets a sample carry a timestamp after its value and separate them by tabs: the
    value is the first field after the name and labels; a sample that is no number gives no count."""
    from deepprune.engine.backends.openai_compat import parse_generated_counter

    assert parse_generated_counter("llamacpp:tokens_predicted_total 7 1700000000000") == (
        "llamacpp:tokens_predicted_total", 7.0)  # fmt: skip
    assert parse_generated_counter('vllm:generation_tokens_total{a="}"}\t5\t17') == (
        "vllm:generation_tokens_total", 5.0)  # fmt: skip
    assert parse_generated_counter("llamacpp:tokens_predicted_total\t3  ") == (
        "llamacpp:tokens_predicted_total",
        3.0,
    )
    for bad in (
        "llamacpp:tokens_predicted_total x",
        "llamacpp:tokens_predicted_total ",
        "vllm:generation_tokens_total{a=1}",
    ):
        assert parse_generated_counter(f"{bad}\nllamacpp:tokens_predicted_total 2") is None, bad


def test_vllm_outputs_by_hand_without_log_probabilities_or_prompt_ids():
    """``read_output`` reads top log-probabilities only when asked (K > 0) and the engine gave them,
    and the prompt's length only where the output carries its token ids."""
    comp = NS(text="x", token_ids=[1], finish_reason="stop", logprobs=[{1: NS(logprob=-0.3)}])
    d, fin, prompt = read_output(
        NS(outputs=[comp]), 0
    )  # not asked: none, though the engine gave some
    assert (d.text, d.tokens, d.top_logprobs, fin, prompt) == ("x", 1, None, "stop", None)
    d, _, prompt = read_output(NS(outputs=[NS(text="", token_ids=[], finish_reason=None, logprobs=None)],
                                  prompt_token_ids=None), 3)  # fmt: skip
    assert d.top_logprobs is None and d.tokens == 0 and prompt is None


def test_the_server_settings_give_each_backend_its_own_arguments():
    """``Server.args``: what every backend takes, and the OpenAI client's own (metrics URLs, key,
    timeout, retries, API) only for ``openai``; problems are required except on replay."""
    s = Server(problems="p.jsonl", base_url="http://h/v1", model="m", rate=5.0, abort_url="http://h/abort",
               limit=3, metrics_url=("http://h/metrics",), api_key="k", api="chat", timeout=9.0, retries=1)  # fmt: skip
    common = {"backend": "openai", "base_url": "http://h/v1", "model": "m", "pool": None, "rate": 5.0,
              "abort_url": "http://h/abort", "limit": 3}  # fmt: skip
    assert s.args() == {**common, "metrics_url": ("http://h/metrics",), "api_key": "k", "timeout": 9.0,
                        "retries": 1, "api": "chat"}  # fmt: skip
    s.backend = "vllm"
    assert s.args() == {**common, "backend": "vllm"}
    assert Server(backend="replay", pool="x.jsonl").args() == {
        "backend": "replay", "base_url": None, "model": None, "pool": "x.jsonl", "rate": 0.0, "abort_url": None,
        "limit": 0}  # fmt: skip
    with pytest.raises(ConfigError) as e:
        Server(base_url="http://h/v1").args()
    assert str(e.value) == "--problems is required (except with --backend replay)"


def test_the_server_settings_refuse_what_cannot_run_by_hand():
    """Each bad setting is one line naming the flag and the value; the edges are allowed (a timeout
    under a second, no retries, the chat API)."""
    assert Server(api="chat", timeout=0.5, retries=0, limit=0).api == "chat"
    for kw, says in [
        ({"backend": "tgi"}, "unknown backend 'tgi'; known: openai, vllm, replay"),
        ({"api": "responses"}, "--api must be completions or chat, got 'responses'"),
        ({"limit": -1}, "--limit must be >= 0, got -1"),
        ({"timeout": 0}, "--timeout must be > 0 and --retries >= 0, got 0, 2"),
        ({"retries": -1}, "--timeout must be > 0 and --retries >= 0, got 600.0, -1"),
    ]:
        with pytest.raises(ConfigError) as e:
            Server(**kw)
        assert str(e.value) == says


def test_generated_token_counters_read_from_prometheus_text_by_hand():
    """The first known counter's samples summed over label sets; a longer name sharing the prefix,
    comments and unknown counters ignored; None where no known counter is listed."""
    from deepprune.engine.backends.openai_compat import parse_generated_counter

    text = "\n".join([
        "# HELP vllm:generation_tokens_total Number of generation tokens.",
        'vllm:generation_tokens_total{model_name="a",engine="0"} 120.0',
        'vllm:generation_tokens_total{model_name="b",engine="1"} 30',
        "vllm:generation_tokens_total_created 1.7e9",  # a longer name: not this counter
        "llamacpp:tokens_predicted_total 999",  # a later name in the list: the first found wins
    ])  # fmt: skip
    assert parse_generated_counter(text) == ("vllm:generation_tokens_total", 150.0)
    assert parse_generated_counter("llamacpp:tokens_predicted_total 7\nother 3") == (
        "llamacpp:tokens_predicted_total", 7.0)  # fmt: skip
    assert parse_generated_counter('sglang:generation_tokens_total{a="x y"} 4') == (
        "sglang:generation_tokens_total",
        4.0,
    )  # a label value with a space: the value is the last field
    assert parse_generated_counter("other_total 5\n# llamacpp:tokens_predicted_total 5") is None


def test_the_proxys_prefix_cut_in_tokens_by_hand():
    """Where a request's DeepPrune prefix ends, in generated tokens: K for tokens:K, J x the probe
    interval for probe:J, None for words:K (not a token count); a trunc that is no string is refused."""
    from deepprune.proxy.core import _cut

    assert (_cut("tokens:300", 500), _cut("probe:3", 200), _cut("words:25", 200)) == (
        300,
        600,
        None,
    )
    with pytest.raises(ConfigError) as e:
        _cut(3, 200)
    assert str(e.value) == "trunc must be a string, got 3"


def test_get_backend_passes_each_backend_its_settings(monkeypatch):
    """By name, with the settings given and the documented defaults where none is: the replay
    speed (as fast as possible), and for the OpenAI client the key ($OPENAI_API_KEY, else none),
    timeout, retries, API and metrics URLs (default: /metrics beside the base URL)."""
    assert get_backend("replay", pool=str(DEMO_POOL)).rate == 0.0
    assert get_backend("replay", pool=str(DEMO_POOL), rate=5.0).rate == 5.0
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    b = get_backend("openai", base_url="http://h:1/v1", model="m")
    assert (b.base_url, b.model, b.timeout, b.api, b.abort_url, b.extra_body) == ("http://h:1/v1", "m", 600.0,
                                                                                  "completions", None, None)  # fmt: skip
    assert (
        b.client.api_key == "EMPTY"
        and b.client.max_retries == 2
        and b.metrics_urls == ("http://h:1/metrics",)
    )
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    b = get_backend("openai", base_url="http://h:1/v1", model="m", timeout=9.0, retries=0, api="chat",
                    abort_url="http://h:1/abort_request", metrics_url=["http://r1/metrics", "http://r2/metrics"],
                    extra_body={"top_k": 5})  # fmt: skip
    assert (b.timeout, b.api, b.abort_url, b.extra_body, b.client.max_retries) == (
        9.0, "chat", "http://h:1/abort_request", {"top_k": 5}, 0)  # fmt: skip
    assert b.client.api_key == "from-env" and b.metrics_urls == (
        "http://r1/metrics",
        "http://r2/metrics",
    )
    assert (
        get_backend("openai", base_url="http://h:1/v1", model="m", api_key="given").client.api_key
        == "given"
    )
    with pytest.raises(ConfigError) as e:
        get_backend("openai", model="m")
    assert str(e.value) == "backend 'openai' needs --base-url"
    with pytest.raises(ConfigError) as e:
        get_backend("openai")
    assert str(e.value) == "backend 'openai' needs --base-url, --model"
    with pytest.raises(ConfigError) as e:
        get_backend("tgi")
    assert str(e.value) == "unknown backend 'tgi'; known: openai, vllm, replay"
    with pytest.raises(ConfigError) as e:
        get_backend("vllm")
    assert str(e.value) == "backend 'vllm' needs --model"
    with pytest.raises(ConfigError) as e:
        get_backend("replay", pool="")
    assert str(e.value) == "backend 'replay' needs --pool"


def test_a_prompt_template_inline_or_from_a_file(tmp_path):
    from deepprune.engine.backends import read_prompt
    from deepprune.errors import MissingInputError

    assert read_prompt("Q: {question}\nA:") == "Q: {question}\nA:"
    (tmp_path / "p.txt").write_text("Solve: {question} é", encoding="utf-8")
    assert read_prompt(f"@{tmp_path / 'p.txt'}") == "Solve: {question} é"
    for missing in (tmp_path / "none.txt", tmp_path):  # no file, or a directory
        with pytest.raises(MissingInputError) as e:
            read_prompt(f"@{missing}")
        assert str(e.value) == f"{missing}: no such prompt file"


def test_unknown_backend_and_missing_arguments_are_one_line_errors():
    with pytest.raises(ConfigError, match="unknown backend"):
        get_backend("tgi")
    with pytest.raises(ConfigError, match="--base-url"):
        get_backend("openai", model="m")


def test_replay_backend_streams_a_trace_in_token_order():
    b = get_backend("replay", pool=str(DEMO_POOL))
    q = read_pool(DEMO_POOL)[0]

    async def collect(max_tokens):
        return [
            x
            async for x in b.stream(
                Request("r", "", 0, max_tokens, meta={"question": q.id, "index": 2})
            )
        ]

    items = asyncio.run(collect(10**6))
    assert "".join(x.text for x in items[:-1]) == q.traces[2].text
    assert isinstance(items[-1], Finish) and items[-1].completion_tokens == q.traces[2].num_tokens
    cut = asyncio.run(collect(5))
    assert len(cut) == 6 and cut[-1].completion_tokens == 5 and not cut[-1].finished


def test_generate_with_the_replay_backend_reproduces_the_pool(tmp_path):
    out = tmp_path / "again.jsonl"
    assert main(["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "32", "--out", str(out),
                 "--no-progress", "--json"]) == 0  # fmt: skip
    a, b = read_pool(DEMO_POOL), read_pool(out)
    assert [q.id for q in a] == [q.id for q in b]
    for qa, qb in zip(a, b):
        assert [t.text for t in qa.traces] == [t.text for t in qb.traces]
        assert [t.num_tokens for t in qa.traces] == [t.num_tokens for t in qb.traces]
        assert [t.answer for t in qa.traces] == [t.answer for t in qb.traces]


def test_generate_resumes_and_rejects_bad_problem_files(tmp_path, capsys):
    probs = write_jsonl(tmp_path / "p.jsonl", [{"id": "x", "question": "?"}, {"id": 3}])
    out = tmp_path / "pool.jsonl"
    rc = main(["generate", "--problems", str(probs), "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
               "--out", str(out)])  # fmt: skip
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and f"{probs}:2:" in err and not out.exists()
    # a killed run left one finished problem in OUT.partial: only the other one is generated
    pool = tmp_path / "two.jsonl"
    assert main(["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "4", "--out", str(pool),
                 "--no-progress"]) == 0  # fmt: skip
    lines = pool.read_text().splitlines()
    partial = tmp_path / "again.jsonl.partial"
    partial.write_text(
        lines[0] + "\n" + lines[1][: len(lines[1]) // 2]
    )  # the second line was torn by the kill
    capsys.readouterr()
    assert main(["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "4",
                 "--out", str(tmp_path / "again.jsonl"), "--no-progress", "--json"]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    assert res["generated_problems"] == len(lines) - 1 and not partial.exists()
    assert (tmp_path / "again.jsonl").read_text() == pool.read_text()


def test_a_torn_tail_is_set_aside_and_said_never_blocks_or_swallows(tmp_path, capsys):
    pool = tmp_path / "pool.jsonl"
    assert main(["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "4", "--out", str(pool),
                 "--no-progress"]) == 0  # fmt: skip
    line = pool.read_text().splitlines()[0]
    # a .partial whose only line was torn: no block ("no valid questions"), the problem is redone
    partial = tmp_path / "again.jsonl.partial"
    partial.write_text(line[:50])
    capsys.readouterr()
    assert main(["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "4",
                 "--out", str(tmp_path / "again.jsonl"), "--no-progress"]) == 0  # fmt: skip
    assert "set 1 torn line(s) aside" in capsys.readouterr().err
    assert (tmp_path / "again.jsonl").read_text() == pool.read_text()
    assert (tmp_path / "again.jsonl.partial.torn").read_text() == line[:50] + "\n"
    # a torn last record: the next record starts on its own line and is kept
    rf = RecordFile(tmp_path / "records.jsonl")
    rf.path.write_text('{"a": 1}\n{"b": ')
    rf.append_now('{"c": 3}')
    assert rf.read() == [{"a": 1}, {"c": 3}]
    assert rf.path.read_text() == '{"a": 1}\n{"c": 3}\n'

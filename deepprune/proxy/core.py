"""What the proxy does with one request, without a server (pure, unit-tested): read an OpenAI
completions or chat request into a problem, a :class:`~deepprune.engine.solve.SolveConfig` and the
reply it asks for; turn a method's result and ledger into an OpenAI response; errors in OpenAI's
shape.

Seeds: trace i of a request gets the seed ``deepprune solve`` gives trace i of a problem whose id
is :func:`problem_id` of the request's prompt, under the request's ``seed`` (without one: a fresh
seed per request, as the upstream would sample; the ledger gives it). ``deepprune solve --prompt '{question}'`` over problems named so reproduces the
proxy's traces exactly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
import uuid

from deepprune.answers import extract_answer
from deepprune.engine.solve_config import METHODS, SolveConfig
from deepprune.errors import ConfigError
from deepprune.grading import answers_equal
from deepprune.problems import Problem

# what a request may set in extra_body={"deepprune": {...}}
OPTIONS = ("method", "judge", "trunc", "return", "answer_type")
# the methods a request can run (cons@k is cons@N with n=k: ask for that), and auto (the recipe)
PROXY_METHODS = (*(m for m in METHODS if m != "cons@k"), "auto")
RETURNS = ("choices", "vote")
MAX_N = 512  # our choice: more traces than any published setting (DeepConf: 512)
# the request fields the proxy reads; any other OpenAI field is refused rather than ignored
KNOWN = {"model", "prompt", "messages", "n", "max_tokens", "max_completion_tokens", "temperature", "top_p",
         "seed", "stop", "stream", "stream_options", "user", "deepprune", "logprobs", "top_logprobs",
         "echo", "presence_penalty", "frequency_penalty", "best_of"}  # fmt: skip
# OpenAI fields a vote over traces cannot honour: such a request is served unpruned (a plain n upstream,
# --on-unprunable passthrough) or refused (reject), saying which field
UNPRUNABLE = ("response_format", "tools", "tool_choice", "functions", "function_call", "logit_bias",
              "parallel_tool_calls", "suffix", "logprobs", "top_logprobs", "echo", "best_of",
              "presence_penalty", "frequency_penalty")  # fmt: skip


# vLLM / SGLang sampling extensions (routers such as vllm-router add some to every request): at these
# defaults they change nothing and are read as absent; any other value is not prunable
EXTENSIONS = {"ignore_eos": False, "no_stop_trim": False, "return_hidden_states": False,
              "skip_special_tokens": True, "spaces_between_special_tokens": True, "top_k": -1, "min_p": 0.0,
              "repetition_penalty": 1.0, "min_tokens": 0, "include_stop_str_in_output": False,
              "stop_token_ids": [], "logit_bias": None, "regex": None, "json_schema": None}  # fmt: skip


class Unprunable(Exception):
    """A valid request the method cannot prune (``reason`` says why): served upstream as it is."""

    def __init__(self, reason: str, param: str | None = None):
        super().__init__(reason)
        self.reason, self.param = reason, param


def unprunable_reason(body: dict) -> Unprunable | None:
    """Why a request with ``n > 1`` cannot be pruned (a field the vote cannot honour), or None."""
    for key, default in EXTENSIONS.items():
        if key in body and body[key] not in (default, None):
            return Unprunable(
                f"{key} = {str(body[key])[:40]} is set: the vote over traces cannot honour it", key
            )
    for key in UNPRUNABLE:
        v = body.get(key)
        if key == "best_of" and v in (None, body.get("n")):
            continue
        if key == "response_format" and isinstance(v, dict) and v.get("type") == "text":
            continue
        if v not in (None, False, 0, 0.0, [], {}):
            return Unprunable(f"{key} is set: the vote over traces cannot honour it", key)
    return None


class ProxyError(Exception):
    """An error the client gets as OpenAI's error JSON: ``status`` (400, 429, 502, 504, ...)."""

    def __init__(
        self, status: int, message: str, param: str | None = None, kind: str | None = None
    ):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param
        self.kind = kind or {400: "invalid_request_error", 404: "not_found_error", 408: "invalid_request_error",
                             413: "invalid_request_error",
                             429: "rate_limit_error", 504: "timeout_error"}.get(status, "upstream_error")  # fmt: skip

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.kind, "param": self.param,
                          "code": self.status}}  # fmt: skip


def bad(message: str, param: str | None = None) -> ProxyError:
    return ProxyError(400, message, param)


def problem_id(prompt: str) -> str:
    """The id a request's prompt gets (its traces' seeds derive from it): ``p-`` + 16 hex of sha256."""
    return "p-" + hashlib.sha256(prompt.encode("utf-8")).hexdigest()[:16]


@dataclasses.dataclass
class Parsed:
    """One request, read: the problem, the run's settings, the method and what to return."""

    problem: Problem
    cfg: SolveConfig
    method: str
    returns: str
    model: str
    chat: bool
    messages: tuple = ()
    stream: bool = False


def _number(body: dict, key: str, kind, default, lo=None, hi=None):
    v = body.get(key, default)
    if v is None:
        return default
    if isinstance(v, bool) or not isinstance(v, kind):
        raise bad(f"{key} must be {'an integer' if kind is int else 'a number'}, got {v!r}", key)
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise bad(f"{key} must be in [{lo}, {hi}], got {v}", key)
    return v


def _seed(body: dict) -> int:
    """The request's ``seed``; without one a fresh seed, as an upstream samples afresh for every
    request (the ledger's ``seed`` says which, so a client can reproduce it)."""
    import secrets

    seed = _number(body, "seed", int, None, -(2**63), 2**63 - 1)
    return secrets.randbits(31) if seed is None else seed


def _prompt(body: dict, chat: bool) -> tuple[str, tuple]:
    """(the text the traces continue, the chat conversation) of a request."""
    if chat:
        msgs = body.get("messages")
        if not isinstance(msgs, list) or not msgs:
            raise bad("messages must be a non-empty list", "messages")
        for m in msgs:
            if (
                not isinstance(m, dict)
                or not isinstance(m.get("role"), str)
                or not isinstance(m.get("content"), str)
            ):
                raise bad("each message needs a role and a string content", "messages")
        if msgs[-1]["role"] != "user":
            raise bad(
                "the last message must be the user's (the proxy samples the assistant's reply)",
                "messages",
            )
        text = json.dumps([[m["role"], m["content"]] for m in msgs], ensure_ascii=False)
        return text, tuple({"role": m["role"], "content": m["content"]} for m in msgs)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]  # lm-eval and others send a batch of one
    if not isinstance(prompt, str) or not prompt:
        raise bad(
            "prompt must be one non-empty string (token-id prompts and batches are not supported)",
            "prompt",
        )
    return prompt, ()


def _options(body: dict, method: str, returns: str, answer_type: str, auto: dict | None):
    """The request's ``deepprune`` options over the proxy's defaults: (options, method, return,
    answer type, the recipe's settings where the method is ``auto``); a 400 naming a bad one."""
    opts = body.get("deepprune") or {}
    if not isinstance(opts, dict):
        raise bad(
            '"deepprune" must be an object, e.g. {"method": "deepprune", "return": "vote"}',
            "deepprune",
        )
    extra = sorted(set(opts) - set(OPTIONS))
    if extra:
        raise bad(
            f"unknown deepprune option(s) {', '.join(extra)}; known: {', '.join(OPTIONS)}",
            "deepprune",
        )
    method, returns = opts.get("method", method), opts.get("return", returns)
    if method not in PROXY_METHODS:
        hint = " (cons@k is cons@N with n=k)" if method == "cons@k" else ""
        raise bad(
            f"unknown method {method!r}{hint}; known: {', '.join(PROXY_METHODS)}",
            "deepprune.method",
        )
    recipe = {}
    if method == "auto":
        if auto is None:
            raise bad(
                "method auto needs the proxy's recipe (start it with --method auto)",
                "deepprune.method",
            )
        recipe = {k: v for k, v in auto.items() if k != "methods"}
        method = auto["methods"][0]
    if returns not in RETURNS:
        raise bad(f"unknown return {returns!r}; known: {', '.join(RETURNS)}", "deepprune.return")
    answer_type = opts.get("answer_type", answer_type)
    if answer_type not in ("math", "choice", "text"):
        raise bad(
            f"unknown answer_type {answer_type!r}; known: math, choice, text",
            "deepprune.answer_type",
        )
    return opts, method, returns, answer_type, recipe


def parse_request(body: object, base: SolveConfig, method: str, returns: str, answer_type: str,
                  chat: bool, judges: dict[str, str] | None = None, auto: dict | None = None) -> Parsed:  # fmt: skip
    """Read a request body (already JSON-decoded) into a :class:`Parsed`, or raise a 400 naming the field.

    ``judges``: the judges a request may name (name -> the operator's spec); a request never gives
    a spec itself (a path, a URL or a key of the server's choosing). None: only ``base.judge``.
    ``auto``: the recipe's live settings (:func:`deepprune.engine.recipe.load_recipe`), which
    ``method: auto`` runs."""
    if not isinstance(body, dict):
        raise bad("the request body must be a JSON object")
    unknown = sorted(set(body) - KNOWN - set(UNPRUNABLE) - set(EXTENSIONS))
    if unknown:
        raise bad(
            f"unknown field(s) {', '.join(unknown)}; the proxy reads {', '.join(sorted(KNOWN))}",
            unknown[0],
        )
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise bad("model must be a non-empty string", "model")
    prompt, messages = _prompt(body, chat)
    n = _number(body, "n", int, 1, 1, MAX_N)
    if (why := unprunable_reason(body)) is not None:
        raise why
    opts, method, returns, answer_type, recipe = _options(body, method, returns, answer_type, auto)
    stream = bool(body.get("stream"))  # n > 1: sent as server-sent events once the vote is in
    stop = body.get("stop")
    stop = (stop,) if isinstance(stop, str) else stop or ()
    if not isinstance(stop, (list, tuple)) or not all(isinstance(s, str) for s in stop):
        raise bad("stop must be a string or a list of strings", "stop")
    max_tokens = _number(body, "max_tokens", int, None, 1, 10**6)
    max_tokens = (
        _number(body, "max_completion_tokens", int, max_tokens, 1, 10**6) or base.max_tokens
    )
    changes = {"n": n, "methods": (method,), "max_tokens": max_tokens, "stop": tuple(stop),
               "temperature": float(_number(body, "temperature", (int, float), base.temperature, 0, 2)),
               "top_p": float(_number(body, "top_p", (int, float), base.top_p, 0, 1)),
               "seed": _seed(body), "prompt": "{question}",
               "judge": _judge(opts, base.judge, judges), "trunc": opts.get("trunc", base.trunc)}  # fmt: skip
    changes |= {k: v for k, v in recipe.items() if k != "max_tokens"}
    if "max_tokens" in recipe:  # a recipe's thinking budget, never above the request's own limit
        changes["max_tokens"] = min(max_tokens, recipe["max_tokens"])
    if method == "deepconf":  # the warm-up cannot take every trace
        changes["deepconf_warmup"] = min(base.deepconf_warmup, max(n - 1, 1))
    try:
        cut = _cut(changes["trunc"], base.probe_every) if method == "deepprune" else None
        if cut is not None and cut >= max_tokens:
            raise Unprunable(f"max_tokens {max_tokens} is at or below DeepPrune's cut ({cut} tokens): every "
                             "trace would end before it is judged", "max_tokens")  # fmt: skip
        cfg = dataclasses.replace(base, **changes)
    except ConfigError as e:
        raise bad(str(e), "deepprune") from None
    question = messages[-1]["content"] if chat else prompt
    return Parsed(Problem(problem_id(prompt), question, None, answer_type), cfg, method, returns, model, chat,
                  messages, stream)  # fmt: skip


def _judge(opts: dict, default: str, judges: dict[str, str] | None) -> str:
    """The spec of the judge a request names (by name only, from the operator's allow-list)."""
    if "judge" not in opts:
        return default
    name, allowed = (
        opts["judge"],
        judges if judges is not None else {"default": default, default: default},
    )
    if not isinstance(name, str) or name not in allowed:
        raise bad(f"judge {str(name)[:80]!r} is not allowed here; this proxy allows: {', '.join(sorted(allowed))} "
                  "(the operator's --allow-judges)", "deepprune.judge")  # fmt: skip
    return allowed[name]


def _cut(trunc, probe_every: int) -> int | None:
    """Where DeepPrune's prefix ends in generated tokens (None: ``words:K``, not in tokens)."""
    from deepprune.truncate import parse_spec

    if not isinstance(trunc, str):
        raise ConfigError(f"trunc must be a string, got {trunc!r}")
    spec = parse_spec(trunc)
    return (
        int(spec.value)
        if spec.kind == "tokens"
        else int(spec.value) * probe_every
        if spec.kind == "probe"
        else None
    )


def respond(parsed: Parsed, live) -> dict:
    """The OpenAI response of a pruned request (``live``: :class:`deepprune.engine.live.LiveResult`):
    the completed traces as choices, those voting the answer first (``return: vote``: the first of
    them alone), ``usage`` what the upstream spent (generated + probe tokens; prompt tokens it
    read), and the ledger under ``deepprune``."""
    result, led, completed, wall_s = live.result, live.ledger, live.completed, live.wall_s
    p, answer = parsed.problem, result.get("answer")

    def agree(text: str) -> bool:
        got = extract_answer(text, p.answer_type)
        return answer is not None and answers_equal(got, answer, p.answer_type)

    order = sorted(completed, key=lambda i: (not agree(completed[i][0]), i))
    picked = order[:1] if parsed.returns == "vote" else order
    texts = [(completed[i][0], completed[i][1]) for i in picked]
    from_probes = (
        parsed.returns == "vote" and answer is not None and not (picked and agree(texts[0][0]))
    )
    if (
        from_probes
    ):  # Parallel-Probe's consensus can be a probed answer no completed trace ends with
        texts = [(f"\\boxed{{{answer}}}", True)]
    if not texts:  # nothing completed and no answer: one empty choice, said in the ledger
        texts = [("", False)]
    if parsed.chat:
        choices = [{"index": k, "message": {"role": "assistant", "content": t}, "logprobs": None,
                    "finish_reason": "stop" if done else "length"} for k, (t, done) in enumerate(texts)]  # fmt: skip
    else:
        choices = [{"index": k, "text": t, "logprobs": None, "finish_reason": "stop" if done else "length"}
                   for k, (t, done) in enumerate(texts)]  # fmt: skip
    generated = led.tokens + led.probe_tokens
    read = led.prompt_tokens + led.probe_prompt_tokens
    ledger = {"method": parsed.method, "n": parsed.cfg.n, "answer": answer, "completed": sorted(completed),
              "choices_from": "probes" if from_probes else "traces", "problem_id": p.id, "seed": parsed.cfg.seed,
              "tokens": led.tokens, "probe_tokens": led.probe_tokens, "probe_calls": led.probe_calls,
              "judge_calls": led.judge_calls, "judge_tokens": led.judge_tokens, "net_tokens": led.net_tokens,
              "reread_tokens": led.reread_tokens, "sequential_tokens": led.sequential_tokens,
              "cons_n_estimate": live.cons_n_estimate, "wall_s": round(wall_s, 4),
              "usage_flags": led.usage_flags,
              **{k: v for k, v in result.items() if k not in ("answer", "completed") and _plain(v)}}  # fmt: skip
    return {"id": f"{'chatcmpl' if parsed.chat else 'cmpl'}-dp{uuid.uuid4().hex[:24]}",
            "object": "chat.completion" if parsed.chat else "text_completion", "created": int(time.time()),
            "model": parsed.model, "choices": choices,
            "usage": {"prompt_tokens": read, "completion_tokens": generated, "total_tokens": read + generated},
            "deepprune": ledger}  # fmt: skip


def sse_events(resp: dict, chat: bool, include_usage: bool) -> list[str]:
    """A pruned response as the server-sent events a streamed OpenAI request gets: one chunk per
    choice (its whole text: the proxy answers when the vote is in), then usage (with
    ``stream_options.include_usage``) and the ledger, then ``[DONE]`` (pure)."""
    kind = "chat.completion.chunk" if chat else "text_completion"
    head = {"id": resp["id"], "object": kind, "created": resp["created"], "model": resp["model"]}
    out = []
    for c in resp["choices"]:
        text = c["message"]["content"] if chat else c["text"]
        piece = {"delta": {"role": "assistant", "content": text}} if chat else {"text": text}
        out.append({**head, "choices": [{"index": c["index"], **piece, "logprobs": None,
                                         "finish_reason": c["finish_reason"]}]})  # fmt: skip
    tail = {**head, "choices": [], "deepprune": resp["deepprune"]}
    if include_usage:
        tail["usage"] = resp["usage"]
    out.append(tail)
    return [f"data: {json.dumps(e)}\n\n" for e in out] + ["data: [DONE]\n\n"]


def _plain(v) -> bool:
    return isinstance(v, (int, float, str, bool, type(None))) or (
        isinstance(v, list) and all(isinstance(x, (int, float, str)) for x in v)
    )


def said_headers(unpruned: str | None) -> dict | None:
    """The headers of a request served unpruned (the reason, ASCII-safe)."""
    if unpruned is None:
        return None
    return {
        "X-DeepPrune-Pruned": "false",
        "X-DeepPrune-Reason": unpruned.encode("ascii", "replace").decode(),
    }

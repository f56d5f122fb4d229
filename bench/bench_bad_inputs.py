"""Hostile inputs x every command that takes them, classified: the table of issue 19.

    python bench/bench_bad_inputs.py            # prints the table, then every trial that is not clean
    python bench/bench_bad_inputs.py --json     # one JSON object per trial
    python bench/bench_bad_inputs.py --proxy    # the proxy's section alone
    python bench/bench_bad_inputs.py --round2   # issue 39's cases alone (bench/bad_inputs_round2.py)

Each trial runs ``deepprune.cli.main(argv)`` in a forked child (stdout/stderr captured; killed
after 60 s: a hang) and is classified as:
  clean      exit 2, one ``deepprune: error:`` line naming the place (a file, flag, key or the bad
             value) and no
             output left behind
  accepted   a valid (if odd) input: exit 0
  unclear    exit 2, but the line names no place
  traceback  an exception escaped main(), or a traceback was printed
  silent     exit 0 on bad input, or output left behind after an error
  hang       still running after 60 s
"""

from __future__ import annotations

import contextlib
import gzip
import io
import json
import os
import select
import signal
import sys
import tempfile
import traceback
from collections import Counter
from pathlib import Path

from deepprune.cli import main
from deepprune.greedy import ClusterConfig
from deepprune.synth import DEMO_POOL

Q = json.loads(DEMO_POOL.read_text().splitlines()[0])
HANG_S = 60


def _pools(d: Path) -> dict[str, tuple[Path, bool]]:
    """name -> (path, valid)."""
    line = json.dumps(Q)
    files = {
        "malformed": ("{not json\n", False),
        "empty": ("", False),
        "null-fields": (json.dumps({**Q, "traces": None}) + "\n", False),
        "null-trace": (json.dumps({**Q, "traces": [None, *Q["traces"][1:]]}) + "\n", False),
        "wrong-types": (json.dumps({**Q, "traces": [{**Q["traces"][0], "num_tokens": "ten"}]}) + "\n", False),
        "bad-answer-type": (json.dumps({**Q, "answer_type": "essay"}) + "\n", False),
        "duplicate-ids": (line + "\n" + line + "\n", False),
        "top-level-list": ("[1, 2]\n", False),
        "huge-line": (json.dumps({**Q, "traces": [{**t, "text": t["text"] * 2000} for t in Q["traces"][:4]]}) + "\n", True),
        "power-tower-answer": (json.dumps({**Q, "gold": "10^{10^{10^{21}}}", "traces": [
            {**t, "answer": "10^{10^{10^{21}}}" if i % 2 else t["answer"]} for i, t in enumerate(Q["traces"])]}) + "\n", True),
        "pathological-text": (json.dumps({**Q, "answer_type": "choice", "traces": [
            {"text": "The answer is" + "\n" * 5000 + "(" * 3000 + "B", "answer": None},
            {"text": "\\boxed{" * 20000 + "1", "answer": None},
            {"text": "The final answer is " + "(" * 5000 + "1" + ")" * 5000, "answer": None}]}) + "\n", True),
    }  # fmt: skip
    out = {}
    for name, (text, valid) in files.items():
        (d / f"{name}.jsonl").write_text(text, encoding="utf-8")
        out[name] = (d / f"{name}.jsonl", valid)
    (d / "latin1.jsonl").write_bytes(
        line.encode() + b"\n" + '{"id": "\xe9"}'.encode("latin-1") + b"\n"
    )
    (d / "utf16.jsonl").write_bytes(line.encode("utf-16"))
    (d / "torn.jsonl.gz").write_bytes(gzip.compress((line + "\n").encode() * 20)[:200])
    (d / "a-directory").mkdir()
    out |= {"non-utf8": (d / "latin1.jsonl", False), "utf16": (d / "utf16.jsonl", False),
            "truncated-gzip": (d / "torn.jsonl.gz", False), "directory": (d / "a-directory", False),
            "missing": (d / "missing.jsonl", False)}  # fmt: skip
    return out


def _pool_commands(p: str, o: str) -> dict[str, list[str]]:
    return {
        "pools validate": ["pools", "validate", p],
        "pools stats": ["pools", "stats", p],
        "answers check": ["answers", "check", p],
        "pairs build": ["pairs", "build", p, "--out", o],
        "prune": ["prune", "--pool", p, "--repeats", "1", "--judge", "lexical:jaccard", "--out", o],
        "compare": ["compare", "--pool", p, "--repeats", "1", "--methods", "esc", "--bootstrap", "0", "--out", o],
        "judge grid": ["judge", "grid", "--pool", p, "--trunc", "words:5", "--judge", "lexical:jaccard",
                       "--bootstrap", "0", "--markdown", o],
        "judge calibrate": ["judge", "calibrate", "--pool", p, "--judge", "lexical:jaccard", "--out", o],
        "crossencoder train": ["crossencoder", "train", "--pool", p, "--out", o, "--no-progress"],
        "features train": ["features", "train", "--pool", p, "--out", o, "--no-progress"],
        "features crossfit": ["features", "crossfit", "--pool", p, "--folds", "2", "--markdown", o, "--no-progress"],
        "generate (replay)": ["generate", "--backend", "replay", "--pool", p, "--out", o, "--no-progress"],
        "solve (replay)": ["solve", "--backend", "replay", "--pool", p, "--n", "4", "--out", o, "--no-progress"],
    }  # fmt: skip


def _pair_files(d: Path) -> dict[str, Path]:
    good = {"prefix_a": "a b", "prefix_b": "a c", "label": 1, "qid": "q"}
    files = {"pairs-malformed": "{x\n", "pairs-empty": "", "pairs-null": json.dumps({**good, "prefix_a": None}) + "\n",
             "pairs-no-label": json.dumps({k: v for k, v in good.items() if k != "label"}) + "\n",
             "pairs-wrong-type": json.dumps({**good, "prefix_b": 3}) + "\n"}  # fmt: skip
    for name, text in files.items():
        (d / f"{name}.jsonl").write_text(text)
    out = {name: d / f"{name}.jsonl" for name in files}
    (d / "pairs-latin1.jsonl").write_bytes(json.dumps(good).encode() + b"\n\xe9\n")
    return out | {"pairs-non-utf8": d / "pairs-latin1.jsonl", "pairs-directory": d / "a-directory",
                  "pairs-missing": d / "nope.jsonl"}  # fmt: skip


# (command, argv, valid?) of numeric options out of range
P = str(DEMO_POOL)
NUMBERS = [
    *[(f"prune --{k} {v}", ["prune", f"--{k}", v]) for k, v in [("tau", "1.5"), ("tau", "-0.1"), ("K", "0"), ("K1", "0"),
      ("K1", "1000"), ("K2", "0"), ("K3", "-1"), ("repeats", "0"), ("holdout", "1.0"), ("holdout", "-0.2"),
      ("workers", "0"), ("trunc", "words:0"), ("trunc", "frac:1.5"), ("trunc", "chars:10"), ("noisy-auroc", "1.5"),
      ("sweep", "tau=0.9:0.1:0.1"), ("sweep", "tau=0.1:0.9:0"), ("sweep", "tau=0:2:0.5"), ("sweep", "k=1:2:1"),
      ("repeats", "two")]],
    *[(f"compare --{k} {v}", ["compare", "--pool", P, f"--{k}", v]) for k, v in [("repeats", "0"), ("methods", "esc,nope"),
      ("budget-grid", "0,2"), ("bootstrap", "-5"), ("similarity", "lexical:nope"), ("target-drop", "-1")]],
    *[(f"pairs build --{k} {v}", ["pairs", "build", P, "--out", "{o}", f"--{k}", v]) for k, v in [("test-fraction", "1.0"),
      ("oversample", "0.5"), ("max-pairs", "0"), ("trunc", "tokens:-3")]],
    *[(f"crossencoder train --{k} {v}", ["crossencoder", "train", "--pool", P, "--out", "{o}", f"--{k}", v])
      for k, v in [("epochs", "0"), ("batch-size", "0"), ("lr", "0"), ("gamma", "-2"), ("oversample", "0.5"),
                   ("layers", "0"), ("alpha", "yes=0"), ("alpha", "maybe=1"), ("keep", "middle"), ("joint", "some")]],
    *[(f"features train --{k} {v}", ["features", "train", "--pool", P, "--out", "{o}", f"--{k}", v])
      for k, v in [("steps", "0"), ("hidden", "-1"), ("gamma", "-2"), ("test-fraction", "1.5"), ("loss", "hinge")]],
    *[(f"generate --{k} {v}", ["generate", "--backend", "replay", "--pool", P, "--out", "{o}", f"--{k}", v])
      for k, v in [("n", "0"), ("max-tokens", "0"), ("concurrency", "0"), ("temperature", "-1"), ("probe-every", "-1")]],
    *[(f"solve --{k} {v}", ["solve", "--backend", "replay", "--pool", P, f"--{k}", v])
      for k, v in [("n", "0"), ("trunc", "frac:0.3"), ("methods", "best-of"), ("tau", "2")]],
    ("judge score --batch-size -3", ["judge", "score", "{pairs}", "--judge", "lexical:jaccard", "--batch-size", "-3"]),
    ("judge score --shards 0", ["judge", "score", "{pairs}", "--judge", "lexical:jaccard", "--shards", "0"]),
    ("judge score --shard-id 5", ["judge", "score", "{pairs}", "--judge", "lexical:jaccard", "--shards", "2", "--shard-id", "5"]),
    ("judge eval --judge typo", ["judge", "eval", "{pairs}", "--judge", "lexcial:jaccard"]),
    ("prune --judge typo", ["prune", "--judge", "sbertt"]),
    ("prune --judge llm:missing", ["prune", "--judge", "llm:/no/such/model"]),
    ("generate unreachable server", ["generate", "--problems", "{problems}", "--base-url", "http://127.0.0.1:9/v1",
                                     "--model", "m", "--out", "{o}"]),
]  # fmt: skip

YAMLS = {"yaml-syntax": "repeats: [1, 2\n", "yaml-list": "- 1\n- 2\n", "yaml-type": "seed: many\n",
         "yaml-unknown-key": "nonsense_key: 3\n"}  # fmt: skip
YAML_COMMANDS = {
    "prune": ["prune"], "compare": ["compare", "--pool", P], "pairs build": ["pairs", "build", P, "--out", "{o}"],
    "synth": ["synth", "--out", "{o}"], "judge grid": ["judge", "grid", "--pool", P, "--trunc", "words:5", "--judge", "lexical:jaccard"],
    "crossencoder train": ["crossencoder", "train", "--pool", P, "--out", "{o}"],
    "features crossfit": ["features", "crossfit", "--pool", P], "generate": ["generate", "--backend", "replay", "--pool", P, "--out", "{o}"],
    "solve": ["solve", "--backend", "replay", "--pool", P],
}  # fmt: skip


def _in_process(argv: list[str], valid: bool, place: list[str], out: Path | None,
                warn: bool = False) -> tuple[str, str]:  # fmt: skip
    err, std = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(std):
            rc = main(argv)
    except SystemExit as e:  # argparse: a usage error is exit 2 with a usage line
        rc = e.code if isinstance(e.code, int) else 1
    except BaseException:  # noqa: BLE001 - the point is to see every escape
        return "traceback", traceback.format_exc().splitlines()[-1]
    text = err.getvalue()
    last = [ln for ln in text.splitlines() if ln.strip()][-1:] or [""]
    if "Traceback (most recent call last)" in text:
        return "traceback", last[0]
    if rc == 0 and warn and "warning:" not in text:
        return "silent", "exit 0 without a warning on a server fault"
    if rc == 0:
        return ("accepted", last[0] if warn else "") if valid else ("silent", "exit 0 on bad input")
    left = out is not None and out.exists() and (out.is_file() or any(out.iterdir()))
    if left:
        return "silent", f"output left at {out.name}: {last[0]}"
    line = last[0]
    if valid and not any(p and p in line for p in place):
        return "unclear", f"valid input refused: {line}"
    if not (line.startswith("deepprune: error:") or line.startswith("usage:") or "error:" in line):
        return "unclear", line
    if not any(p and p in line for p in place):
        return "unclear", line
    return "clean", line


def trial(
    argv: list[str], valid: bool, place: list[str], out: Path | None, warn: bool = False
) -> tuple[str, str]:
    """One trial in a forked child: a hang is the child still running after HANG_S, killed then."""
    return forked(lambda: _in_process(argv, valid, place, out, warn))


def forked(fn) -> tuple[str, str]:
    """``fn()`` (an (outcome, line) pair) in a forked child, killed after HANG_S: a hang.
    (No signal.alarm: math-verify sets its own alarm and would cancel ours, hiding a hang.)"""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, report one JSON line, leave without cleanup
        os.close(r)
        try:
            res = fn()
        except BaseException as e:  # noqa: BLE001
            res = ("traceback", repr(e))
        os.write(w, json.dumps(res).encode())
        os._exit(0)
    os.close(w)
    ready, _, _ = select.select([r], [], [], HANG_S)
    if not ready:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(r)
        return "hang", f"still running after {HANG_S} s"
    data = b""
    while chunk := os.read(r, 65536):
        data += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return tuple(json.loads(data)) if data else ("traceback", "the trial died without a result")


def trials(d: Path):
    pools = _pools(d)
    pairs = _pair_files(d)
    problems = d / "problems.jsonl"
    problems.write_text(json.dumps({"id": "p1", "question": "1+1?", "gold": "2"}) + "\n")
    good_pairs = d / "good-pairs.jsonl"
    good_pairs.write_text(
        json.dumps({"prefix_a": "a b", "prefix_b": "a c", "label": 1, "qid": "q"}) + "\n"
    )
    n = 0
    for pname, (path, valid) in pools.items():
        for cname in _pool_commands("", ""):
            if valid and cname in (
                "crossencoder train",
                "features train",
                "features crossfit",
                "judge calibrate",
            ):
                continue  # a valid one-question pool trains nothing useful; these refuse it (tested elsewhere)
            argv = _pool_commands(str(path), str(d / f"out{n}"))[cname]
            yield f"pool:{pname}", cname, argv, valid, [path.name, "pool"], d / f"out{n}"
            n += 1
    for pname, path in pairs.items():
        for cname in ("judge score", "judge eval"):
            valid = pname == "pairs-no-label" and cname == "judge score"  # scoring needs no labels
            yield f"pairs:{pname}", cname, ["judge", cname.split()[1], str(path), "--judge", "lexical:jaccard",
                                            "--no-progress"], valid, [path.name], None  # fmt: skip
    for name, argv in NUMBERS:
        o = d / f"out{n}"
        n += 1
        argv = [a.replace("{o}", str(o)).replace("{pairs}", str(good_pairs)).replace("{problems}", str(problems))
                for a in argv]  # fmt: skip
        flag = name.split()[-2] if name.split()[-2].startswith("--") else name.split()[-1]
        value = name.split()[-1]
        words = [
            flag.lstrip("-"),
            flag.lstrip("-").replace("-", "_"),
            flag.split("-")[-1],
            value,
            f"[{value!r}]",
            "127.0.0.1",
            "sbertt",
            "lexcial",
            "/no/such",
        ]  # the option, or the bad value itself
        yield "number", name, argv, False, words, o
    for yname, text in YAMLS.items():
        f = d / f"{yname}.yaml"
        f.write_text(text)
        for cname, argv in YAML_COMMANDS.items():
            o = d / f"out{n}"
            n += 1
            yield (
                f"yaml:{yname}",
                cname,
                [*[a.replace("{o}", str(o)) for a in argv], "--config", str(f)],
                False,
                [f.name, "seed", "nonsense_key"],
                o,
            )


FAULT_COMMANDS = {
    "generate": ["generate", "--n", "2", "--max-tokens", "20", "--probe-every", "5"],
    "generate (plain)": ["generate", "--n", "2", "--max-tokens", "20"],
    "solve (resume)": ["solve", "--n", "4", "--max-tokens", "20", "--judge", "lexical:jaccard", "--trunc", "tokens:4",
                       "--deterministic"],
    "solve (stream)": ["solve", "--n", "4", "--max-tokens", "20", "--judge", "lexical:jaccard", "--trunc", "words:2",
                       "--mode", "stream"],
}  # fmt: skip
FLAGGED = ("ignore-max-tokens", "negative-usage", "zero-usage", "usage-above-max")
# the fault modes a run must accept, unflagged or flagged (the others must fail with one line)
ACCEPTED = ("usage-mismatch", "no-usage", "empty-choices", "usage-not-int", "usage-no-count", "usage-plus-one",
            "cached-prefix", "no-logprobs", "empty-token")  # fmt: skip


def _resumed(kind: str, clean: Path, cut: Path) -> bool:
    """Whether the resumed run's output equals a clean run's (solve stream: the same records)."""
    if kind.startswith("generate"):
        return clean.read_bytes() == cut.read_bytes()
    rows = lambda d: sorted(  # noqa: E731
        (r["question"], r["method"], r["tokens"] if "stream" not in kind else 0)
        for r in map(json.loads, (d / "records.jsonl").read_text().splitlines())
    )
    return rows(clean) == rows(cut)


def fault_trials(d: Path) -> list[dict]:
    """Every fault mode of the fault server x generate / solve; then each aborted run resumed against
    the healthy server and compared with a clean run."""
    from deepprune.dev.fault_server import MODES, FaultServer

    probs = d / "fault-problems.jsonl"
    probs.write_text(
        "".join(
            json.dumps({"id": f"q{i}", "question": "1+1?", "gold": "42"}) + "\n" for i in range(3)
        )
    )
    rows = []
    with FaultServer() as fs:
        for kind, cmd in FAULT_COMMANDS.items():
            ext = "pool.jsonl" if kind.startswith("generate") else "run"
            clean = d / f"clean-{len(rows)}-{ext}"
            base = [*cmd, "--problems", str(probs), "--model", "fault-model", "--timeout", "3", "--retries", "0",
                    "--no-progress"]  # fmt: skip
            fs.mode = "ok"
            base += [
                "--base-url",
                fs.url(),
            ]  # one URL (the resume key holds it); the server's mode switches
            trial([*base, "--out", str(clean)], True, [], None)
            for mode in MODES:
                if mode == "ok":
                    continue
                out = d / f"fault-{len(rows)}-{ext}"
                fs.mode = mode
                valid = mode in FLAGGED or mode in ACCEPTED
                outcome, line = trial([*base, "--out", str(out)], valid, [fs.url()], None if ext == "run" else out,
                                      mode in FLAGGED)  # fmt: skip
                fs.mode = "ok"
                resumed = ""
                if outcome == "clean":  # aborted: resume against the same server, healthy again
                    r2, _ = trial([*base, "--out", str(out)], True, [], None)
                    resumed = (
                        "resumed" if r2 == "accepted" and _resumed(kind, clean, out) else "LOST"
                    )
                rows.append({"input": f"fault:{mode}", "command": kind, "outcome": outcome,
                             "line": line.replace(str(fs.port), "PORT"), "resume": resumed})  # fmt: skip
                print(
                    f"{outcome:9s} {mode:20s} {kind:18s} {resumed:8s} {line[:100]}",
                    file=sys.stderr,
                    flush=True,
                )
    return rows


PROXY_BODIES = {  # request bodies the proxy must refuse (400/404), each with the word its error names
    "malformed JSON": (b'{"model": "fault-model", "prompt": "x", "n": 4', "JSON"),
    "a JSON list": (b"[1, 2]", "object"),
    "n = 0": (b'{"model": "fault-model", "prompt": "x", "n": 0}', "n must be"),
    "n = 10,000": (b'{"model": "fault-model", "prompt": "x", "n": 10000}', "n must be"),
    "n a string": (b'{"model": "fault-model", "prompt": "x", "n": "4"}', "n must be"),
    "unknown deepprune key": (b'{"model": "fault-model", "prompt": "x", "n": 4, "deepprune": {"metod": 1}}', "metod"),
    "unknown method": (b'{"model": "fault-model", "prompt": "x", "n": 4, "deepprune": {"method": "x"}}', "method"),
    "unknown judge": (b'{"model": "fault-model", "prompt": "x", "n": 4, "deepprune": {"judge": "x"}}', "judge"),
    "unknown field": (b'{"model": "fault-model", "prompt": "x", "n": 4, "tempature": 1}', "tempature"),
    "no prompt": (b'{"model": "fault-model", "n": 4}', "prompt"),
    "token-id prompt": (b'{"model": "fault-model", "prompt": [1, 2], "n": 4}', "prompt"),
    "unknown model": (b'{"model": "nope", "prompt": "x", "n": 4}', "nope"),
    "max_tokens -1": (b'{"model": "fault-model", "prompt": "x", "n": 4, "max_tokens": -1}', "max_tokens"),
}  # fmt: skip


def _proxy_call(url: str, body: bytes) -> tuple[int | None, bytes]:
    import urllib.error
    import urllib.request

    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=HANG_S) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except TimeoutError:
        return None, b""


def _proxy_outcome(status: int | None, raw: bytes, valid: bool, place: str) -> tuple[str, str]:
    """A proxy answer, classified as a CLI trial is: clean = an OpenAI error JSON, one line naming the place."""
    if status is None:
        return "hang", f"no answer after {HANG_S} s"
    try:
        data = json.loads(raw)
    except json.JSONDecodeError:
        return "traceback", f"HTTP {status}, not JSON: {raw[:80]!r}"
    if status == 200:
        return ("accepted" if valid else "silent"), "HTTP 200"
    msg = (data.get("error") or {}).get("message") if isinstance(data, dict) else None
    if not isinstance(msg, str) or status == 500:
        return "traceback", f"HTTP {status}: {raw[:120]!r}"
    line = f"HTTP {status}: {msg}"
    return ("clean" if "\n" not in msg and place.lower() in msg.lower() else "unclear"), line


def proxy_trials() -> list[dict]:
    """The proxy: bad request bodies, then every upstream fault mode (n = 4, cons@N and DeepPrune),
    and a hanging upstream under the request deadline."""
    from deepprune.dev.fault_server import MODES, FaultServer
    from deepprune.proxy.job import ProxyConfig, ProxyJob

    rows = []

    def add(name, command, outcome, line):
        rows.append(
            {"input": f"proxy:{name}", "command": command, "outcome": outcome, "line": line}
        )
        print(
            f"{outcome:9s} proxy:{name:22s} {command:18s} {line[:100]}", file=sys.stderr, flush=True
        )

    def port() -> int:
        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    cfg = dict(
        judge="lexical:jaccard", trunc="tokens:4", max_tokens=20, cluster=ClusterConfig(K2=2, K3=2)
    )
    with FaultServer() as fs:
        with ProxyJob(upstream=fs.url("ok"), port=port(), method="cons@N", log=os.devnull,
                      config=ProxyConfig(**cfg)).start() as h:  # fmt: skip
            for name, (body, place) in PROXY_BODIES.items():
                add(
                    name,
                    "POST /v1/completions",
                    *_proxy_outcome(*_proxy_call(h.url + "/completions", body), False, place),
                )
        for mode in MODES:
            if mode == "ok":
                continue
            for method in ("cons@N", "deepprune"):
                with ProxyJob(upstream=fs.url(mode), port=port(), method=method, timeout=3.0, retries=0,
                              log=os.devnull, config=ProxyConfig(**cfg)).start() as h:  # fmt: skip
                    got = _proxy_call(
                        h.url + "/completions", b'{"model": "fault-model", "prompt": "x", "n": 4}'
                    )
                    valid = mode in FLAGGED or mode in ACCEPTED
                    add(
                        f"upstream {mode}", f"n=4 {method}", *_proxy_outcome(*got, valid, "request")
                    )
        sys.path.insert(0, str(Path(__file__).parent))
        from bad_inputs_round2 import proxy_round2

        proxy_round2(add, _proxy_call, _proxy_outcome, port)  # issue 37's cases
        with ProxyJob(upstream=fs.url("stall"), port=port(), method="cons@N", timeout=600.0, request_timeout=2.0,
                      log=os.devnull, config=ProxyConfig(**cfg)).start() as h:  # fmt: skip
            got = _proxy_call(
                h.url + "/completions", b'{"model": "fault-model", "prompt": "x", "n": 4}'
            )
            add(
                "upstream hangs",
                "n=4, deadline 2 s",
                *_proxy_outcome(*got, False, "request-timeout"),
            )
    return rows


def run() -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind, command, argv, valid, place, out in trials(Path(tmp)):
            outcome, line = trial(argv, valid, place, out)
            rows.append(
                {
                    "input": kind,
                    "command": command,
                    "outcome": outcome,
                    "line": line.replace(tmp, "TMP"),
                }
            )
            print(
                f"{outcome:9s} {kind:28s} {command:30s} {line.replace(tmp, 'TMP')[:110]}",
                file=sys.stderr,
                flush=True,
            )
        rows += fault_trials(Path(tmp))
        rows += proxy_trials()
        rows += round2(Path(tmp))
    return rows


def round2(d: Path) -> list[dict]:
    """Issue 39's cases (``bench/bad_inputs_round2.py``), each in a forked child."""
    sys.path.insert(0, str(Path(__file__).parent))
    from bad_inputs_round2 import round2_trials

    return round2_trials(d, forked)


if __name__ == "__main__":
    if "--round2" in sys.argv:  # issue 39's cases alone
        with tempfile.TemporaryDirectory() as tmp:
            rows = round2(Path(tmp))
    else:
        rows = (
            proxy_trials() if "--proxy" in sys.argv else run()
        )  # --proxy: the proxy's section alone
    if "--json" in sys.argv:
        print("\n".join(json.dumps(r) for r in rows))
    else:
        counts = Counter(r["outcome"] for r in rows)
        print(f"trials: {len(rows)}")
        for k in (
            "clean",
            "accepted",
            "unclear",
            "destroyed",
            "leaked",
            "traceback",
            "silent",
            "hang",
        ):
            print(f"{k:10s} {counts.get(k, 0)}")
        faults = [r for r in rows if r["input"].startswith("fault:")]
        aborted = [r for r in faults if r["resume"]]
        if faults:
            print(f"server faults: {len(faults)} trials; aborted runs resumed losslessly: "
                  f"{sum(r['resume'] == 'resumed' for r in aborted)} of {len(aborted)}")  # fmt: skip
        proxy = Counter(r["outcome"] for r in rows if r["input"].startswith("proxy:"))
        if proxy:
            print(
                f"proxy: {sum(proxy.values())} trials: "
                + ", ".join(f"{k} {v}" for k, v in sorted(proxy.items()))
            )
        for r in rows:
            if r["outcome"] not in ("clean", "accepted") or r.get("resume") == "LOST":
                print(f"  {r['outcome']}: {r['input']} x {r['command']}: {r['line']}")

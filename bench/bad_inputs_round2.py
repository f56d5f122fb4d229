"""The second round of hostile inputs (issue 39): each case of its list, run as a user would.

    python bench/bench_bad_inputs.py --round2    # this section alone (also part of a full run)

Every case runs ``deepprune.cli.main`` in a forked child (a hang: still running after 60 s) and
inspects what the command did, not only its exit code. Outcomes:
  clean      refused: exit 2 and one line naming the place (flag, file, key or value)
  accepted   a valid input handled as it should be (the case says what it checked)
  destroyed  an input, a device, a FIFO or a file the command did not create was changed
  leaked     a secret appeared in a file, stdout or stderr
  traceback  an exception escaped, or a traceback was printed
  silent     exit 0 on bad input, a wrong result without a word, or a refusal naming no place
  hang       still running after 60 s
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import stat
import traceback
from collections.abc import Callable
from pathlib import Path

from deepprune.cli import main
from deepprune.synth import DEMO_POOL

P = str(DEMO_POOL)
SECRET = "sk-SECRET-7f3a9c"
CASES: dict[str, Callable[[Path], tuple[str, str]]] = {}


def case(name: str):
    def add(fn):
        CASES[name] = fn
        return fn

    return add


def cli(argv: list[str]) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of one in-process run; an escaped exception is re-raised."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(argv)
        except SystemExit as e:
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue(), err.getvalue()


def refused(argv: list[str], *place: str) -> tuple[str, str]:
    """The outcome of a run that must be refused with one line naming ``place``."""
    rc, _, err = cli(argv)
    last = ([ln for ln in err.splitlines() if ln.strip()] or [""])[-1]
    if "Traceback (most recent call last)" in err:
        return "traceback", last
    if rc == 0:
        return "silent", "exit 0 on bad input"
    if rc != 2 or not any(p in last for p in place):
        return "silent", f"exit {rc}, naming no place: {last}"
    return "clean", last


def _files(d: Path) -> dict[str, bytes]:
    return {
        str(p): p.read_bytes()
        for p in d.rglob("*")
        if p.is_file() and not stat.S_ISFIFO(p.stat().st_mode)
    }


def _lines(path: Path, rows) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _batch(cid: str, text: str, tokens=5, status: int = 200) -> dict:
    body = {
        "choices": [{"text": text, "finish_reason": "stop"}],
        "usage": {"completion_tokens": tokens},
    }
    return {"custom_id": cid, "response": {"status_code": status, "body": body}, "error": None}


BOXED = "so the answer is \\boxed{{{}}}"
REPLAY = ["--backend", "replay", "--pool", P, "--limit", "2", "--no-progress"]
DEEPPRUNE = ["--judge", "lexical:jaccard", "--trunc", "tokens:8", "--K2", "4", "--K3", "4"]


# ---- data destroyed -------------------------------------------------------------------------------

FIFO_OUTPUTS = {
    "prune --markdown": lambda f, d: ["prune", "--pool", P, "--repeats", "1", "--markdown", f, "--out", d],
    "compare --markdown": lambda f, d: ["compare", "--pool", P, "--repeats", "1", "--markdown", f, "--out", d],
    "headroom --markdown": lambda f, d: ["headroom", "--pool", P, "--repeats", "1", "--markdown", f, "--out", d],
    "solve --markdown": lambda f, d: ["solve", *REPLAY, "--methods", "cons@N", "--markdown", f, "--out", d],
    "solve --save-traces": lambda f, d: ["solve", *REPLAY, "--methods", "cons@N", "--save-traces", f, "--out", d],
    "generate --out": lambda f, d: ["generate", *REPLAY, "--n", "2", "--out", f],
    "synth --out": lambda f, d: ["synth", "--out", f],
    "pools import --out": lambda f, d: ["pools", "import", P, "--format", "jsonl", "--out", f],
}  # fmt: skip


def _fifo_case(argv_of):
    def run(d: Path) -> tuple[str, str]:
        fifo = d / "fifo"
        os.mkfifo(fifo)
        outcome = refused(argv_of(str(fifo), str(d / "out")), str(fifo), "fifo")
        if not stat.S_ISFIFO(os.lstat(fifo).st_mode):
            return "destroyed", "the FIFO was replaced by a regular file"
        return outcome

    return run


for _name, _argv in FIFO_OUTPUTS.items():
    case(f"destroy: a FIFO as {_name}")(_fifo_case(_argv))


@case("destroy: --config given as --markdown")
def _config_as_output(d: Path):
    cfg = d / "c.yaml"
    cfg.write_text("repeats: 1\n")
    before = cfg.read_bytes()
    got = refused(["headroom", "--pool", P, "--config", str(cfg), "--markdown", str(cfg), "--out", str(d / "o")],
                  "c.yaml")  # fmt: skip
    return ("destroyed", "the config was overwritten") if cfg.read_bytes() != before else got


def _section_case(flag: bool):
    def run(d: Path):
        readme = d / "README.md"
        readme.write_text("# My project\n\nprose that must stay\n")
        before = readme.read_bytes()
        argv = [
            "prune",
            "--pool",
            P,
            "--repeats",
            "1",
            "--markdown",
            str(readme),
            "--out",
            str(d / "o"),
        ]
        if flag:
            argv += ["--section", ""]
        else:
            (d / "s.yaml").write_text("section: ''\n")
            argv += ["--config", str(d / "s.yaml")]
        got = refused(argv, "section")
        return (
            ("destroyed", "the README's prose was replaced")
            if readme.read_bytes() != before
            else got
        )

    return run


case("destroy: --section ''")(_section_case(True))
case("destroy: section: '' in YAML")(_section_case(False))


@case("destroy: solve --markdown run/records.jsonl")
def _records_as_markdown(d: Path):
    run = d / "run"
    argv = ["solve", *REPLAY, "--methods", "cons@N", "--out", str(run)]
    if cli(argv)[0] != 0:
        return "silent", "the first run failed"
    before = (run / "records.jsonl").read_bytes()
    got = refused([*argv, "--markdown", str(run / "records.jsonl")], "inside the run directory")
    return (
        ("destroyed", "records replaced") if (run / "records.jsonl").read_bytes() != before else got
    )


@case("destroy: figures of a result naming ../")
def _figures_traversal(d: Path):
    res = d / "res"
    res.mkdir()
    (res / "grid.json").write_text(json.dumps([{"pool": "../../evil", "trunc": "../../x", "judge": "j",
                                                "auroc": 0.7, "roc": {"fpr": [0, 1], "tpr": [0, 1]}}]))  # fmt: skip
    out = d / "figs" / "deep"
    rc, _, err = cli(["figures", "--results", str(res), "--out", str(out)])
    written = list(d.rglob("*.png"))
    if any(out not in p.parents for p in written):
        return "destroyed", f"wrote outside --out: {[p.name for p in written]}"
    return (
        ("accepted", "every figure inside --out") if rc == 0 and written else ("silent", err[-200:])
    )


# ---- secrets --------------------------------------------------------------------------------------


def _leak_check(d: Path, *texts: str) -> tuple[str, str] | None:
    for t in texts:
        if SECRET in t:
            return "leaked", "the key was printed"
    for path, data in _files(d).items():
        if SECRET.encode() in data:
            return "leaked", f"the key is in {Path(path).name}"
    return None


@case("secret: solve --api-key K, every output grepped")
def _api_key_outputs(d: Path):
    from deepprune.dev.fault_server import FaultServer

    probs = _lines(d / "p.jsonl", [{"id": "q", "question": "1+1?", "gold": "2"}])
    with FaultServer(api_key=SECRET) as fs:
        rc, out, err = cli(["solve", "--problems", str(probs), "--base-url", fs.url(), "--model", "fault-model",
                            "--api-key", SECRET, "--n", "2", "--max-tokens", "8", "--methods", "cons@N",
                            "--no-progress", "--out", str(d / "run"), "--markdown", str(d / "t.md"),
                            "--save-traces", str(d / "pool.jsonl")])  # fmt: skip
    return _leak_check(d, out, err) or (
        ("accepted", "ran; no key anywhere") if rc == 0 else ("silent", err[-200:])
    )


@case("secret: a judge spec's api_key= in config.json")
def _judge_spec_key(d: Path):
    spec = f"llm:endpoint=http://127.0.0.1:9/v1,model=j,api_key={SECRET}"
    rc, out, err = cli(["solve", *REPLAY, "--methods", "deepprune", "--judge", spec, "--trunc", "tokens:8",
                        "--out", str(d / "run")])  # fmt: skip
    return _leak_check(d, out, err) or (
        "accepted" if rc in (0, 2) else "silent",
        f"exit {rc}; no key anywhere",
    )


@case("secret: user:pass@ in --base-url, printed in an error")
def _url_password(d: Path):
    probs = _lines(d / "p.jsonl", [{"id": "q", "question": "1+1?"}])
    rc, out, err = cli(["solve", "--problems", str(probs), "--base-url", f"http://user:{SECRET}@127.0.0.1:9/v1",
                        "--model", "m", "--retries", "0", "--timeout", "2", "--no-progress"])  # fmt: skip
    return _leak_check(d, out, err) or (
        ("clean", err.strip()[-150:]) if rc == 2 else ("silent", f"exit {rc}")
    )


def _print_config_case(command: list[str]):
    def run(d: Path):
        _, out, err = cli([*command, "--print-config"])
        return _leak_check(d, out, err) or ("accepted", "printed without the key")

    return run


case("secret: solve --print-config")(
    _print_config_case(["solve", "--problems", "p", "--api-key", SECRET])
)
case("secret: proxy --print-config")(
    _print_config_case(
        ["proxy", "--upstream", "http://127.0.0.1:9/v1", "--upstream-api-key", SECRET]
    )
)


# ---- silent wrong results -------------------------------------------------------------------------


@case("silent: one request per sample (Batch n=1) without --group-by")
def _batch_per_sample(d: Path):
    rows = [_batch(f"gsm-{q:03d}-s{s}", BOXED.format(q)) for q in range(3) for s in range(4)]
    src = _lines(d / "b.jsonl", rows)
    got = refused(
        ["pools", "import", str(src), "--format", "openai", "--out", str(d / "p.jsonl")],
        "--group-by",
    )
    if got[0] != "clean":
        return got
    rc, _, err = cli(["pools", "import", str(src), "--format", "openai", "--group-by", r"^(.*)-s\d+$",
                      "--out", str(d / "g.jsonl")])  # fmt: skip
    n = (
        [len(json.loads(x)["traces"]) for x in (d / "g.jsonl").read_text().splitlines()]
        if rc == 0
        else []
    )
    return (
        ("accepted", "refused bare; 3 x 4 with --group-by")
        if n == [4, 4, 4]
        else ("silent", f"{n} {err[-100:]}")
    )


@case("silent: lm-eval with two filters")
def _lm_eval_filters(d: Path):
    rows = [{"doc_id": i, "target": "2", "filter": f, "resps": [[BOXED.format(2)], [BOXED.format(3)]]}
            for i in range(2) for f in ("strict-match", "flexible-extract")]  # fmt: skip
    rc, _, err = cli(["pools", "import", str(_lines(d / "s.jsonl", rows)), "--format", "lm-eval",
                      "--out", str(d / "p.jsonl")])  # fmt: skip
    n = len((d / "p.jsonl").read_text().splitlines()) if rc == 0 else 0
    return ("accepted", "2 questions (one filter)") if n == 2 else ("silent", err[-150:])


@case("silent: a failed Batch line")
def _failed_batch_line(d: Path):
    rows = [_batch("a", BOXED.format(1)), {"custom_id": "b", "response": {"status_code": 500, "body": {}},
                                           "error": {"message": "boom"}}]  # fmt: skip
    rc, _, err = cli(["pools", "import", str(_lines(d / "b.jsonl", rows)), "--format", "openai",
                      "--out", str(d / "p.jsonl")])  # fmt: skip
    ok = rc == 0 and "1 failed request line(s)" in err
    return ("accepted", "skipped, counted, said") if ok else ("silent", f"exit {rc}: {err[-150:]}")


BAD_ROWS = {
    "token count -7": ("openai", _batch("a", "x", tokens=-7), "usage.completion_tokens"),
    "token count 12.5": ("openai", _batch("a", "x", tokens=12.5), "token count"),
    "token count 1e400": ("openai", '{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": '
                          '[{"text": "x"}], "usage": {"completion_tokens": 1e400}}}}', "token count"),
    'token count "12"': ("openai", _batch("a", "x", tokens="12"), "token count"),
    "token count true": ("openai", _batch("a", "x", tokens=True), "token count"),
    "token count 10^30": ("openai", _batch("a", "x", tokens=10**30), "token count"),
    "gold a list": ("lm-eval", {"doc_id": 0, "target": [1], "resps": [["a"]]}, "gold answer"),
    "gold a dict": ("lm-eval", {"doc_id": 0, "target": {"a": 1}, "resps": [["a"]]}, "gold answer"),
    "gold true": ("lm-eval", {"doc_id": 0, "target": True, "resps": [["a"]]}, "gold answer"),
    "gold Infinity": ("lm-eval", '{"doc_id": 0, "target": Infinity, "resps": [["a"]]}', "Infinity"),
    "gold NaN": ("lm-eval", '{"doc_id": 0, "target": NaN, "resps": [["a"]]}', "NaN"),
    'resps "hello"': ("lm-eval", {"doc_id": 0, "target": "1", "resps": "hello"}, "'resps' must be a list"),
    "resps null": ("lm-eval", {"doc_id": 0, "target": "1", "resps": None}, "'resps' must be a list"),
    "response.body a string": ("openai", '{"custom_id": "a", "response": {"body": "x"}}', "response.body"),
    "outputs null": ("openai", '{"outputs": null}', "'outputs' must be a list"),
    "a lone surrogate": ("lm-eval", '{"doc_id": 0, "target": "1", "resps": [["ok \\ud800"]]}', "not valid Unicode"),
    "a 5001-digit gold": ("lm-eval", '{"doc_id": 0, "target": ' + "1" * 5001 + ', "resps": [["a"], ["b"]]}', "x.jsonl:1"),
    "an empty file": ("openai", None, "no question"),
}  # fmt: skip


def _bad_row_case(fmt: str, row, place: str):
    def run(d: Path):
        src = d / "x.jsonl"
        src.write_text(
            "" if row is None else (row if isinstance(row, str) else json.dumps(row)) + "\n"
        )
        out = d / "p.jsonl"
        got = refused(
            ["pools", "import", str(src), "--format", fmt, "--out", str(out)], place, "x.jsonl"
        )
        return ("silent", "a pool was left behind") if out.exists() else got

    return run


for _name, (_fmt, _row, _place) in BAD_ROWS.items():
    case(f"import: {_name}")(_bad_row_case(_fmt, _row, _place))
case("import: --out a directory")(lambda d: refused(["pools", "import", P, "--format", "jsonl", "--out", str(d)],
                                                  "is a directory"))  # fmt: skip
case("import: --out ''")(
    lambda d: refused(["pools", "import", P, "--format", "jsonl", "--out", ""], "empty path")
)


@case("silent: every trace empty (a chat route that returns nothing)")
def _all_empty(d: Path):
    rows = [{"id": f"q{k}", "gold": "1", "traces": [{"text": "", "answer": None, "num_tokens": 0}] * 4}
            for k in range(2)]  # fmt: skip
    pool = _lines(d / "empty.jsonl", rows)
    got = refused(["solve", "--backend", "replay", "--pool", str(pool), "--methods", "cons@N", "--n", "4",
                   "--no-progress", "--out", str(d / "run")], "every trace came back empty")  # fmt: skip
    return ("silent", "results.json left") if (d / "run" / "results.json").exists() else got


@case("silent: short traces, the prefix is the whole trace")
def _whole_prefix(d: Path):
    rows = [{"id": f"q{k}", "gold": "1", "traces": [{"text": f"short trace {i} \\boxed{{1}}", "answer": "1",
             "num_tokens": 8} for i in range(4)]} for k in range(3)]  # fmt: skip
    rc, out, err = cli(["prune", "--pool", str(_lines(d / "s.jsonl", rows)), "--repeats", "1",
                        "--out", str(d / "o")])  # fmt: skip
    ok = rc == 0 and "is the whole trace for 100% of traces" in out
    return ("accepted", "warned: the prefix leaves traces whole") if ok else ("silent", err[-150:])


@case("silent: the recommendation at --repeats 8, 16, 32")
def _stable_advice(d: Path):
    from deepprune.replay.compare import CompareConfig, compare_pool
    from deepprune.replay.harness import OnlineConfig

    said = set()
    for r in (8, 16, 32):
        res = compare_pool(DEMO_POOL, CompareConfig(online=OnlineConfig(repeats=r), n_boot=500))
        a = res["advice"]
        said.add("tied" if a["tied"] else (a["best"] or {}).get("method"))
    same = len(said - {"tied"}) <= 1
    return (
        ("accepted", f"advised: {sorted(map(str, said))}")
        if same
        else ("silent", f"advice moved: {said}")
    )


@case("silent: a pool with nothing to save (one trace per question)")
def _no_op_advice(d: Path):
    from deepprune.pools import write_pool
    from deepprune.replay.advice import recommendation
    from deepprune.replay.compare import CompareConfig, compare_pool
    from deepprune.replay.harness import OnlineConfig
    from deepprune.synth import SynthConfig, synth_pool

    write_pool(
        d / "one.jsonl", synth_pool(SynthConfig(questions=12, traces=1, steps=4, median_tokens=300))
    )
    res = compare_pool(d / "one.jsonl", CompareConfig(online=OnlineConfig(repeats=2), n_boot=200))
    ok = recommendation(res).startswith("**Recommendation.** No method saves here")
    return ("accepted", "No method saves here") if ok else ("silent", recommendation(res)[:150])


@case("silent: the oracle ceiling charged as a judge")
def _free_ceiling(d: Path):
    rc, out, err = cli(["compare", "--pool", P, "--methods", "deepprune-oracle", "--repeats", "2", "--json",
                        "--out", str(d / "o")])  # fmt: skip
    if rc != 0:
        return "silent", err[-150:]
    (p,) = json.loads(out)["points"]
    ok = p["net_tokens"] == p["tokens"] + p.get("probe_tokens", 0.0)
    return (
        ("accepted", "the ceiling's net tokens are its generated tokens")
        if ok
        else ("silent", str(p)[:150])
    )


@case("silent: a judge's cost on a pool without text (NaN cast)")
def _textless_cost(d: Path):
    rows = [{"id": f"q{k}", "gold": "1", "traces": [{"answer": str(i % 2), "num_tokens": 100 + i}
             for i in range(4)]} for k in range(3)]  # fmt: skip
    rc, _, err = cli(["compare", "--pool", str(_lines(d / "a.jsonl", rows)), "--repeats", "1", "--json",
                      "--out", str(d / "o")])  # fmt: skip
    bad = "invalid value encountered" in err
    return (
        ("silent", "a NaN cast warning")
        if bad or rc != 0
        else ("accepted", "no cast; text families skipped")
    )


@case("silent: NaN judge scores")
def _nan_scores(d: Path):
    from deepprune.judges.lexical import JaccardJudge

    JaccardJudge.score_indexed = lambda self, texts, i, j, question=None: [float("nan")] * len(i)
    return refused(["prune", "--pool", P, "--judge", "lexical:jaccard", "--repeats", "1", "--json",
                    "--out", str(d / "o")], "NaN score")  # fmt: skip


# ---- tracebacks and late errors -------------------------------------------------------------------

JUDGE_SPECS = {
    "concurrency=x": ("llm:endpoint=http://h/v1,model=m,concurrency=x", "concurrency=x"),
    "endpoint=http://[::1": ("llm:endpoint=http://[::1,model=m", "endpoint"),
    "both_orders=maybe": (
        "llm:endpoint=http://h/v1,model=m,both_orders=maybe",
        "both_orders=maybe",
    ),
    "question=2": ("llm:endpoint=http://h/v1,model=m,question=2", "question=2"),
}
for _name, (_spec, _place) in JUDGE_SPECS.items():
    case(f"judge spec: {_name}")(
        lambda d, s=_spec, p=_place: refused(
            ["prune", "--pool", P, "--judge", s, "--repeats", "1", "--out", str(d / "o")], p
        )  # fmt: skip
    )


@case("judge spec: an endpoint answering HTML 200")
def _html_judge(d: Path):
    from deepprune.dev.fault_server import FaultServer

    with FaultServer() as fs:
        spec = f"llm:endpoint={fs.url('html200')},model=fault-model,retries=0"
        return refused(["prune", "--pool", P, "--judge", spec, "--trunc", "tokens:8", "--limit", "1",
                        "--repeats", "1", "--json", "--out", str(d / "o")], "127.0.0.1")  # fmt: skip


def _non_utf8(kind: str):
    def run(d: Path):
        f = d / "bad.md"
        f.write_bytes(b"# x\n\xff\xfe\n")
        before = f.read_bytes()
        argv = ["prune", "--pool", P, "--repeats", "1", "--out", str(d / "o")]
        argv += (
            ["--markdown", str(f), "--section", "s"] if kind == "markdown" else ["--config", str(f)]
        )
        got = refused(argv, "bad.md")
        return ("destroyed", "rewritten") if f.read_bytes() != before else got

    return run


case("non-UTF-8 --markdown")(_non_utf8("markdown"))
case("non-UTF-8 --config")(_non_utf8("config"))
YAML_NUMBERS = {"limit: .inf": "limit", "limit: 1.5": "limit", "merge keys": "repeats"}


def _yaml_case(text: str, place: str):
    def run(d: Path):
        (d / "c.yaml").write_text(text)
        return refused(
            ["prune", "--pool", P, "--config", str(d / "c.yaml"), "--out", str(d / "o")], place
        )

    return run


case("YAML limit: .inf")(_yaml_case("limit: .inf\n", "limit"))
case("YAML limit: 1.5")(_yaml_case("limit: 1.5\n", "limit"))
case("YAML merge keys")(_yaml_case("base: &b {repeats: 1}\n<<: *b\n", "c.yaml"))
case("headroom --bootstrap 1000000000")(
    lambda d: refused(
        ["headroom", "--pool", P, "--bootstrap", "1000000000", "--out", str(d / "o")], "n_boot"
    )
)
for _i, _body in enumerate(["[]", "{}", '{"rows": [{}]}', '{"kind": "solve"}', '{"points": 3}']):
    case(f"figures on malformed JSON {_body}")(
        lambda d, b=_body: (
            (d / "r.json").write_text(b)
            and refused(
                ["figures", "--results", str(d / "r.json"), "--out", str(d / "f")], "r.json"
            )
        )
    )


@case("Ctrl-C on solve, then resume")
def _ctrl_c(d: Path):
    import signal
    import subprocess
    import sys
    import time

    from deepprune.dev.fault_server import FaultServer

    probs = _lines(
        d / "p.jsonl", [{"id": f"q{i}", "question": "1+1?", "gold": "2"} for i in range(6)]
    )
    with FaultServer() as fs:
        fs.fail_after("stall", 6)
        cmd = [sys.executable, "-m", "deepprune.cli", "solve", "--problems", str(probs), "--base-url", fs.url(),
               "--model", "fault-model", "--n", "2", "--max-tokens", "8", "--methods", "cons@N", "--no-progress",
               "--concurrent-problems", "1", "--out", str(d / "run")]  # fmt: skip
        proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True)
        time.sleep(8)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1].strip()
        fs.mode = "ok"
        again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    if "Traceback" in err:
        return "traceback", err.splitlines()[-1]
    ok = (
        err.splitlines()[-1].startswith("deepprune: interrupted")
        and "already solved" in again.stderr
    )
    return (
        ("clean", err.splitlines()[-1][:120])
        if ok and again.returncode == 0
        else ("silent", err[-150:])
    )


# ---- the user's path ------------------------------------------------------------------------------


@case("user: make demo, then prune --judge oracle, lexical:tfidf (the default), lexical:jaccard")
def _side_by_side(d: Path):
    os.chdir(d)  # the default --out, runs/prune, under this case's directory
    out = d / "runs" / "prune"
    base = ["prune", "--pool", P, "--repeats", "2", "--json"]
    # lexical:tfidf is the default judge: its run has the demo's settings and reruns into its file
    runs = ([], ["--judge", "oracle"], ["--judge", "lexical:tfidf"], ["--judge", "lexical:jaccard"])
    codes = [cli([*base, *r])[0] for r in runs]
    files = sorted(p.name for p in out.glob("*.json"))
    ok = codes == [0, 0, 0, 0] and len(files) == 3
    return (
        ("accepted", f"all ran; three settings, three files: {files}")
        if ok
        else ("silent", f"{codes} {files}")
    )


def _round_trip(command: list[str]):
    def run(d: Path):
        with contextlib.suppress(SystemExit):
            _, first, _ = cli([*command, "--print-config"])
        (d / "c.yaml").write_text(first)
        with contextlib.suppress(SystemExit):
            _, second, _ = cli([command[0], "--config", str(d / "c.yaml"), "--print-config"])
        return ("accepted", "round trip") if first and first == second else ("silent", "differs")

    return run


case("user: compare --print-config round trip")(
    _round_trip(["compare", "--pool", P, "--tau", "0.6", "--K2", "7"])
)
case("user: proxy --print-config round trip")(
    _round_trip(["proxy", "--upstream", "http://127.0.0.1:9/v1"])
)


@case("user: a gold-less pool gets no empty plot")
def _goldless_plot(d: Path):
    rows = []
    for line in DEMO_POOL.read_text().splitlines()[:3]:
        q = json.loads(line)
        q.pop("gold", None)
        for t in q["traces"]:
            t.pop("correct", None)
        rows.append(q)
    rc, out, _ = cli(["prune", "--pool", str(_lines(d / "ng.jsonl", rows)), "--repeats", "1",
                      "--out", str(d / "o")])  # fmt: skip
    ok = rc == 0 and "no plot" in out and not list((d / "o").glob("*.png"))
    return ("accepted", "no plot, said") if ok else ("silent", out[-150:])


@case("user: --max-tokens past the server's context")
def _context(d: Path):
    from deepprune.dev.fault_server import FaultServer

    probs = _lines(d / "p.jsonl", [{"id": "q", "question": "1+1?", "gold": "2"}])
    with FaultServer(max_model_len=48) as fs:
        rc, _, err = cli(["solve", "--problems", str(probs), "--base-url", fs.url(), "--model", "fault-model",
                          "--n", "2", "--max-tokens", "64", "--methods", "cons@N", "--no-progress",
                          "--out", str(d / "run")])  # fmt: skip
    ok = rc == 0 and "is not below the server's context of 48 tokens" in err
    return ("accepted", "warned") if ok else ("silent", err[-150:])


@case("user: solve on 2 problems has a verdict")
def _verdict(d: Path):
    rc, out, err = cli(
        ["solve", *REPLAY, "--methods", "cons@N,deepprune", *DEEPPRUNE, "--out", str(d / "run")]
    )
    ok = rc == 0 and "Too few problems (2) to decide" in out
    return ("accepted", "too few problems, said") if ok else ("silent", (out + err)[-150:])


@case("user: compare --tau and --K2")
def _compare_k2(d: Path):
    toks = []
    for k2 in (5, 40):
        rc, out, err = cli(["compare", "--pool", P, "--methods", "deepprune", "--tau", "0.5", "--K2", str(k2),
                            "--repeats", "2", "--json", "--out", str(d / f"k{k2}")])  # fmt: skip
        if rc != 0:
            return "silent", err[-150:]
        toks.append(json.loads(out)["points"][0]["tokens"])
    return (
        ("accepted", f"tokens at K2 5 / 40: {toks}") if toks[0] < toks[1] else ("silent", str(toks))
    )


def run_case(fn, d: Path) -> tuple[str, str]:
    try:
        return fn(d)
    except BaseException:  # noqa: BLE001 - the point is to see every escape
        return "traceback", traceback.format_exc().splitlines()[-1]


def round2_trials(d: Path, trial_in_child) -> list[dict]:
    """Every case in a forked child (``trial_in_child(fn)`` -> (outcome, line))."""
    import sys

    rows = []
    for n, (name, fn) in enumerate(CASES.items()):
        cdir = d / f"r2-{n}"
        cdir.mkdir()
        outcome, line = trial_in_child(lambda fn=fn, cdir=cdir: run_case(fn, cdir))
        line = line.replace(str(cdir), "TMP")
        group, _, what = name.partition(": ")
        rows.append({"input": f"round2:{group}", "command": what, "outcome": outcome, "line": line})
        print(f"{outcome:9s} {name[:70]:70s} {line[:90]}", file=sys.stderr, flush=True)
        shutil.rmtree(cdir, ignore_errors=True)
    return rows


# ---- the proxy (issue 37): python bench/bench_bad_inputs.py --proxy -------------------------------

PROXY_REFUSED = {  # bodies a proxy must answer 400 (naming the place), never 200 or 500
    "a judge endpoint URL": ({"deepprune": {"judge": "llm:endpoint=http://127.0.0.1:9/v1,model=x"}}, "judge"),
    "a judge path sbert:/DIR": ({"deepprune": {"judge": "sbert:/tmp"}}, "judge"),
    "a judge path crossencoder:/DIR": ({"deepprune": {"judge": "crossencoder:/tmp"}}, "judge"),
    "calib=/etc/passwd": ({"deepprune": {"judge": "lexical:jaccard,calib=/etc/passwd"}}, "judge"),
    "a judge option (cache growth)": ({"deepprune": {"judge": "sbert,batch=3"}}, "judge"),
    "a non-string judge": ({"deepprune": {"judge": 3}}, "judge"),
    "a lone surrogate prompt": ('{"model": "fault-model", "prompt": "x \\ud800", "n": 4}', "Unicode"),
    "50,000-deep JSON": ("[" * 50000 + "]" * 50000, "JSON"),
    "a 5,000-digit n": ('{"model": "fault-model", "prompt": "x", "n": 1' + "0" * 5000 + "}", "n"),
}  # fmt: skip
BASE = {"model": "fault-model", "prompt": "x", "n": 4, "max_tokens": 20}


def proxy_round2(add, call, outcome, free_port) -> None:
    """Issue 37's cases, each added with ``add(name, command, outcome, line)``; ``call(url, body)``
    posts, ``outcome(status, raw, valid, place)`` classifies as the other proxy trials, and
    ``free_port()`` gives a port to listen on."""
    import socket
    import urllib.request

    from deepprune.dev.fault_server import FaultServer
    from deepprune.errors import ConfigError
    from deepprune.greedy import ClusterConfig
    from deepprune.proxy.job import ProxyConfig, ProxyJob

    cfg = ProxyConfig(
        judge="lexical:jaccard", trunc="tokens:4", max_tokens=20, cluster=ClusterConfig(K2=2, K3=2)
    )
    post = "POST /v1/completions"
    with FaultServer() as fs, ProxyJob(upstream=fs.url("ok"), port=free_port(), method="deepprune", log=os.devnull,
                                        max_body_bytes=200_000, body_timeout=1.0, config=cfg).start() as h:  # fmt: skip
        for name, (body, place) in PROXY_REFUSED.items():
            raw = body if isinstance(body, str) else json.dumps({**BASE, **body})
            add(name, post, *outcome(*call(h.url + "/completions", raw.encode()), False, place))
        # valid requests the vote cannot honour are served (200) and say so; stream n > 1 is SSE
        for name, extra in (("max_tokens below the cut", {"max_tokens": 3}),
                            ("response_format", {"response_format": {"type": "json_object"}})):  # fmt: skip
            status, raw = call(h.url + "/completions", json.dumps({**BASE, **extra}).encode())
            dp = json.loads(raw).get("deepprune", {}) if status == 200 else {}
            ok = status == 200 and dp.get("pruned") is False and dp.get("reason")
            add(
                name,
                post,
                "accepted" if ok else "silent",
                f"HTTP {status}: pruned={dp.get('pruned')}",
            )
        status, raw = call(h.url + "/completions", json.dumps({**BASE, "stream": True}).encode())
        ok = status == 200 and raw.startswith(b"data: ") and raw.rstrip().endswith(b"data: [DONE]")
        add(
            "stream with n > 1",
            post,
            "accepted" if ok else "silent",
            f"HTTP {status}: {raw[:40]!r}",
        )
        add("a body over --max-body-bytes", post, *outcome(*call(h.url + "/completions",
            json.dumps({**BASE, "prompt": "x" * 300_000}).encode()), False, "max-body-bytes"))  # fmt: skip
        with socket.create_connection(("127.0.0.1", h.proxy.job.port)) as s:  # a body that stalls
            s.sendall(b"POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      b"Content-Length: 100\r\n\r\n{")  # fmt: skip
            s.settimeout(30)
            got = s.recv(4096)
        add("a body that stalls", post, "clean" if b" 408 " in got.split(b"\r\n")[0] else "silent",
            got.split(b"\r\n")[0].decode(errors="replace"))  # fmt: skip
        for method, route in (("GET", "/v1/nope"), ("PUT", "/v1/completions")):
            req = urllib.request.Request(h.url.removesuffix("/v1") + route, method=method)
            try:
                urllib.request.urlopen(req, timeout=10)
                st, raw = 200, b"{}"
            except urllib.error.HTTPError as e:
                st, raw = e.code, e.read()
            add(
                f"{method} {route}",
                "routes",
                *outcome(st, raw, False, "route" if st == 404 else "method"),
            )
        with urllib.request.urlopen(h.url.removesuffix("/v1") + "/metrics", timeout=10) as r:
            vals = [
                ln.rsplit(" ", 1)[1]
                for ln in r.read().decode().splitlines()
                if ln and not ln.startswith("#")
            ]
        add("/metrics", "GET /metrics", "accepted" if all(v.isdigit() for v in vals) else "silent",
            f"{len(vals)} values, all integers: {all(v.isdigit() for v in vals)}")  # fmt: skip
    # credentials are per request: a right key first never opens the door for a wrong one
    with FaultServer(api_key="right-key") as locked, ProxyJob(upstream=locked.url("ok"), port=free_port(),
                                                             method="cons@N", log=os.devnull, config=cfg).start() as h:  # fmt: skip
        seen = []
        for key in ("right-key", "wrong", None):
            headers = {
                "Content-Type": "application/json",
                **({"Authorization": f"Bearer {key}"} if key else {}),
            }
            req = urllib.request.Request(
                h.url + "/completions", data=json.dumps(BASE).encode(), headers=headers
            )
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    seen.append(r.status)
            except urllib.error.HTTPError as e:
                seen.append(e.code)
        add("a wrong key after a right one", "credentials", "clean" if seen == [200, 401, 401] else "leaked",
            f"statuses {seen}")  # fmt: skip
    # n above a replayed pool's traces: a 400, never a phantom saving
    with ProxyJob(
        pool=str(DEMO_POOL), port=free_port(), method="cons@N", log=os.devnull
    ).start() as h:
        q = json.loads(DEMO_POOL.read_text().splitlines()[0])
        body = json.dumps({"model": "replay", "prompt": q["question"], "n": 512}).encode()
        add(
            "n = 512 on a 32-trace pool",
            post,
            *outcome(*call(h.url + "/completions", body), False, "n"),
        )
    # start-up flags that would fail every request fail at start-up, one line naming the flag
    for name, kw, place in (("--upstream ftp://", {"upstream": "ftp://x/v1"}, "--upstream"),
                            ("--timeout 0", {"timeout": 0.0}, "--timeout"), ("--retries -1", {"retries": -1}, "--retries"),
                            ("--port 70000", {"port": 70000}, "--port"), ("--log DIR", {"log": "/tmp"}, "--log"),
                            ("the probe judge on a pool without probes", {"pool": str(DEMO_POOL), "method": "deepprune"}, "probe")):  # fmt: skip
        try:
            kw = {"upstream": "http://127.0.0.1:9/v1", **kw} if "pool" not in kw else kw
            ProxyJob(**{"port": free_port(), **kw}).start().__exit__(None, None, None)
            add(name, "start-up", "silent", "started")
        except ConfigError as e:
            add(
                name,
                "start-up",
                "clean" if place in str(e) and "\n" not in str(e) else "unclear",
                str(e)[:120],
            )
        except Exception as e:  # noqa: BLE001 - the point is to see every escape
            add(name, "start-up", "traceback", f"{type(e).__name__}: {e}"[:120])

"""Hostile inputs through the CLI, in-process: exit 2, one line naming the place and the reason,
no traceback, no output left looking complete."""

import gzip
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune.cli import main
from deepprune.errors import ConfigError
from deepprune.pairs import PairConfig, build_pairs
from deepprune.replay.prune import parse_sweep
from tests.conftest import DEMO_POOL, REPLAY_SOLVE

GOOD_PAIR = {"prefix_a": "first a", "prefix_b": "first b", "label": 1, "qid": "q"}


def _files(tmp_path):
    d = tmp_path / "in"
    d.mkdir()
    (d / "ok.jsonl").write_text(json.dumps(GOOD_PAIR) + "\n")
    (d / "null.jsonl").write_text(json.dumps({**GOOD_PAIR, "prefix_a": None}) + "\n")
    (d / "latin1.jsonl").write_bytes(
        json.dumps(GOOD_PAIR).encode() + b"\n" + '{"prefix_a": "é"}'.encode("latin-1")
    )
    (d / "utf16.jsonl").write_bytes(json.dumps(GOOD_PAIR).encode("utf-16"))
    (d / "torn.jsonl.gz").write_bytes(gzip.compress(b'{"prefix_a": "x"}\n' * 50)[:40])
    (d / "bad.jsonl").write_text("{not json\n")
    (d / "empty.jsonl").write_text("")
    (d / "recipe_syntax.yaml").write_text("n: [1, 2\n")
    (d / "recipe_list.yaml").write_text("- 1\n- 2\n")
    (d / "recipe_type.yaml").write_text("n: many\n")
    (d / "recipe_key.yaml").write_text("nn: 3\n")
    q = json.loads(DEMO_POOL.read_text().splitlines()[0])
    no_answer = {
        **q,
        "traces": [{**t, "text": "no final answer here", "answer": None} for t in q["traces"]],
    }
    (d / "noanswer.jsonl").write_text(json.dumps(no_answer) + "\n")
    agree = [
        {
            **q,
            "id": f"a{k}",
            "traces": [
                {**t, "text": t["text"].rsplit("\\boxed", 1)[0] + "\\boxed{7}", "answer": "7"}
                for t in q["traces"][:4]
            ],
        }
        for k in range(6)
    ]
    (d / "agree.jsonl").write_text("".join(json.dumps(x) + "\n" for x in agree))
    return d


CASES = [
    # (argv with {d} for the input folder, words the one-line error must contain)
    (["judge", "eval", "{d}/null.jsonl", "--judge", "lexical:jaccard"], "null.jsonl:1: a pair needs string"),
    (["judge", "eval", "{d}/latin1.jsonl", "--judge", "lexical:jaccard"], "latin1.jsonl:2: not UTF-8"),
    (["judge", "eval", "{d}/utf16.jsonl", "--judge", "lexical:jaccard"], "utf16.jsonl:1: not UTF-8"),
    (["judge", "eval", "{d}/torn.jsonl.gz", "--judge", "lexical:jaccard"], "damaged gzip"),
    (["judge", "eval", "{d}/bad.jsonl", "--judge", "lexical:jaccard"], "bad.jsonl:1: invalid JSON"),
    (["judge", "eval", "{d}/empty.jsonl", "--judge", "lexical:jaccard"], "empty pair file"),
    (["judge", "eval", "{d}", "--judge", "lexical:jaccard"], "is a directory"),
    (["judge", "eval", "{d}/missing.jsonl", "--judge", "lexical:jaccard"], "no such pair file"),
    (["judge", "eval", "{d}/ok.jsonl", "--judge", "lexical:jacard"], "unknown lexical judge"),
    (["judge", "score", "{d}/ok.jsonl", "--judge", "lexical:jaccard", "--batch-size", "-3"], "batch_size"),
    (["prune", "--sweep", "tau=0.9:0.1:0.05"], "START <= STOP"),
    (["prune", "--sweep", "tau=0.1:0.9:0"], "STEP > 0"),
    (["prune", "--sweep", "tau=0.5:1.25:0.25"], "tau must be in [0, 1]"),
    (["prune", "--holdout", "-0.2"], "holdout must be in (0, 1)"),
    (["prune", "--tau", "1.5"], "tau must be in [0, 1]"),
    (["generate", "--problems", "{d}/bad.jsonl", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
      "--out", "{d}/out.jsonl"], "bad.jsonl:1: invalid JSON"),
    (["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", "{d}/o.jsonl", "--config",
      "{d}/recipe_syntax.yaml"], "recipe_syntax.yaml:2: not valid YAML"),
    (["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", "{d}/o.jsonl", "--config",
      "{d}/recipe_list.yaml"], "must be a mapping"),
    (["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", "{d}/o.jsonl", "--config",
      "{d}/recipe_type.yaml"], "n: expected int"),
    (["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", "{d}/o.jsonl", "--config",
      "{d}/recipe_key.yaml"], "unknown config key(s) ['nn']"),
    (["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", "{d}/o.jsonl", "--n", "0"], "n must be >= 1"),
    (["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--trunc", "frac:0.3"], "frac"),
    (["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--methods", "cons@N,best-of"], "unknown method"),
    (["solve", "--problems", "{d}/missing.jsonl", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"], "no such problem file"),
    (["features", "train", "--pool", "{d}", "--out", "{d}/out.jsonl"], "is a directory, not a pool file"),
    (["crossencoder", "train", "--pool", "{d}", "--out", "{d}/out.jsonl"], "is a directory, not a pool file"),
    (["compare", "--pool", "{d}"], "is a directory, not a pool file"),
    (["crossencoder", "train", "--pool", "{d}/bad.jsonl", "--out", "{d}/out.jsonl"], "bad.jsonl:1"),
    (["features", "train", "--pool", "{d}/noanswer.jsonl", "--out", "{d}/out.jsonl"], "no training question has two"),
    (["crossencoder", "train", "--pool", "{d}/noanswer.jsonl", "--out", "{d}/out.jsonl", "--test-fraction", "0"],
     "no pairs: no question has two"),
    (["pairs", "build", "{d}/noanswer.jsonl", "--out", "{d}/out.jsonl"], "no pairs: no question has two"),
    (["features", "train", "--pool", "{d}/agree.jsonl", "--out", "{d}/out.jsonl"], "all one class"),
    (["crossencoder", "train", "--pool", "{d}/agree.jsonl", "--out", "{d}/out.jsonl"], "all one class"),
    (["prune", "--pool", str(DEMO_POOL), "--pool", "{d}/bad.jsonl", "--out", "{d}/o.jsonl"], "bad.jsonl:1"),
    (["prune", "--pool", str(DEMO_POOL), "--out", "{d}/ok.jsonl/sub"], "cannot write here"),
    (["prune", "--judge", "lexical:jaccard", "--judge", "sbertt", "--out", "{d}/o.jsonl"], "unknown judge"),
]  # fmt: skip


@pytest.mark.parametrize("argv,words", CASES, ids=[f"{c[0][0]}-{k}" for k, c in enumerate(CASES)])
def test_bad_input_is_one_line_exit_2(tmp_path, capsys, argv, words):
    d = _files(tmp_path)
    rc = main([a.replace("{d}", str(d)) for a in argv])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and err and err[-1].startswith("deepprune: error:") and words in err[-1], err
    assert not any(line.startswith("Traceback") for line in err)
    assert not (d / "out.jsonl").exists() and not (d / "o.jsonl").exists()


def test_judge_score_out_refuses_to_write_a_partial_file(tmp_path, capsys):
    d = _files(tmp_path)
    pairs = d / "many.jsonl"
    pairs.write_text(
        "".join(json.dumps({**GOOD_PAIR, "prefix_b": f"b{i}"}) + "\n" for i in range(10))
    )
    out = tmp_path / "scores.jsonl"
    rc = main(["judge", "score", str(pairs), "--judge", "lexical:jaccard", "--shards", "2", "--shard-id", "0",
               "--out", str(out), "--no-progress"])  # fmt: skip
    assert rc == 2 and "have no score yet" in capsys.readouterr().err and not out.exists()


@settings(deadline=None)
@given(a=st.floats(-2, 2), b=st.floats(-2, 2), step=st.floats(-1, 1))
def test_the_sweep_parser_accepts_only_valid_taus(a, b, step):
    try:
        taus = parse_sweep(f"tau={a}:{b}:{step}")
    except ConfigError:  # a bad sweep is a config error, never an empty sweep or a traceback
        return
    assert step > 0 and a <= b and 0 < len(taus) <= 1000
    assert all(0 <= t <= 1 for t in taus) and taus == sorted(taus)


def _fails_naming(capsys, argv, *needles):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0, err
    for n in needles:
        assert n in err, err
    return err


def test_an_output_never_destroys_an_input(tmp_path, capsys):
    d = tmp_path / "data"
    d.mkdir()
    pool = d / "pool.jsonl"
    shutil.copy(DEMO_POOL, pool)
    before = pool.read_bytes()
    _fails_naming(capsys, ["pairs", "build", str(pool), "--out", str(d)], "contains the input")
    _fails_naming(capsys, ["pairs", "build", str(pool), "--out", str(pool)], "is the input")
    _fails_naming(
        capsys,
        ["prune", "--pool", str(pool), "--markdown", str(pool), "--repeats", "1"],
        "is the input",
    )
    probs = d / "p.jsonl"
    probs.write_text(json.dumps({"id": "a", "question": "?"}) + "\n")
    _fails_naming(capsys, ["solve", "--problems", str(probs), "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                           "--markdown", str(probs)], "is the input --problems")  # fmt: skip
    _fails_naming(capsys, ["generate", "--problems", str(probs), "--base-url", "http://127.0.0.1:9/v1",
                           "--model", "m", "--out", str(probs)], "is the input")  # fmt: skip
    # pairs build replaces only a directory it wrote itself (its manifest marks it)
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    _fails_naming(capsys, ["pairs", "build", str(pool), "--out", str(foreign)], "did not write")
    assert (foreign / "notes.txt").read_text() == "keep me" and pool.read_bytes() == before
    out = tmp_path / "pairs"
    assert main(["pairs", "build", str(pool), "--out", str(out)]) == 0
    assert main(["pairs", "build", str(pool), "--out", str(out)]) == 0  # its own output: replaced


def test_unwritable_outputs_fail_before_any_work(tmp_path, capsys):
    import os

    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.geteuid() == 0:  # permission bits do not stop root: a place nobody can write
        locked = Path("/proc/sys/deepprune-test")
    srv = REPLAY_SOLVE
    _fails_naming(capsys, ["solve", *srv, "--markdown", str(locked / "t.md")], "cannot write here")
    _fails_naming(capsys, ["solve", *srv, "--out", str(locked / "run")], "cannot write here")
    _fails_naming(capsys, ["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", str(locked / "p.jsonl")],
                  "cannot write here")  # fmt: skip
    afile = tmp_path / "afile"
    afile.write_text("x")
    _fails_naming(capsys, ["solve", *srv, "--out", str(afile)], "is a file")
    _fails_naming(capsys, ["solve", *srv, "--markdown", str(tmp_path)], "is a directory")
    assert afile.read_text() == "x"


def test_two_inputs_with_one_file_name_are_refused(tmp_path, capsys):
    for sub in ("a", "b"):
        (tmp_path / sub).mkdir()
        shutil.copy(DEMO_POOL, tmp_path / sub / "pool.jsonl")
    a, b = str(tmp_path / "a" / "pool.jsonl"), str(tmp_path / "b" / "pool.jsonl")
    for cmd in (["prune", "--repeats", "1"], ["compare", "--repeats", "1", "--methods", "esc"]):
        _fails_naming(
            capsys, [*cmd, "--pool", a, "--pool", b, "--out", str(tmp_path / "o")], "same results"
        )
    _fails_naming(
        capsys, ["pairs", "build", a, b, "--out", str(tmp_path / "p")], "file name 'pool.jsonl'"
    )
    with pytest.raises(ConfigError, match="rename one"):  # the library too
        build_pairs([a, b], PairConfig())


def test_problems_take_integer_ids_and_yaml_refuses_a_key_given_twice(tmp_path, capsys):
    from deepprune.engine.problems import load_problems

    probs = tmp_path / "p.jsonl"
    probs.write_text('{"id": 3, "question": "1+1?", "gold": 2}\n')
    assert [(p.id, p.gold) for p in load_problems(probs)] == [("3", "2")]  # as pools accept them
    cfg = tmp_path / "c.yaml"
    cfg.write_text("seed: 1\nrepeats: 2\nseed: 2\n")
    _fails_naming(capsys, ["prune", "--config", str(cfg)], f"{cfg}:3", "duplicate key 'seed'")


def test_solve_says_a_replayed_pool_lacks_probes_before_any_output(tmp_path, capsys):
    out = tmp_path / "run"
    _fails_naming(capsys, ["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", str(out)],
                  "has no answer probes")  # fmt: skip
    assert not out.exists()


def test_a_long_prompt_is_text_not_a_path(tmp_path, capsys):
    """check_outputs looks for inputs among the string fields: a prompt of many lines is not one."""
    prompt = "Q: {question}\\n" + "x" * 5000 + "\nA:"
    assert main(["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--judge", "lexical:jaccard",
                 "--trunc", "tokens:8", "--n", "2", "--limit", "1", "--prompt", prompt, "--no-progress",
                 "--out", str(tmp_path / "a")]) == 0  # fmt: skip
    assert main(["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--judge", "lexical:jaccard",
                 "--trunc", "tokens:8", "--n", "2", "--limit", "1", "--prompt", "{question}" + "y" * 300,
                 "--no-progress", "--out", str(tmp_path / "b")]) == 0  # fmt: skip


def test_an_output_that_is_a_fifo_or_a_device_is_refused_and_left_alone(tmp_path, capsys):
    """A rename over a FIFO or a device node would replace it with a regular file (as root, over
    /dev/null itself): every writer refuses, before any work."""
    import os
    import stat

    from deepprune.artifacts import atomic_write
    from deepprune.pools import read_pool, write_pool

    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    srv = REPLAY_SOLVE
    _fails_naming(capsys, ["solve", *srv, "--markdown", str(fifo)], "--markdown", "is a FIFO")
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--repeats", "1", "--markdown", "/dev/null"],
                  "--markdown /dev/null", "is a device")  # fmt: skip
    _fails_naming(capsys, ["generate", "--backend", "replay", "--pool", str(DEMO_POOL), "--out", str(fifo)],
                  "is a FIFO")  # fmt: skip
    with pytest.raises(ConfigError, match="is a FIFO"):
        atomic_write(fifo, "x")
    with pytest.raises(ConfigError, match="is a FIFO"):
        write_pool(fifo, read_pool(DEMO_POOL))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_the_config_file_is_an_input(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("repeats: 1\n")
    before = cfg.read_bytes()
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--config", str(cfg), "--markdown", str(cfg)],
                  "is the input --config")  # fmt: skip
    assert cfg.read_bytes() == before


def test_an_empty_section_name_is_an_error_and_the_readme_stays(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(
        "prose\n<!-- begin generated:  -->\nold\n<!-- end generated:  -->\nmore prose\n"
    )
    before = readme.read_bytes()
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--repeats", "1", "--markdown", str(readme),
                           "--section", ""], "--section", "empty section name")  # fmt: skip
    cfg = tmp_path / "c.yaml"
    cfg.write_text("section: ''\nrepeats: 1\n")
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--config", str(cfg), "--markdown", str(readme)],
                  "empty section name")  # fmt: skip
    assert readme.read_bytes() == before


def test_solve_never_writes_its_report_over_the_run_directorys_own_files(tmp_path, capsys):
    run = tmp_path / "run"
    srv = ["--backend", "replay", "--pool", str(DEMO_POOL), "--judge", "lexical:jaccard", "--trunc",
           "tokens:8", "--limit", "1", "--no-progress", "--out", str(run)]  # fmt: skip
    _fails_naming(
        capsys,
        ["solve", *srv, "--markdown", str(run / "records.jsonl")],
        "inside the run directory",
    )
    assert not (run / "records.jsonl").exists()


def test_figures_write_only_inside_out_whatever_names_a_result_holds(tmp_path, capsys):
    res = tmp_path / "res"
    res.mkdir()
    rows = [
        {
            "pool": "../../evil",
            "trunc": "../../x",
            "judge": "j",
            "auroc": 0.7,
            "roc": {"fpr": [0, 1], "tpr": [0, 1]},
        }
    ]
    (res / "grid.json").write_text(json.dumps(rows))
    out = tmp_path / "figs" / "deep"
    main(["figures", "--results", str(res), "--out", str(out)])
    capsys.readouterr()
    written = [p for p in tmp_path.rglob("*.png")]
    assert written and all(out in p.parents for p in written), written


@pytest.mark.parametrize("body", ["[]", "{}", '{"rows": [{}]}', '[{"auroc": 1}]', '{"kind": "solve"}',
                                  '{"points": 3}', '[{"cons_k_curve": 1}]'])  # fmt: skip
def test_figures_on_malformed_results_is_one_line(tmp_path, capsys, body):
    res = tmp_path / "r.json"
    res.write_text(body)
    rc = main(["figures", "--results", str(res), "--out", str(tmp_path / "f")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and str(res) in err, err


@pytest.mark.parametrize("yaml_text, says", [
    ("limit: .inf\n", "limit: expected a finite int"), ("limit: 1.5\n", "limit: expected an integer"),
    ("repeats: nan\n", "repeats"), ("repeats: 1e400\n", "repeats"),
])  # fmt: skip
def test_yaml_numbers_that_are_not_what_the_field_takes_are_one_line(
    tmp_path, capsys, yaml_text, says
):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(yaml_text)
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--config", str(cfg)], says)


def test_a_non_utf8_config_and_a_huge_bootstrap_are_one_line(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_bytes(b"repeats: 1\n# \xff\xfe\n")
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--config", str(cfg)], "not UTF-8")
    _fails_naming(
        capsys, ["headroom", "--pool", str(DEMO_POOL), "--n-boot", "1000000000"], "n_boot"
    )
    md = tmp_path / "t.md"
    md.write_bytes(b"# x\n\xff\xfe\n")  # a --markdown whose section is to be replaced: not text
    _fails_naming(capsys, ["prune", "--pool", str(DEMO_POOL), "--markdown", str(md), "--section", "s"],
                  f"{md}: not UTF-8 text")  # fmt: skip
    assert md.read_bytes() == b"# x\n\xff\xfe\n"


@pytest.mark.parametrize("command", ["prune", "solve"])
def test_a_nan_judge_score_is_refused_in_replay_and_live(tmp_path, capsys, monkeypatch, command):
    """A judge returning NaN (a NaN logprob) would split every cluster silently: refused."""
    from deepprune.judges.lexical import JaccardJudge

    def nan_scores(self, texts, i, j, question=None):
        s = np.full(len(i), 0.9)
        s[0] = np.nan
        return s

    monkeypatch.setattr(JaccardJudge, "score_indexed", nan_scores)
    out = tmp_path / "out"
    src = [
        "--pool",
        str(DEMO_POOL),
        "--judge",
        "lexical:jaccard",
        "--limit",
        "2",
        "--out",
        str(out),
    ]
    argv = (["prune", *src, "--repeats", "1", "--json"] if command == "prune"
            else ["solve", "--backend", "replay", *src, "--methods", "deepprune", "--trunc", "tokens:8", "--K2", "4", "--K3", "4",
                  "--no-progress"])  # fmt: skip
    _fails_naming(capsys, argv, "judge 'lexical:jaccard' returned 1 NaN score(s)", "refused")
    assert not list(out.rglob("results.json")) and not list(out.glob("*_prune.json"))


def test_a_judge_past_judge_timeout_fails_the_run_in_one_line(tmp_path, capsys, monkeypatch):
    """A judge call (in its worker thread) that outlasts --judge-timeout ends the run, naming it."""
    import time

    from deepprune.judges.lexical import JaccardJudge

    def slow(self, texts, i, j, question=None):
        time.sleep(1.0)
        return np.full(len(i), 0.9)

    monkeypatch.setattr(JaccardJudge, "inline", False)
    monkeypatch.setattr(JaccardJudge, "score_indexed", slow)
    argv = ["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--limit", "1", "--methods", "deepprune",
            "--judge", "lexical:jaccard", "--trunc", "tokens:8", "--K2", "4", "--K3", "4", "--no-progress",
            "--judge-timeout", "0.2", "--out", str(tmp_path / "run")]  # fmt: skip
    _fails_naming(capsys, argv, "judge 'lexical:jaccard': no score within 0.2 s (--judge-timeout)")
    _fails_naming(capsys, [*argv[:-2], "--judge-timeout", "0"], "--judge-timeout must be > 0")

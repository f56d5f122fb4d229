"""Answer-probe pools: validation, the probe:J truncation, and the probe judge."""

import json

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.pools import PoolError, read_pool
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions, run_method
from deepprune.replay.methods import DeepPrune
from tests.conftest import write_jsonl

TRACES = [  # answer, num_tokens, probes every 100 tokens
    ("7", 350, ["3", "7", "7"]), ("7", 420, ["7", "7", "7", "7"]), ("5", 260, ["5", None]), ("7", 90, []),
]  # fmt: skip


def _pool(tmp_path, **extra):
    row = {"id": "q", "gold": "7", "probe_every": 100,
           "traces": [{"answer": a, "num_tokens": n, "probes": p} for a, n, p in TRACES], **extra}  # fmt: skip
    return write_jsonl(tmp_path / "probes.jsonl", [row])


def test_probe_prefixes_cost_j_probes_and_the_judge_compares_their_answers(tmp_path):
    qs = load_questions(_pool(tmp_path), OnlineConfig(trunc="probe:2", repeats=1, shuffle=False))
    q = qs[0]
    assert list(q.prefix_tokens) == [200, 200, 200, 90]  # 2 x probe_every, capped at the trace
    j = get_judge("probe")
    s = j.score_indexed(q.prefixes, np.array([0, 0, 1, 2, 0]), np.array([1, 2, 2, 3, 3]))
    # second probes: 7 vs 7 agree; 7 vs None unknown; 7 vs None; None vs (none) unknown; 7 vs none
    assert list(s) == [1.0, 0.5, 0.5, 0.5, 0.5]
    two = get_judge("probe:last=2").score_indexed(q.prefixes, np.array([0]), np.array([1]))
    assert two[0] == 0.5  # first probes 3 vs 7 differ, second agree


def test_deepprune_with_the_probe_judge_runs_and_text_judges_refuse(tmp_path, capsys):
    pool = _pool(tmp_path)
    cfg = OnlineConfig(trunc="probe:1", repeats=2, cluster=ClusterConfig(K2=1, K3=1))
    qs = load_questions(pool, cfg)
    attach_judge(qs, get_judge("probe"))
    row = run_method(DeepPrune("probe", cfg.cluster), qs, cfg)
    assert "tokens" in row and row["tokens"] < sum(n for _, n, _ in TRACES)
    rc = main(["prune", "--pool", str(pool), "--trunc", "probe:1", "--judge", "lexical:jaccard"])
    assert rc == 2 and "reads the prefixes' text" in capsys.readouterr().err


def test_probe_fields_are_validated(tmp_path):
    bad = write_jsonl(
        tmp_path / "bad.jsonl", [{"id": "q", "probe_every": 0, "traces": [{"answer": "1"}]}]
    )
    with pytest.raises(PoolError, match="probe_every"):
        read_pool(bad)
    bad = write_jsonl(
        tmp_path / "bad2.jsonl",
        [{"id": "q", "probe_every": 5, "traces": [{"answer": "1", "probes": [3]}]}],
    )
    with pytest.raises(PoolError, match="probes"):
        read_pool(bad)
    q = read_pool(_pool(tmp_path))[0]
    assert json.loads(json.dumps(q.to_dict()))["probe_every"] == 100  # preserved on rewrite


def test_pairs_and_judge_eval_on_a_pool_without_text(tmp_path, capsys):
    rows = [{"id": f"q{k}", "gold": "7", "probe_every": 100,
             "traces": [{"answer": a, "num_tokens": n, "probes": p} for a, n, p in TRACES]} for k in range(5)]  # fmt: skip
    pool = write_jsonl(tmp_path / "probes.jsonl", rows)
    assert main(["pairs", "build", str(pool), "--trunc", "probe:2", "--test-fraction", "0.4",
                 "--out", str(tmp_path / "pairs")]) == 0  # fmt: skip
    test = [json.loads(x) for x in (tmp_path / "pairs" / "test.jsonl").read_text().splitlines()]
    assert len(test) == 2 * 6 and json.loads(test[0]["prefix_a"])["probes"] == [
        "3",
        "7",
    ]  # 2 questions x 4C2
    capsys.readouterr()
    assert main(["judge", "eval", str(tmp_path / "pairs" / "test.jsonl"), "--judge", "probe", "--json",
                 "--bootstrap", "0", "--no-progress"]) == 0  # fmt: skip
    m = json.loads(capsys.readouterr().out)
    from sklearn.metrics import roc_auc_score

    from deepprune.judges import JudgePair

    expect = roc_auc_score([t["label"] for t in test], get_judge("probe").score(
        [JudgePair(t["prefix_a"], t["prefix_b"]) for t in test]))  # fmt: skip
    assert m["pairs"] == 12 and m["auroc"] == pytest.approx(expect)
    assert (
        main(
            ["judge", "eval", str(tmp_path / "pairs" / "test.jsonl"), "--judge", "lexical:jaccard"]
        )
        == 2
    )
    assert (
        "the prefixes are probes, and judge 'lexical:jaccard' reads text" in capsys.readouterr().err
    )


def test_the_probe_judge_reads_each_questions_own_probes_and_unknown_is_half():
    import json

    from deepprune.judges.probe import ProbeJudge

    def view(*probes):
        return tuple(json.dumps({"answer_type": "math", "probes": list(p)}) for p in probes)

    j = ProbeJudge()
    q1 = view(["1"], ["1"], ["2"])
    q2 = view(["5"], ["6"], ["6"])  # a second question: its own answers, not q1's cached classes
    assert j.score_indexed(q1, [0, 0], [1, 2]).tolist() == [1.0, 0.0]
    assert j.score_indexed(q2, [0, 1], [1, 2]).tolist() == [0.0, 1.0]
    assert j.score_indexed(q1, [0], [2]).tolist() == [0.0]  # and back
    unknown = view(["1"], [None], ["1"])  # a probe with no answer: unknown, scored 0.5
    assert j.score_indexed(unknown, [0, 1], [1, 2]).tolist() == [0.5, 0.5]
    two = ProbeJudge(last=2)  # the mean over the last two positions: agree, unknown -> 0.75
    assert two.score_indexed(view(["3", "1"], [None, "1"]), [0], [1]).tolist() == [0.75]


def test_the_probe_judge_scores_pairs_and_costs_the_last_probes_by_hand():
    """``score`` pairs each pair's own two prefixes; ``cost`` charges each trace the probes at the
    last ``last`` positions before the cut (those it reached), nothing for reading, in integers."""
    from deepprune.judges.base import JudgePair
    from deepprune.judges.probe import ProbeJudge
    from deepprune.probes import probe_tokens

    def view(p):
        return json.dumps({"answer_type": "math", "probes": p})

    a, b, c = view(["1", "2"]), view(["3", "2"]), view(["2", None])
    pairs = [JudgePair(a, b), JudgePair(a, c), JudgePair(c, b), JudgePair(b, a)]
    assert ProbeJudge().score(pairs).tolist() == [1.0, 0.5, 0.5, 1.0]
    assert ProbeJudge(last=2).score(pairs).tolist() == [0.5, 0.25, 0.25, 0.5]

    texts = [view(["1", "2", "3"]), view(["1"]), "", view(["4", None])]  # "": no probes yet (live)
    one = ProbeJudge().cost(texts)
    assert one.per_trace.dtype == np.int64 and one.per_prefix.tolist() == [0, 0, 0, 0]
    assert one.per_trace.tolist() == [probe_tokens("3"), 0, 0, 0]  # only the deepest position, 3
    two = ProbeJudge(last=2).cost(texts)
    assert two.per_trace.tolist() == [
        probe_tokens("2") + probe_tokens("3"),
        0,
        0,
        probe_tokens(None),
    ]
    deep = ProbeJudge(last=5).cost(texts)  # more positions than any trace reached: all of them
    assert deep.per_trace.tolist() == [sum(map(probe_tokens, "123")), probe_tokens("1"), 0,
                                       probe_tokens("4") + probe_tokens(None)]  # fmt: skip
    assert ProbeJudge().cost([]).per_trace.tolist() == []
    msg = "the probe judge reads answer probes: use it with --trunc probe:J on a pool with probes"
    for bad in (["not json"], [json.dumps({"text": "x"})]):
        with pytest.raises(ConfigError) as e:
            ProbeJudge().cost(bad)
        assert str(e.value) == msg


def test_the_probe_judge_reads_the_pools_answer_type_and_unreached_positions_are_unknown(
    monkeypatch,
):
    """Answers are compared under the pool's answer type (``1/2`` and ``0.5`` are one math answer,
    two choice answers); a position before the first probe (``last`` above the depth) is unknown,
    an empty text (no probes yet) has none; each question's classes are made once, however many
    pairs are scored; a view without probes is one line naming the fix."""
    from deepprune.judges import probe as probe_module
    from deepprune.judges.probe import ProbeJudge

    def view(kind, *probes):
        return tuple(json.dumps({"answer_type": kind, "probes": list(p)}) for p in probes)

    assert ProbeJudge().score_indexed(view("math", ["1/2"], ["0.5"]), [0], [1]).tolist() == [1.0]
    assert ProbeJudge().score_indexed(view("choice", ["1/2"], ["0.5"]), [0], [1]).tolist() == [0.0]
    # depth 1 under last=2: the second position back is unknown for both -> (1 + 0.5) / 2
    assert ProbeJudge(last=2).score_indexed(view("math", ["4"], ["4"]), [0], [1]).tolist() == [0.75]
    texts = (*view("math", ["4"]), "")
    assert ProbeJudge().score_indexed(texts, [0], [1]).tolist() == [0.5]

    made = []
    real = probe_module.AnswerClasses
    monkeypatch.setattr(probe_module, "AnswerClasses", lambda *a: made.append(a) or real(*a))
    j, q = ProbeJudge(last=2), view("math", ["1", "2"], ["1", "2"], ["3", "2"])
    for _ in range(3):
        assert j.score_indexed(q, [0, 0], [1, 2]).tolist() == [1.0, 0.5]
    assert len(made) == 2  # two positions, once each

    msg = "the probe judge reads answer probes: use it with --trunc probe:J on a pool with probes"
    with pytest.raises(ConfigError) as e:
        ProbeJudge().score_indexed(("plain text", "more"), [0], [1])
    assert str(e.value) == msg
    with pytest.raises(ConfigError) as e:
        ProbeJudge(last=0)
    assert str(e.value) == "probe judge: last must be >= 1, got 0"
    assert (ProbeJudge().id, ProbeJudge(last=3).id) == ("probe", "probe:last=3")

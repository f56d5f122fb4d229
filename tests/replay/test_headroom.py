"""The headroom table: the oracle allocator, the ASC allocator, cons@k, detectability."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune.cli import main
from deepprune.errors import ConfigError
from deepprune.metrics import MAX_BOOT
from deepprune.replay.headroom import (
    HeadroomConfig,
    asc_allocation,
    default_budgets,
    headroom_markdown,
    headroom_pool,
    min_detectable,
    oracle_allocation,
    prefix_votes,
)
from deepprune.vote import majority_class
from tests.conftest import shared_pool, write_jsonl


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-1, 3), min_size=1, max_size=12), st.integers(-1, 3))
def test_prefix_votes_equal_the_project_vote_on_every_prefix(labels, gold):
    """gold -1: the gold matches no trace's answer; a vote with no answer is never correct."""
    order = list(range(len(labels)))
    got = prefix_votes(np.array(labels), order, gold)
    votes = [majority_class(labels[: m + 1]) for m in range(len(labels))]
    want = [v >= 0 and v == gold for v in votes]
    assert got.tolist() == want


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_the_oracle_is_never_below_cons_k_at_cons_k_budget(data):
    Q, R, n = (
        data.draw(st.integers(1, 5)),
        data.draw(st.integers(1, 3)),
        data.draw(st.integers(1, 6)),
    )
    rng = np.random.default_rng(data.draw(st.integers(0, 10**6)))
    labels = rng.integers(-1, 3, size=(Q, R, n))
    tokens = rng.integers(1, 50, size=(Q, R, n)).astype(float)
    ok = np.array(
        [[prefix_votes(labels[a, r], list(range(n)), 0) for r in range(R)] for a in range(Q)]
    )
    cost = np.cumsum(tokens, axis=2)
    fix = np.where(ok.any(2), np.take_along_axis(cost, ok.argmax(2)[..., None], 2)[..., 0], np.inf)
    for k in range(1, n + 1):
        budget = cost[:, :, k - 1].mean()
        orc = oracle_allocation(cost[:, :, 0], ok[:, :, 0], fix, budget)
        assert orc.mean() >= ok[:, :, k - 1].mean() - 1e-12
        # and it spends no more than that budget
        spent = np.where(orc & ~ok[:, :, 0], fix, cost[:, :, 0]).sum()
        assert spent <= budget * Q * R + 1e-6


def test_oracle_funds_the_cheapest_fixes_first():
    # three items: first trace right (a), fixable at 30 extra tokens (b), at 10 extra (c)
    first_cost = np.array([[10.0, 10.0, 10.0]])
    first_ok = np.array([[True, False, False]])
    fix = np.array([[10.0, 40.0, 20.0]])
    # budget 40/item: spare 120 - 30 = 90 -> both fixes (10 + 30); budget 15: spare 15 -> only c
    assert oracle_allocation(first_cost, first_ok, fix, 40.0).tolist() == [[True, True, True]]
    assert oracle_allocation(first_cost, first_ok, fix, 15.0).tolist() == [[True, False, True]]
    assert oracle_allocation(first_cost, first_ok, fix, 10.0).tolist() == [[True, False, False]]


def test_asc_allocator_gives_the_next_trace_to_the_least_certain_question():
    # q0: first answer 1 (Beta conf 0.75 after one vote); q1 as well; after q0 draws a second
    # agreeing vote (conf 0.875) the next goes to q1 (0.75 < 0.875); its answers then split
    # 2 / 3 (conf 0.5), so the third goes to q1 again
    tokens = [np.array([1.0, 2.0, 4.0]), np.array([10.0, 20.0, 40.0])]
    labels = [np.array([1, 1, 1]), np.array([2, 3, 2])]
    spent, hist = asc_allocation(tokens, labels, [[0, 1, 2], [0, 1, 2]], 3)
    assert [h.tolist() for h in hist] == [[1, 1], [2, 1], [2, 2], [2, 3]]
    assert spent.tolist() == [11.0, 13.0, 33.0, 73.0]


def test_min_detectable_is_four_of_thirty_questions():
    assert min_detectable(30, 1000) == 4


def test_headroom_on_a_hand_built_pool(tmp_path):
    # q1: answers 7,5,5 (gold 5) in pool order; q2: 5 right first. One repeat, pool order.
    rows = [{"id": "q1", "gold": "5", "answer_type": "math", "traces": [
                {"answer": "7", "num_tokens": 10}, {"answer": "5", "num_tokens": 10}, {"answer": "5", "num_tokens": 10}]},
            {"id": "q2", "gold": "5", "answer_type": "math", "traces": [
                {"answer": "5", "num_tokens": 20}, {"answer": "5", "num_tokens": 20}, {"answer": "8", "num_tokens": 20}]}]  # fmt: skip
    pool = write_jsonl(tmp_path / "p.jsonl", rows)
    res = headroom_pool(
        pool, HeadroomConfig(repeats=1, budgets=(1, 2, 3), n_boot=50, shuffle=False)
    )
    r1, r2, r3 = res["rows"]
    assert (r1["tokens"], r1["cons_k_accuracy"], r1["oracle_accuracy"]) == (
        15,
        0.5,
        0.5,
    )  # (10 + 20) / 2
    # k = 2: 30 tokens/q; cons@2 votes 7,5 on q1 (tie: 7, seen first): 50%. The oracle fixes q1
    # with its first 3 traces (20 extra tokens) from the 60 - 30 = 30 spare
    assert (r2["tokens"], r2["cons_k_accuracy"], r2["oracle_accuracy"]) == (30, 0.5, 1.0)
    assert r2["headroom"] == 0.5 and r2["questions_with_headroom"] == 1
    assert (r3["tokens"], r3["cons_k_accuracy"], r3["oracle_accuracy"]) == (45, 1.0, 1.0)
    # the ASC allocator at k = 2 (4 traces): q2 (two 5s... first one 5: conf 0.75) and q1 (7: 0.75)
    # tie -> q1 first (7, 5: conf 0.5), then q1 again: 7, 5, 5 -> correct; spent 10+20 + 10 + 10
    assert r2["asc_accuracy"] == 1.0 and r2["asc_tokens"] == 50 / 2


def test_headroom_cli_writes_markdown_and_refuses_a_budget_past_n(tmp_path, capsys):
    rows = [{"id": "q", "gold": "1", "answer_type": "math",
             "traces": [{"answer": "1", "num_tokens": 5}, {"answer": "2", "num_tokens": 5}]}]  # fmt: skip
    pool = write_jsonl(tmp_path / "p.jsonl", rows)
    md = tmp_path / "h.md"
    assert main(["headroom", "--pool", str(pool), "--repeats", "2", "--bootstrap", "20", "--markdown", str(md),
                 "--out", str(tmp_path / "o")]) == 0  # fmt: skip
    assert "| 2 | 10 |" in md.read_text()
    assert json.loads((tmp_path / "o" / "p_headroom.json").read_text())["rows"][0]["k"] == 1
    assert (tmp_path / "o" / "p_headroom.png").stat().st_size > 1000
    assert main(["figures", "--results", str(tmp_path / "o"), "--out", str(tmp_path / "f")]) == 0
    assert (tmp_path / "f" / "p_headroom.png").stat().st_size > 1000
    capsys.readouterr()
    assert (
        main(["headroom", "--pool", str(pool), "--budgets", "3", "--out", str(tmp_path / "o2")])
        == 2
    )
    assert "exceeds the pool's 2 traces" in capsys.readouterr().err


def test_headroom_on_the_shared_probe_pool_bounds_cons_k():
    res = headroom_pool(
        shared_pool("probe-qwen3-8b-aime24-n128.jsonl"), HeadroomConfig(repeats=4, n_boot=100)
    )
    for r in res["rows"]:
        assert r["oracle_accuracy"] >= r["cons_k_accuracy"] - 1e-12
        assert r["headroom_ci95"][0] <= r["headroom"] <= r["headroom_ci95"][1]
    assert res["rows"][-1]["cons_k_accuracy"] == pytest.approx(res["cons_n_accuracy"])


def test_a_question_with_fewer_traces_keeps_its_last_vote_beyond_them(tmp_path):
    rows = [{"id": "a", "gold": "1", "answer_type": "math", "traces": [
                {"answer": "2", "num_tokens": 10}, {"answer": "1", "num_tokens": 10}, {"answer": "1", "num_tokens": 10}]},
            {"id": "b", "gold": "1", "answer_type": "math", "traces": [
                {"answer": "1", "num_tokens": 4}, {"answer": "2", "num_tokens": 4}]}]  # fmt: skip
    res = headroom_pool(
        write_jsonl(tmp_path / "p.jsonl", rows), HeadroomConfig(repeats=1, shuffle=False, n_boot=10)
    )
    assert res["traces_per_question"] == 3 and [r["k"] for r in res["rows"]] == [1, 2, 3]
    last = res["rows"][-1]  # b at k = 3 is b's cons@2 (tie: 1, seen first) and costs its 8 tokens
    assert last["cons_k_accuracy"] == 1.0 and last["tokens"] == (30 + 8) / 2
    assert res["cons_n_accuracy"] == 1.0


@pytest.mark.parametrize("kw,says", [({"repeats": 0}, "repeats must be >= 1"), ({"budgets": (2, 0)}, "every k must be >= 1"),
                                     ({"n_boot": -1}, "n_boot"), ({"n_boot": MAX_BOOT + 1}, "n_boot")])  # fmt: skip
def test_the_headroom_settings_are_checked(kw, says):
    with pytest.raises(ConfigError, match=says):
        HeadroomConfig(**kw)
    HeadroomConfig(repeats=1, budgets=(1,), n_boot=MAX_BOOT)  # the edges themselves are fine


def test_default_budgets_and_the_smallest_detectable_gain():
    assert default_budgets(1) == [1] and default_budgets(5) == [1, 2, 3, 4, 5]
    assert default_budgets(32) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32]
    assert default_budgets(300)[-3:] == [192, 256, 300]
    assert min_detectable(1, 100) == 1 and min_detectable(2, 1000) == 2
    assert min_detectable(3, 0) is None  # no resamples: no interval excludes 0


def test_the_headroom_result_and_its_markdown_by_hand(tmp_path):
    rows = [{"id": "q1", "gold": "5", "answer_type": "math", "traces": [
                {"answer": "7", "num_tokens": 10}, {"answer": "5", "num_tokens": 10}, {"answer": "5", "num_tokens": 10}]},
            {"id": "q2", "gold": "5", "answer_type": "math", "traces": [
                {"answer": "5", "num_tokens": 20}, {"answer": "5", "num_tokens": 20}, {"answer": "8", "num_tokens": 20}]},
            {"id": "q3", "answer_type": "math", "traces": [{"answer": "1", "num_tokens": 1}]}]  # no gold: left out  # fmt: skip
    pool = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = HeadroomConfig(repeats=1, budgets=(2, 1), n_boot=50, shuffle=False)
    res = headroom_pool(pool, cfg)
    assert (res["pool"], res["questions"], res["traces_per_question"], res["repeats"]) == (
        str(pool),
        2,
        3,
        1,
    )
    # cons@3: q1 7,5,5 -> 5; q2 5,5,8 -> 5; 30 and 60 tokens
    assert (res["cons_n_accuracy"], res["cons_n_tokens"]) == (1.0, 45.0)
    assert res["min_detectable_questions"] == min_detectable(2, 50) and res["config"][
        "budgets"
    ] == (2, 1)
    assert [r["k"] for r in res["rows"]] == [1, 2]  # sorted
    r2 = res["rows"][1]
    assert r2["headroom_ci95"] == [0.0, 1.0]  # per question: q1 +1, q2 0
    md = headroom_markdown(res).splitlines()
    assert md[0] == "### p.jsonl"
    assert md[1] == ("2 questions × up to 3 traces, 1 arrival orders; cons@N 100.0% at 45 tokens/question. A paired 95% "
                     f"interval over these 2 questions excludes 0 only for a method that gains on at least "
                     f"{res['min_detectable_questions']} questions and loses on none.")  # fmt: skip
    assert md[5] == "| 1 | 15 | 50.0% | 50.0% | +0.0 [+0.0, +0.0] | 0 | 50.0% | 15 |"
    assert md[6] == "| 2 | 30 | 50.0% | 100.0% | +50.0 [+0.0, +100.0] | 1 | 100.0% | 25 |"
    none = headroom_markdown({**res, "min_detectable_questions": None})
    assert "gains on at least more than all questions" in none
    with pytest.raises(ConfigError, match="no question has a gold answer"):
        headroom_pool(write_jsonl(tmp_path / "n.jsonl", rows[2:]), cfg)


def _asc_by_hand(tokens, labels, orders, steps):
    """ASC's allocator without a heap: each step, the question with traces left whose leader is
    least certain (Beta confidence of its two largest answer counts; no answer yet: 0) draws its
    next trace; ties go to the lower question index."""
    from deepprune.stopping import beta_leader

    drawn = [1] * len(tokens)

    def conf(a):
        seen = [int(labels[a][i]) for i in orders[a][: drawn[a]] if labels[a][i] >= 0]
        top = sorted((seen.count(c) for c in set(seen)), reverse=True) + [0]
        return beta_leader(top[0], top[1]) if seen else 0.0

    spent = [sum(float(t[o[0]]) for t, o in zip(tokens, orders, strict=True))]
    hist = [list(drawn)]
    for _ in range(steps):
        open_ = [a for a in range(len(tokens)) if drawn[a] < len(orders[a])]
        if open_:
            a = min(open_, key=lambda a: (conf(a), a))
            spent.append(spent[-1] + float(tokens[a][orders[a][drawn[a]]]))
            drawn[a] += 1
        else:
            spent.append(spent[-1])
        hist.append(list(drawn))
    return spent, hist


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_the_asc_allocator_equals_its_definition(data):
    """Random questions of 1-8 traces, answers with no-answers (-1) among them, random orders."""
    nq = data.draw(st.integers(1, 4))
    tokens, labels, orders = [], [], []
    for _ in range(nq):
        n = data.draw(st.integers(1, 8))
        tokens.append(
            np.array(data.draw(st.lists(st.integers(1, 50), min_size=n, max_size=n)), float)
        )
        labels.append(np.array(data.draw(st.lists(st.integers(-1, 2), min_size=n, max_size=n))))
        orders.append(data.draw(st.permutations(range(n))))
    steps = data.draw(st.integers(0, 24))
    spent, hist = asc_allocation(tokens, labels, orders, steps)
    want_spent, want_hist = _asc_by_hand(tokens, labels, orders, steps)
    assert spent.tolist() == want_spent
    assert [h.tolist() for h in hist] == want_hist


def test_the_asc_allocator_reads_the_leaders_count_first():
    # found by a random search: the allocator that sorts the counts the other way round (reading
    # the runner-up as the leader) gives q0 its 6th trace at step 6; the definition gives it to q1
    labels = [[3, 0, 0, -1, 0, 0, 1, 3], [-1, 3, 2, 0, -1], [2, 3, 3, 1, 1, 2, 1, 0]]
    tokens = [np.ones(len(x)) for x in labels]
    orders = [list(range(len(x))) for x in labels]
    args = (tokens, [np.array(x) for x in labels], orders, 18)
    hist = [h.tolist() for h in asc_allocation(*args)[1]]
    assert hist == _asc_by_hand(*args)[1]
    assert hist[6] == [5, 3, 1]


def test_the_oracle_funds_a_fix_that_costs_exactly_the_spare_tokens():
    first_cost, first_ok = np.array([[10.0, 10.0]]), np.array([[False, False]])
    fix = np.array([[30.0, 40.0]])  # extra 20 and 30: 50 in all
    assert oracle_allocation(first_cost, first_ok, fix, 35.0).tolist() == [[True, True]]  # spare 50
    assert oracle_allocation(first_cost, first_ok, fix, 34.75).tolist() == [
        [True, False]
    ]  # spare 49.5
    # forty equal fixes, spare for twenty: the first twenty in item order (a stable sort)
    cost, ok, fix = np.full((1, 40), 1.0), np.zeros((1, 40), bool), np.full((1, 40), 2.0)
    funded = oracle_allocation(cost, ok, fix, 1.5)
    assert funded[0].tolist() == [True] * 20 + [False] * 20


def test_the_headroom_markdown_by_hand():
    res = {"pool": "/x/p.jsonl", "questions": 30, "traces_per_question": 64, "repeats": 8,
           "cons_n_accuracy": 0.8125, "cons_n_tokens": 123456.4, "min_detectable_questions": 4,
           "rows": [{"k": 2, "tokens": 4321.5, "cons_k_accuracy": 0.5, "oracle_accuracy": 0.625, "headroom": 0.125,
                     "headroom_ci95": [0.0625, 0.25], "questions_with_headroom": 7, "asc_accuracy": 0.55,
                     "asc_tokens": 4000.0}]}  # fmt: skip
    assert headroom_markdown(res).splitlines() == [
        "### p.jsonl",
        "30 questions × up to 64 traces, 8 arrival orders; cons@N 81.2% at 123,456 tokens/question. A paired 95% "
        "interval over these 30 questions excludes 0 only for a method that gains on at least 4 questions and loses "
        "on none.",
        "",
        "| k | tokens / question | cons@k | oracle allocator, same tokens | headroom (oracle − cons@k) [95% CI] "
        "| questions with headroom | ASC allocator (k × questions traces) | its tokens / question |",
        "|---|---|---|---|---|---|---|---|",
        "| 2 | 4,322 | 50.0% | 62.5% | +12.5 [+6.2, +25.0] | 7 | 55.0% | 4,000 |",
    ]


def test_the_default_budget_grid_and_no_resamples():
    assert default_budgets(300) == [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 300]  # fmt: skip
    assert HeadroomConfig(n_boot=0).n_boot == 0  # no interval, but a table


def _headroom_by_definition(qs, orders, k, R):
    """One row of the headroom table computed naively: per (question, repeat), the vote of the
    first k traces of its order (a question with fewer traces: all of them), the oracle's fixes,
    the ASC allocator read off after (k - 1) x Q extra traces."""
    Q = len(qs)

    def right(a, idx):
        return (
            majority_class(qs[a].labels[idx].tolist()) == qs[a].gold_class and qs[a].gold_class >= 0
        )

    def cost(a, idx):
        return float(qs[a].tokens[idx].sum())

    cons_ok = np.array([[right(a, orders[a][r][:k]) for r in range(R)] for a in range(Q)])
    cons_tok = np.array([[cost(a, orders[a][r][:k]) for r in range(R)] for a in range(Q)])
    first_cost = np.array([[cost(a, orders[a][r][:1]) for r in range(R)] for a in range(Q)])
    first_ok = np.array([[right(a, orders[a][r][:1]) for r in range(R)] for a in range(Q)])
    fix = np.array([[min((cost(a, orders[a][r][:m]) for m in range(1, qs[a].n + 1) if right(a, orders[a][r][:m])),
                         default=np.inf) for r in range(R)] for a in range(Q)])  # fmt: skip
    orc = oracle_allocation(first_cost, first_ok, fix, float(cons_tok.mean()))
    asc_ok, asc_tok = [], 0.0
    for r in range(R):
        spent, hist = asc_allocation([q.tokens for q in qs], [q.labels for q in qs], [orders[a][r] for a in range(Q)],
                                     (k - 1) * Q)  # fmt: skip
        asc_ok += [right(a, orders[a][r][: hist[-1][a]]) for a in range(Q)]
        asc_tok += spent[-1] / Q / R
    return {"cons_k_accuracy": cons_ok.mean(), "tokens": cons_tok.mean(), "oracle_accuracy": orc.mean(),
            "questions_with_headroom": int(((orc.mean(axis=1) - cons_ok.mean(axis=1)) > 1e-12).sum()),
            "asc_accuracy": float(np.mean(asc_ok)), "asc_tokens": asc_tok}  # fmt: skip


def test_headroom_over_several_seeded_orders_equals_its_definition(tmp_path):
    from deepprune.replay.harness import OnlineConfig, load_questions, orders_for

    answers = [["1", "2", "1", "2", "1"], [None, "1", "2", "2", "1"], ["2", "1", "1"],  # one of 3 traces
               ["3", "3", "1", "1", "1"], [None, "2", "1", "1", "2"]]  # fmt: skip
    rows = [{"id": f"q{i}", "gold": "1", "answer_type": "math",
             "traces": [{"answer": x, "num_tokens": 5 + 7 * j + i} for j, x in enumerate(a)]}
            for i, a in enumerate(answers)]  # fmt: skip
    pool = write_jsonl(tmp_path / "p.jsonl", rows)
    for R, shuffle in (
        (4, True),
        (1, False),
    ):  # seeded orders; the pool's own order (q1: no answer first)
        res = headroom_pool(pool, HeadroomConfig(repeats=R, seed=7, n_boot=20, shuffle=shuffle))
        oc = OnlineConfig(trunc="full", repeats=R, seed=7, shuffle=shuffle)
        qs = [q for q in load_questions(pool, oc) if q.gold_class is not None]
        orders = [orders_for(q, oc) for q in qs]
        assert (len({tuple(o) for o in orders[0]}) > 1) == shuffle  # the repeats' orders differ
        for row in res["rows"]:
            want = _headroom_by_definition(qs, orders, row["k"], R)
            got = {key: row[key] for key in want}
            assert got == pytest.approx(want), (R, row["k"])
    seeded = [headroom_pool(pool, HeadroomConfig(repeats=4, seed=s, n_boot=20)) for s in (7, 8)]
    assert [r["asc_tokens"] for r in seeded[0]["rows"]] != [
        r["asc_tokens"] for r in seeded[1]["rows"]
    ]

"""The live ledger's every column, summary field, table cell and note, computed by hand (issue 38:
the mutation score of ``engine/ledger.py``)."""

import pytest

from deepprune.engine.backends.base import Finish
from deepprune.engine.ledger import (
    MIN_VERDICT_PROBLEMS,
    LiveLedger,
    counter_check,
    run_notes,
    solve_table,
    summarise,
    trace_index,
    verdict,
)


def test_every_column_of_a_record():
    led = LiveLedger(reread_tokens=3, judge_calls=4, judge_tokens=5, inflight_waste=6, sequential_tokens=7,
                     overhead_s=0.5)  # fmt: skip
    led.add(Finish(10, 20, True, "usage", flags=("too many",)), "q/0")
    led.add(Finish(11, None, False, "stream", flags=("odd", "late")), "q/1+4")
    led.add_probe(
        Finish(2, 30, True, "usage", cached_tokens=25, flags=("probe odd",)), "q/0/probe0"
    )
    led.add_probe(Finish(1, None, True, "estimate"), "q/1/probe0.1")
    assert led.record() == {
        "tokens": 21, "prompt_tokens": 20, "reread_tokens": 3, "judge_calls": 4, "judge_tokens": 5,
        "sequential_tokens": 7, "inflight_waste": 6, "overhead_s": 0.5,
        "token_count": ["estimate", "stream", "usage"],
        "requests": [("q/0", 10), ("q/1+4", 11), ("q/0/probe0", 2), ("q/1/probe0.1", 1)],
        "usage_flags": [("q/0", "too many"), ("q/1+4", "odd"), ("q/1+4", "late"), ("q/0/probe0", "probe odd")],
        "probe_calls": 2, "probe_tokens": 3, "probe_prompt_tokens": 30, "probe_cached_tokens": 25,
        "net_tokens": 21 + 3 + (30 - 25),
    }  # fmt: skip


@pytest.mark.parametrize("rid,index", [("q/3", 3), ("q/3+40", 3), ("aime/2024/7/12", 12), ("aime/2024/7/12+5", 12),
                                       ("q/3/probe1", None), ("q/3/probe1.2", None), ("q", None), ("q/x", None), ("probe-set/3", 3),
                                       ("a/b/c", None)])  # fmt: skip
def test_trace_index(rid, index):
    assert trace_index(rid) == index


def test_the_cons_n_estimate_prices_the_completed_traces_mean_over_n():
    led = LiveLedger()
    for rid, n in [
        ("q/0", 4),
        ("q/0+4", 6),
        ("q/1", 4),
        ("q/2", 4),
        ("q/2+4", 16),
        ("q/1/probe0", 3),
    ]:
        led.add(Finish(n, None, True, "usage"), rid)
    # completed 0 and 2: 10 and 20 tokens (prefix + continuation), mean 15, n = 4
    assert led.cons_n_estimate([0, 2], 4) == 60
    assert led.cons_n_estimate([0, 2, 9], 3) == 45  # a trace with no request is not priced
    assert led.cons_n_estimate([], 4) == led.tokens == 37  # nothing completed: what was spent


def _rec(q, m, tokens, correct, wall, **kw):
    return {"question": q, "method": m, "tokens": tokens, "correct": correct, "wall_s": wall, "overhead_s": wall / 10,
            **kw}  # fmt: skip


def test_every_summary_field_by_hand():
    records = [
        _rec("a", "cons@N", 100, True, 2.0), _rec("b", "cons@N", 300, False, 4.0), _rec("c", "cons@N", 200, None, 1.0),
        _rec("a", "x", 50, False, 1.0, probe_tokens=10, probe_calls=2, probe_prompt_tokens=40, net_tokens=70,
             sequential_tokens=30, judge_calls=3, judge_tokens=9, inflight_waste=5, reread_tokens=8,
             agrees_with_consN=True),
        _rec("b", "x", 150, True, 3.0, net_tokens=150, agrees_with_consN=False),
        _rec("c", "x", 100, True, 2.0, agrees_with_consN=None),
        _rec("d", "x", 999, None, 6.0),  # no cons@N record: outside every paired figure
    ]  # fmt: skip
    rows = {r["method"]: r for r in summarise(records, ("cons@N", "x", "absent"), n_boot=200)}
    assert set(rows) == {"cons@N", "x"}  # a method without records has no row
    x = rows["x"]
    assert x["problems"] == 4
    assert x["accuracy"] == pytest.approx(2 / 3)  # a, b, c graded; d not
    assert x["agrees_with_consN"] == 0.5  # a and b said; c and d did not
    assert x["tokens"] == pytest.approx((50 + 150 + 100 + 999) / 4)
    assert x["probe_tokens"] == 2.5 and x["probe_calls"] == 0.5 and x["probe_prompt_tokens"] == 10
    assert x["net_tokens"] == pytest.approx((70 + 150 + 100 + 999) / 4)  # no net_tokens: the tokens
    assert x["reduction_vs_consN"] == pytest.approx(1 - (50 + 150 + 100) / 600)
    assert x["net_reduction_vs_consN"] == pytest.approx(1 - (70 + 150 + 100) / 600)
    assert x["sequential_tokens"] == 7.5 and x["judge_calls"] == 0.75 and x["judge_tokens"] == 2.25
    assert x["inflight_waste"] == 1.25 and x["reread_tokens"] == 2
    assert x["wall_s"] == 3.0 and x["overhead_share"] == pytest.approx(0.1)
    # a: 0 - 1, b: 1 - 0 (c: cons@N has no gold; d: no cons@N): mean 0 over two problems
    assert x["delta_vs_consN"] == 0.0
    lo, hi = x["delta_vs_consN_ci95"]
    assert lo == -1.0 and hi == 1.0  # resampling two problems of -1 and +1
    assert x["wall_p50"] == 2.5 and x["wall_p90"] == pytest.approx(5.1)
    c = rows["cons@N"]
    assert (
        c["accuracy"] == 0.5 and c["reduction_vs_consN"] == 0.0 and c["agrees_with_consN"] is None
    )
    assert c["delta_vs_consN"] == 0.0 and c["delta_vs_consN_ci95"] == [0.0, 0.0]


def test_a_method_that_shares_no_problem_with_cons_n_has_no_reduction():
    rows = summarise([_rec("a", "cons@N", 10, True, 1.0), _rec("b", "x", 5, None, 1.0)], ("x",))
    assert rows[0]["reduction_vs_consN"] is None and rows[0]["net_reduction_vs_consN"] is None
    assert rows[0]["accuracy"] is None and rows[0]["delta_vs_consN"] is None
    assert rows[0]["delta_vs_consN_ci95"] is None


def test_the_table_row_by_hand():
    row = {"method": "x", "problems": 4, "accuracy": 2 / 3, "agrees_with_consN": 0.5, "tokens": 1234.4,
           "probe_tokens": 2.5, "probe_calls": 0.5, "net_tokens": 1300.6, "reduction_vs_consN": 0.5,
           "net_reduction_vs_consN": None, "sequential_tokens": 7.5, "wall_s": 3.04, "judge_calls": 0.75,
           "judge_tokens": 2222.2, "inflight_waste": 1.25, "reread_tokens": 2, "probe_prompt_tokens": 10,
           "overhead_share": 0.1234, "delta_vs_consN": -0.05, "delta_vs_consN_ci95": [-0.1, 0.02],
           "wall_p50": 2.5, "wall_p90": 5.1}  # fmt: skip
    lines = solve_table([row]).splitlines()
    assert (
        len(lines) == 3 and lines[0].count("|") == lines[1].count("|") == lines[2].count("|") == 20
    )
    assert lines[2] == ("| x | 4 | 66.7% | 50.0% | 1,234 | 2 (0) | 1,301 | 50.0% | n/a | 8 | 3.0 | 1 | 2,222 | 1 | 2 "
                        "| 10 | 12.34% | -5.0 [-10.0, +2.0] | 2.50 / 5.10 |")  # fmt: skip
    bare = {**row, "accuracy": None, "agrees_with_consN": None, "delta_vs_consN_ci95": None}
    del bare["wall_p50"], bare["wall_p90"]
    cells = solve_table([bare]).splitlines()[2].split(" | ")
    assert cells[2] == cells[3] == "n/a" and cells[-2] == "n/a" and cells[-1] == "3.04 / 3.04 |"


def test_the_counter_check_by_hand():
    assert counter_check(None, ("c", 5.0), [])["server_counter"] is None
    assert counter_check(("c", 5.0), None, [])["server_counter"] is None
    recs = [{"tokens": 10, "probe_tokens": 3}, {"tokens": 7, "probe_tokens": None}, {"tokens": 1}]
    same = counter_check(("vllm:x", 100.0), ("vllm:x", 121.0), recs)
    assert same == {
        "server_counter": "vllm:x",
        "server_generated_tokens": 21.0,
        "ledger_generated_tokens": 21,
    }
    off = counter_check(("vllm:x", 100.0), ("vllm:x", 1125.0), recs)
    assert off["warning"].startswith(
        "the server counted 1,025 generated tokens (vllm:x), the ledger 21: +1,004"
    )


def _verdict_row(m, problems, net, ci, red=0.5):
    return {"method": m, "problems": problems, "net_tokens": net, "net_reduction_vs_consN": red,
            "delta_vs_consN": sum(ci) / 2, "delta_vs_consN_ci95": ci}  # fmt: skip


def test_the_verdict_at_its_edges():
    n = MIN_VERDICT_PROBLEMS
    assert "Too few problems (9)" in verdict([_verdict_row("cons@N", n - 1, 100, [0, 0])])
    assert "Too few problems (0)" in verdict([])
    no_gold = [
        _verdict_row("cons@N", n, 100, [0, 0]),
        {**_verdict_row("x", n, 50, [0, 0]), "delta_vs_consN_ci95": None},
    ]
    assert verdict(no_gold).startswith("**Verdict.** No gold answers")
    # an upper bound exactly at -1 point stays in; just below it does not
    at = [_verdict_row("cons@N", n, 100, [0, 0]), _verdict_row("x", n, 50, [-0.2, -0.01], None)]
    assert f"On these {n} problems" in verdict(at) and "is x: 0.0% fewer" in verdict(at)
    below = [_verdict_row("cons@N", n, 100, [0, 0]), _verdict_row("x", n, 50, [-0.2, -0.0101])]
    assert "No method stays within 1 point of cons@N on this run: keep cons@N." in verdict(below)
    assert "within 5 point" in verdict(below, drop=0.05)
    # the cheapest by net tokens among those in, whatever the order of the rows
    rows = [_verdict_row("cons@N", n, 100, [0, 0]), _verdict_row("b", n, 60, [-0.01, 0.1]),
            _verdict_row("a", n, 40, [-0.02, 0.0]), _verdict_row("c", n, 50, [0.0, 0.1])]  # fmt: skip
    assert "is a:" in verdict(rows) and "is a:" in verdict(rows[::-1])


def test_run_notes_say_the_time_the_counters_and_the_flags(capsys):
    res = {"rows": [], "client_cpu_share": 0.0123, "client_cpu_s": 0.5, "seconds": 40.64,
           "counters": {"server_counter": "llamacpp:t", "server_generated_tokens": 1234.0,
                        "ledger_generated_tokens": 1200, "warning": "the server counted more"},
           "records": [{"question": "q1", "method": "m", "usage_flags": [("q1/0", "usage above max")]},
                       {"question": "q2", "method": "m", "usage_flags": [("q2/3", "zero")]},
                       {"question": "q3", "method": "m"}]}  # fmt: skip
    out = run_notes(res)
    assert "Verdict" not in out  # no rows, no verdict
    assert "\n\nWall 40.6 s; the client's own CPU time 0.50 s (1.23% of the wall time)." in out
    assert "\n\nServer-side generated tokens (llamacpp:t): 1,234; ledger: 1,200." in out
    assert ("\n\nWarning: 2 request(s) had a server usage the client did not trust (counted by the client "
            "instead), e.g. q1/0 (m): usage above max.") in out  # fmt: skip
    err = capsys.readouterr().err
    assert "warning: the server counted more" in err and "warning: 2 request(s)" in err
    quiet = run_notes(
        {"client_cpu_share": None, "counters": None, "rows": [_verdict_row("cons@N", 3, 1, [0, 0])]}
    )
    assert quiet.startswith("\n\n**Verdict.** Too few problems (3)") and "Wall" not in quiet
    assert capsys.readouterr().err == ""

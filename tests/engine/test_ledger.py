"""The live ledger's probe columns and net tokens, by hand."""

from types import SimpleNamespace

from deepprune.engine.backends.base import Finish
from deepprune.engine.backends.openai_compat import cached_tokens
from deepprune.engine.ledger import LiveLedger


def test_net_tokens_count_probes_and_only_the_prompt_tokens_not_served_from_cache():
    led = LiveLedger()
    led.add(Finish(100, 50, True, "usage"), "q/0")
    led.add_probe(Finish(3, 80, True, "usage"), "q/0/probe0")  # no cache use reported
    assert (led.tokens, led.probe_tokens, led.probe_calls, led.probe_prompt_tokens) == (
        100,
        3,
        1,
        80,
    )
    assert led.probe_cached_tokens is None and led.net_tokens == 103  # the re-read is not counted
    led.add_probe(Finish(2, 90, True, "usage", cached_tokens=85), "q/1/probe0")
    # reported: 80 + 90 prompt tokens, 85 of them cached -> 85 uncached counted
    assert led.probe_cached_tokens == 85 and led.net_tokens == 100 + 5 + (170 - 85)
    assert [n for _, n in led.requests] == [100, 3, 2]
    led.add_probe(Finish(1, 95, True, "usage", cached_tokens=90), "q/2/probe0")
    # cached tokens sum over probes: 85 + 90 of 80 + 90 + 95 prompt tokens
    assert led.probe_cached_tokens == 175 and led.net_tokens == 100 + 6 + (265 - 175)


def test_cached_tokens_read_from_the_usage_where_reported():
    assert (
        cached_tokens(SimpleNamespace(prompt_tokens_details=SimpleNamespace(cached_tokens=12)))
        == 12
    )
    assert cached_tokens(SimpleNamespace(prompt_tokens_details={"cached_tokens": 7})) == 7
    assert cached_tokens(SimpleNamespace(prompt_tokens=5)) is None  # llama.cpp: not reported


def test_summary_means_and_reductions_pair_problems_with_cons_n():
    from deepprune.engine.ledger import summarise

    def rec(q, m, tokens, correct=True, **kw):
        base = {"question": q, "method": m, "tokens": tokens, "correct": correct, "wall_s": 1.0, "overhead_s": 0.0,
                "sequential_tokens": tokens, "net_tokens": tokens + kw.pop("probe", 0)}  # fmt: skip
        return base | kw

    records = [rec("a", "cons@N", 100), rec("b", "cons@N", 300),
               rec("a", "x", 50, probe=10), rec("b", "x", 150, correct=False, probe=30),
               rec("c", "x", 1000, correct=None)]  # c: no cons@N record (and no gold)  # fmt: skip
    row = {r["method"]: r for r in summarise(records, ("cons@N", "x"))}["x"]
    assert row["problems"] == 3 and row["tokens"] == (50 + 150 + 1000) / 3
    assert row["accuracy"] == 0.5  # the ungraded problem is left out, not counted wrong
    assert row["reduction_vs_consN"] == 1 - (50 + 150) / (100 + 300)  # only problems cons@N ran
    assert row["net_reduction_vs_consN"] == 1 - (60 + 180) / (100 + 300)


def test_the_verdict_says_too_few_problems_and_otherwise_names_the_cheapest_with_its_interval():
    from deepprune.engine.ledger import verdict

    def row(m, problems, net, ci, red=0.5):
        return {"method": m, "problems": problems, "net_tokens": net, "net_reduction_vs_consN": red,
                "delta_vs_consN": sum(ci) / 2, "delta_vs_consN_ci95": ci}  # fmt: skip

    few = [row("cons@N", 5, 100, [0, 0]), row("asc", 5, 40, [-0.75, 0.0])]
    assert "Too few problems (5) to decide" in verdict(few)
    rows = [row("cons@N", 30, 100, [0, 0]), row("asc", 30, 40, [-0.05, 0.02], 0.6),
            row("short-m@k", 30, 20, [-0.2, -0.05], 0.8), row("esc", 30, 60, [0.0, 0.1], 0.4)]  # fmt: skip
    v = verdict(rows)  # short-m@k is cheaper but its interval rules out staying within 1 point
    assert "is asc: 60.0% fewer net tokens, Δacc -1.5 [-5.0, +2.0] points" in v, v
    assert "keep cons@N" in verdict([rows[0], rows[2]])

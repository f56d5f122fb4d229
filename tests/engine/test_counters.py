"""Server counters: the Prometheus parser, the ledger comparison, and the local server's exposition."""

from deepprune.engine.backends.openai_compat import parse_generated_counter
from deepprune.engine.ledger import counter_check, run_notes
from deepprune.engine.llama_app import COUNTERS, metrics_text


def test_parse_the_known_generated_token_counters():
    vllm = ('# TYPE vllm:generation_tokens_total counter\n'
            'vllm:generation_tokens_total{model_name="a"} 120.0\n'
            'vllm:generation_tokens_total{model_name="b"} 30.0\n'
            'vllm:generation_tokens_total_created 1.7e9\n')  # fmt: skip
    assert parse_generated_counter(vllm) == ("vllm:generation_tokens_total", 150.0)
    assert parse_generated_counter("llamacpp:tokens_predicted_total 7\n") == (
        "llamacpp:tokens_predicted_total",
        7.0,
    )
    assert parse_generated_counter("<html>no metrics</html>") is None


def test_the_local_servers_exposition_round_trips():
    COUNTERS["tokens_predicted"], COUNTERS["requests"] = 41, 3
    assert parse_generated_counter(metrics_text()) == ("llamacpp:tokens_predicted_total", 41.0)


def test_counter_check_compares_the_run_and_warns_on_a_difference(capsys):
    recs = [{"tokens": 100, "probe_tokens": 5}, {"tokens": 20}]
    same = counter_check(("x", 1000.0), ("x", 1125.0), recs)
    assert (
        same["server_generated_tokens"] == same["ledger_generated_tokens"] == 125
        and "warning" not in same
    )
    more = counter_check(("x", 0.0), ("x", 140.0), recs)
    assert "+15" in more["warning"]
    notes = run_notes({"client_cpu_share": None, "counters": more})
    assert "Server-side generated tokens (x): 140; ledger: 125." in notes
    assert "warning: the server counted 140" in capsys.readouterr().err
    none = counter_check(None, None, recs)
    assert none["server_counter"] is None and "no generated-token counter" in none["note"]

"""The proxy's counters: exact integers, never decreasing (a negative upstream usage is flagged)."""

from deepprune.proxy.metrics import Counters


def test_counters_are_exact_integers_and_a_negative_usage_is_flagged_not_subtracted():
    c = Counters()
    c.count("generated_tokens_total", 1234567)
    c.count("generated_tokens_total", 2)
    c.count("generated_tokens_total", -50)  # an upstream's bad usage
    text = c.metrics_text()
    assert "deepprune_proxy_generated_tokens_total 1234569\n" in text  # not 1.23457e+06
    assert 'deepprune_proxy_negative_usage_total{counter="generated_tokens_total"} 1' in text
    assert c.total("generated_tokens_total") == 1234569
    assert all("e+" not in line for line in text.splitlines())

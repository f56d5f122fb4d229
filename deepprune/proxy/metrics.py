"""The proxy's counters and their Prometheus exposition (``GET /metrics``): exact integers, never
decreasing (pure)."""

from __future__ import annotations

# the Prometheus counters (name -> help); each also carries labels where it says so
COUNTERS = {
    "requests_total": "Requests answered, by route, kind (pruned | passthrough) and status.",
    "generated_tokens_total": "Tokens the upstream generated for the proxy's traces (passthrough included).",
    "probe_tokens_total": "Tokens the upstream generated answering probes.",
    "prompt_tokens_total": "Prompt tokens the upstream read (traces, continuations and probes), as its usage says.",
    "judge_tokens_total": "Input tokens the judge read (a local judge's own cost, not the upstream's).",
    "cons_n_estimate_tokens_total": "Tokens a cons@N of the same pruned requests would have generated (ledger estimate).",
    "rejected_total": "Requests refused with 429 (queue full).",
    "disconnected_total": "Requests whose client hung up before the answer (their upstream traces closed).",
    "negative_usage_total": "Upstream usages below 0, flagged and never added (by the counter they were for).",
}  # fmt: skip


class Counters:
    """Counters by name and labels; ``count`` adds, ``total`` sums a name over its labels."""

    def __init__(self):
        self.counts: dict[tuple, int] = {}
        self.running = self.waiting = 0

    def count(self, name: str, value: float = 1, **labels) -> None:
        """Add ``value`` (rounded to an integer) to a counter; a negative value (an upstream's bad
        usage) is never subtracted: it counts once under ``negative_usage_total`` instead."""
        value = int(round(value))
        if value < 0:
            name, value, labels = "negative_usage_total", 1, {"counter": name}
        key = (name, tuple(sorted(labels.items())))
        self.counts[key] = self.counts.get(key, 0) + value

    def total(self, name: str) -> int:
        return sum(v for (k, _), v in self.counts.items() if k == name)

    def metrics_text(self) -> str:
        """The Prometheus exposition of the counters, and the running / waiting gauges (pure)."""
        lines = []
        for name, help_ in COUNTERS.items():
            full = f"deepprune_proxy_{name}"
            lines += [f"# HELP {full} {help_}", f"# TYPE {full} counter"]
            rows = [(lab, v) for (k, lab), v in sorted(self.counts.items()) if k == name] or [
                ((), 0)
            ]
            for lab, v in rows:
                tag = "{" + ",".join(f'{k}="{x}"' for k, x in lab) + "}" if lab else ""
                lines.append(f"{full}{tag} {v:d}")
        for name, v in (("running", self.running), ("waiting", self.waiting)):
            lines += [f"# TYPE deepprune_proxy_{name} gauge", f"deepprune_proxy_{name} {v}"]
        return "\n".join(lines) + "\n"

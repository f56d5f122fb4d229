"""The live engine's ledger: what each method spent on one problem, and the per-method summary.

Counts come from the server: generated tokens (its usage; a stream closed by us counts the
tokens received), prompt tokens, re-read tokens of continuations, judge calls and tokens,
in-flight waste, sequential tokens (the latency proxy) and the orchestrator's own time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from deepprune.engine.backends import Finish


@dataclass
class LiveLedger:
    """What one method cost on one problem, measured from the server's replies (not the replay's
    :class:`deepprune.replay.ledger.Ledger`, which estimates from a saved pool)."""

    tokens: int = 0  # generated tokens (the server's usage)
    # prompt tokens the server read (incl. re-reads on resume), where reported
    prompt_tokens: int = 0
    reread_tokens: int = 0  # resume: prompt + prefix tokens read again by continuation requests
    judge_calls: int = 0
    judge_tokens: int = 0
    # stream: tokens generated past the prefix by traces that were then pruned
    inflight_waste: int = 0
    sequential_tokens: int = 0  # longest chain of tokens generated one after another
    overhead_s: float = 0.0  # judge + clusterer time (the orchestrator's decisions)
    usage_source: set = field(default_factory=set)
    requests: list = field(
        default_factory=list
    )  # (request id, completion tokens) per finished request
    # (request id, what was wrong) where the server's usage was not trusted (Finish.flags)
    usage_flags: list = field(default_factory=list)

    probe_calls: int = 0  # answer-probe requests
    probe_tokens: int = 0  # tokens the probes generated (the server's usage)
    probe_prompt_tokens: int = 0  # prompt tokens the probes read (prompt + partial trace + cue)
    # of those, served from the prefix cache where the server says so (None: not reported)
    probe_cached_tokens: int | None = None

    def add(self, fin: Finish, rid: str = "") -> None:
        self.tokens += fin.completion_tokens
        self.prompt_tokens += fin.prompt_tokens or 0
        self.usage_source.add(fin.usage_source)
        self.requests.append((rid, fin.completion_tokens))
        self.usage_flags += [(rid, f) for f in fin.flags]

    def add_probe(self, fin: Finish, rid: str = "") -> None:
        """An answer probe: its own columns, never mixed into the traces' tokens."""
        self.probe_calls += 1
        self.probe_tokens += fin.completion_tokens
        self.probe_prompt_tokens += fin.prompt_tokens or 0
        if fin.cached_tokens is not None:
            self.probe_cached_tokens = (self.probe_cached_tokens or 0) + fin.cached_tokens
        self.usage_source.add(fin.usage_source)
        self.requests.append((rid, fin.completion_tokens))
        self.usage_flags += [(rid, f) for f in fin.flags]

    @property
    def net_tokens(self) -> int:
        """What the reasoning model spent: generated tokens, probe tokens, and the probes' prompt
        tokens that the server says it did not serve from its prefix cache (where it does not say,
        the re-read of a cached prefix is not counted: prefix caching makes it a cache hit)."""
        uncached = (
            0
            if self.probe_cached_tokens is None
            else self.probe_prompt_tokens - self.probe_cached_tokens
        )
        return self.tokens + self.probe_tokens + uncached

    def record(self) -> dict:
        """The ledger's columns of a run record (``solve``'s records.jsonl, the proxy's ledger)."""
        return {"tokens": self.tokens, "prompt_tokens": self.prompt_tokens, "reread_tokens": self.reread_tokens,
                "judge_calls": self.judge_calls, "judge_tokens": self.judge_tokens,
                "sequential_tokens": self.sequential_tokens, "inflight_waste": self.inflight_waste,
                "overhead_s": self.overhead_s, "token_count": sorted(self.usage_source), "requests": self.requests,
                "usage_flags": self.usage_flags, "probe_calls": self.probe_calls, "probe_tokens": self.probe_tokens,
                "probe_prompt_tokens": self.probe_prompt_tokens, "probe_cached_tokens": self.probe_cached_tokens,
                "net_tokens": self.net_tokens}  # fmt: skip

    def cons_n_estimate(self, completed, n: int) -> int:
        """Tokens a cons@N of the same problem would have generated, by this ledger's estimate: n x
        the mean length of the traces the method completed (``completed``: their indices; each
        trace's requests summed, prefix and continuation); the tokens spent where nothing was
        completed. Never more traces than the run had: ``n`` is the run's. Short traces finish
        first: for short-m@k it is low."""
        per: dict[int, int] = {}
        for rid, tokens in self.requests:
            i = trace_index(rid)
            if i is not None:
                per[i] = per.get(i, 0) + tokens
        lengths = [per[i] for i in completed if i in per]
        return round(n * sum(lengths) / len(lengths)) if lengths else self.tokens


def trace_index(request_id: str) -> int | None:
    """The trace index of a trace request id (``QID/I`` or a continuation ``QID/I+START``, as
    :meth:`deepprune.engine.run.Run.request` names them); None for a probe (``QID/I/probeK``, continued: ``QID/I/probeK.PART``)."""
    parts = request_id.rsplit("/", 2)
    if len(parts) < 2 or parts[-1].startswith("probe"):
        return None
    try:
        return int(parts[-1].split("+")[0])
    except ValueError:
        return None


def summarise(records: list[dict], methods: tuple[str, ...], n_boot: int = 1000) -> list[dict]:
    """One row per method: means per problem, the reductions vs cons@N on the same problems
    (generated tokens, and net tokens: generated + probes, :attr:`LiveLedger.net_tokens`), the
    accuracy difference to cons@N with a paired 95% bootstrap interval over problems (``n_boot``
    resamples; our choice: 1000), and the wall time per problem's median and 90th percentile."""
    from deepprune.metrics import paired_ci

    rows = []
    base = {r["question"]: r["tokens"] for r in records if r["method"] == "cons@N"}
    base_ok = {
        r["question"]: r["correct"]
        for r in records
        if r["method"] == "cons@N" and r["correct"] is not None
    }
    mean = lambda rs, key: float(np.mean([r.get(key, 0) or 0 for r in rs]))  # noqa: E731
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        if not rs:
            continue
        graded = [r["correct"] for r in rs if r["correct"] is not None]
        agree = [r["agrees_with_consN"] for r in rs if r.get("agrees_with_consN") is not None]
        paired = [r for r in rs if r["question"] in base]
        b = sum(base[r["question"]] for r in paired)
        # accuracy minus cons@N's on the problems both graded, with a bootstrap CI over problems
        diff = np.array([float(r["correct"]) - base_ok[r["question"]] for r in rs
                         if r["correct"] is not None and r["question"] in base_ok])  # fmt: skip
        walls = [r["wall_s"] for r in rs]
        rows.append({
            "method": m, "problems": len(rs), "accuracy": float(np.mean(graded)) if graded else None,
            "agrees_with_consN": float(np.mean(agree)) if agree else None,
            "tokens": mean(rs, "tokens"), "probe_tokens": mean(rs, "probe_tokens"),
            "probe_calls": mean(rs, "probe_calls"), "probe_prompt_tokens": mean(rs, "probe_prompt_tokens"),
            "net_tokens": float(np.mean([r.get("net_tokens", r["tokens"]) for r in rs])),
            "reduction_vs_consN": 1 - sum(r["tokens"] for r in paired) / b if paired and b else None,
            "net_reduction_vs_consN": 1 - sum(r.get("net_tokens", r["tokens"]) for r in paired) / b
            if paired and b else None,
            "sequential_tokens": mean(rs, "sequential_tokens"), "wall_s": mean(rs, "wall_s"),
            "judge_calls": mean(rs, "judge_calls"), "judge_tokens": mean(rs, "judge_tokens"),
            "inflight_waste": mean(rs, "inflight_waste"), "reread_tokens": mean(rs, "reread_tokens"),
            "overhead_share": sum(r["overhead_s"] for r in rs) / max(sum(r["wall_s"] for r in rs), 1e-9),
            "delta_vs_consN": float(diff.mean()) if len(diff) else None,
            "delta_vs_consN_ci95": paired_ci(diff, n_boot) if len(diff) else None,
            "wall_p50": float(np.percentile(walls, 50)), "wall_p90": float(np.percentile(walls, 90)),
        })  # fmt: skip
    return rows


def solve_table(rows: list[dict]) -> str:
    """Markdown table of :func:`summarise` rows."""
    lines = ["| method | problems | accuracy | agrees with cons@N | generated tokens / problem | probe tokens (calls) | net tokens | reduction vs cons@N "
             "| net reduction | sequential tokens | wall s / problem | judge calls | judge tokens | in-flight waste "
             "| re-read tokens | probe prompt tokens | overhead | Δacc vs cons@N [95% CI] | wall p50 / p90 s |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}%"  # noqa: E731
    for r in rows:
        acc = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        lines.append(f"| {r['method']} | {r['problems']} | {acc} | {pct(r.get('agrees_with_consN'))} | {r['tokens']:,.0f} | {r['probe_tokens']:,.0f} "
                     f"({r['probe_calls']:,.0f}) | {r['net_tokens']:,.0f} | {pct(r['reduction_vs_consN'])} | "
                     f"{pct(r['net_reduction_vs_consN'])} | {r['sequential_tokens']:,.0f} | {r['wall_s']:.1f} | "
                     f"{r['judge_calls']:.0f} | {r['judge_tokens']:,.0f} | {r['inflight_waste']:,.0f} | "
                     f"{r['reread_tokens']:,.0f} | {r['probe_prompt_tokens']:,.0f} | {100 * r['overhead_share']:.2f}% | "
                     f"{_delta(r)} | {r.get('wall_p50', r['wall_s']):.2f} / {r.get('wall_p90', r['wall_s']):.2f} |")  # fmt: skip
    return "\n".join(lines)


def _delta(r: dict) -> str:
    d, ci = r.get("delta_vs_consN"), r.get("delta_vs_consN_ci95")
    if d is None or ci is None:
        return "n/a"
    return f"{100 * d:+.1f} [{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def counter_check(
    before: tuple[str, float] | None, after: tuple[str, float] | None, records: list[dict]
) -> dict:
    """The server's own count of generated tokens over a run beside the ledger's (the records made
    in that run: trace tokens plus probe tokens); a difference is a warning, never silent. A
    server that keeps generating after a closed stream (vLLM issue #54947) shows here."""
    if before is None or after is None:
        return {
            "server_counter": None,
            "note": "the server exposes no generated-token counter at /metrics",
        }
    server = after[1] - before[1]
    ledger = sum(r["tokens"] + (r.get("probe_tokens") or 0) for r in records)
    out = {
        "server_counter": after[0],
        "server_generated_tokens": server,
        "ledger_generated_tokens": ledger,
    }
    if server != ledger:
        out["warning"] = (f"the server counted {server:,.0f} generated tokens ({after[0]}), the ledger "
                          f"{ledger:,.0f}: {server - ledger:+,.0f} (other clients of the server, or "
                          "generation after closed streams)")  # fmt: skip
    return out


# problems a verdict needs (our choice): with fewer, a paired interval over problems spans most
# of [-100, +100] points and no method can be told from cons@N
MIN_VERDICT_PROBLEMS = 10


def verdict(rows: list[dict], drop: float = 0.01) -> str:
    """One sentence on a run: too few problems to decide; or the cheapest method (by net tokens)
    whose accuracy difference to cons@N has a 95% interval reaching above −``drop`` (the run cannot
    rule out that it stays within the target), with that interval; or that none does (keep cons@N)."""
    graded = [r for r in rows if r["method"] != "cons@N" and r.get("delta_vs_consN_ci95")]
    n = max((r["problems"] for r in rows), default=0)
    if n < MIN_VERDICT_PROBLEMS:
        return (f"**Verdict.** Too few problems ({n}) to decide: run at least {MIN_VERDICT_PROBLEMS} "
                "before choosing a method on this run.")  # fmt: skip
    if not graded:
        return "**Verdict.** No gold answers: see `agrees with cons@N` for how often each method votes as cons@N."
    ok = [r for r in graded if r["delta_vs_consN_ci95"][1] >= -drop]
    if not ok:
        return f"**Verdict.** No method stays within {100 * drop:g} point of cons@N on this run: keep cons@N."
    best = min(ok, key=lambda r: r["net_tokens"])
    return (f"**Verdict.** On these {n} problems the cheapest method whose interval does not rule out staying "
            f"within {100 * drop:g} point of cons@N is {best['method']}: {100 * (best['net_reduction_vs_consN'] or 0):.1f}% "
            f"fewer net tokens, Δacc {_delta(best)} points.")  # fmt: skip


def run_notes(res: dict) -> str:
    """What the solve table's footer says of a run: wall and client CPU time, and the server's own
    count of generated tokens beside the ledger's (a difference is also a warning on stderr)."""
    import sys

    out = "\n\n" + verdict(res["rows"]) if res.get("rows") else ""
    if res["client_cpu_share"] is not None:
        out += (f"\n\nWall {res['seconds']:.1f} s; the client's own CPU time {res['client_cpu_s']:.2f} s "
                f"({100 * res['client_cpu_share']:.2f}% of the wall time).")  # fmt: skip
    c = res.get("counters") or {}
    if c.get("server_counter"):
        out += (f"\n\nServer-side generated tokens ({c['server_counter']}): {c['server_generated_tokens']:,.0f}; "
                f"ledger: {c['ledger_generated_tokens']:,.0f}.")  # fmt: skip
    if c.get("warning"):
        print(f"warning: {c['warning']}", file=sys.stderr)
    flags = [
        (r["question"], r["method"], *f)
        for r in res.get("records", ())
        for f in r.get("usage_flags") or ()
    ]
    if flags:
        q, m, rid, what = flags[0]
        msg = (f"{len(flags)} request(s) had a server usage the client did not trust (counted by the "
               f"client instead), e.g. {rid} ({m}): {what}")  # fmt: skip
        out += f"\n\nWarning: {msg}."
        print(f"warning: {msg}", file=sys.stderr)
    return out

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

    def add(self, fin: Finish, rid: str = "") -> None:
        self.tokens += fin.completion_tokens
        self.prompt_tokens += fin.prompt_tokens or 0
        self.usage_source.add(fin.usage_source)
        self.requests.append((rid, fin.completion_tokens))


def summarise(records: list[dict], methods: tuple[str, ...]) -> list[dict]:
    """One row per method: means per problem, and the reduction vs cons@N on the same problems."""
    rows = []
    base = {r["question"]: r["tokens"] for r in records if r["method"] == "cons@N"}
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        if not rs:
            continue
        graded = [r["correct"] for r in rs if r["correct"] is not None]
        paired = [r for r in rs if r["question"] in base]
        rows.append({
            "method": m, "problems": len(rs), "accuracy": float(np.mean(graded)) if graded else None,
            "tokens": float(np.mean([r["tokens"] for r in rs])),
            "reduction_vs_consN": 1 - sum(r["tokens"] for r in paired) / sum(base[r["question"]] for r in paired)
            if paired and base else None,
            "sequential_tokens": float(np.mean([r["sequential_tokens"] for r in rs])),
            "wall_s": float(np.mean([r["wall_s"] for r in rs])),
            "judge_calls": float(np.mean([r["judge_calls"] for r in rs])),
            "judge_tokens": float(np.mean([r["judge_tokens"] for r in rs])),
            "inflight_waste": float(np.mean([r["inflight_waste"] for r in rs])),
            "reread_tokens": float(np.mean([r["reread_tokens"] for r in rs])),
            "overhead_share": sum(r["overhead_s"] for r in rs) / max(sum(r["wall_s"] for r in rs), 1e-9),
        })  # fmt: skip
    return rows


def solve_table(rows: list[dict]) -> str:
    """Markdown table of :func:`summarise` rows."""
    lines = ["| method | problems | accuracy | tokens / problem | reduction vs cons@N | sequential tokens | wall s / problem | judge calls | judge tokens | in-flight waste | re-read tokens | overhead |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        acc = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        red = "n/a" if r["reduction_vs_consN"] is None else f"{100 * r['reduction_vs_consN']:.1f}%"
        lines.append(f"| {r['method']} | {r['problems']} | {acc} | {r['tokens']:,.0f} | {red} | {r['sequential_tokens']:,.0f} | "
                     f"{r['wall_s']:.1f} | {r['judge_calls']:.0f} | {r['judge_tokens']:,.0f} | {r['inflight_waste']:,.0f} | "
                     f"{r['reread_tokens']:,.0f} | {100 * r['overhead_share']:.2f}% |")  # fmt: skip
    return "\n".join(lines)

"""Reproduce an outside result: the Parallel-Probe authors' table on their own probe pools.

    deepprune reproduce --pool ../shared/data/pools/probe-qwen3-8b-aime24-n128.jsonl \
        --published ../shared/data/published/parallel-probe-qwen3-8b-128-aime24.csv

The published table (zhengkid/Parallel-Probe @aaa4c72, ``evaluation/matrix_results_Qwen3-8B-128``)
replays SC@64 (majority vote of 64 traces), ESC (windows of 8, at most 64 traces), ASC
(Adaptive-Consistency, beta criterion, threshold 0.95, at most 64 traces) and Parallel-Probe
(``ParallelESTPruning``: 64 chains, T = 40, patience 7, warm-up 15) over the 128 traces of each
question. Their replay averages 100 random orders of the 128 traces (each method uses the first
64, or fewer); ours averages ``repeats`` seeded orders of the same kind (our own generator, so not
the same 100 orders). Each row is built from the published settings in the CSV's own columns.

Grading: the published replay compares answers as strings (``==``); ours are equivalence
classes (math-verify). Our rows replay their rule (``grading="exact"``), and the table adds the
accuracy under our grading beside it: on HMMT25 four golds differ from the models' answers only in
spacing (``1-\\frac{2}{\\pi}`` vs ``1 - \\frac{2}{\\pi}``), which string equality marks wrong.

Differences by construction, stated in each row's ``note``:
- "no answer" (the source's ``ERR``) votes as an answer of its own in Parallel-Probe's consensus
  there and here (``err_votes``); in SC/ESC/ASC it never votes here (about 1% of the traces).
- Sequential tokens of ASC: the published code counts ASC's traces as if run in parallel (the
  longest one); ASC draws one trace after another, so ours is their sum. Both are reported.
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.errors import ConfigError, MissingInputError
from deepprune.pools import check_pools
from deepprune.replay.harness import OnlineConfig, orders_for
from deepprune.replay.ledger import Ledger
from deepprune.replay.methods import ConsK, ParallelProbe
from deepprune.replay.methods.sequential import ESC, AdaptiveConsistency


@dataclass
class ReproduceConfig:
    repeats: int = 100  # the published replay's 100 random orders
    seed: int = 0  # random seed (our choice: 0)


@dataclass
class ReproduceJob:
    """``deepprune reproduce``: the Parallel-Probe authors' published table, replayed on their probe pools."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # probe pool
    # the authors' results CSV for that pool (one per --pool)
    published: list[str] = field(default_factory=list, metadata={"required": True})
    config: ReproduceConfig = field(default_factory=ReproduceConfig)
    output: Output = field(default_factory=Output)

    def __post_init__(self):
        if len(self.published) != len(self.pool):
            raise ConfigError(f"{len(self.pool)} --pool but {len(self.published)} --published: "
                              "give one table per pool")  # fmt: skip

    def run(self) -> list[dict]:
        paths = check_pools(self.pool)
        return [reproduce(p, t, self.config) for p, t in zip(paths, self.published, strict=True)]


def _num(row: dict, key: str) -> float:
    try:
        return float(row[key])
    except (KeyError, ValueError):
        raise ConfigError(
            f"published row {row.get('Solver')}/{row.get('Strategy')}: no number in column {key!r}"
        ) from None


def _method(row: dict):
    """Our method for one published row, from the row's own settings (None: not a reproduced row)."""
    solver, strategy = row["Solver"], row["Strategy"]
    if strategy == "FullReadStrategy" and solver == "MajorityVoteSolver":
        n = int(_num(row, "solver_n"))
        return f"SC@{n}", ConsK(n, name=f"cons@{n}")
    if strategy == "FullReadStrategy" and solver == "ESCSolver":
        w, n = int(_num(row, "solver_window_size")), int(_num(row, "solver_n"))
        return f"ESC (w={w}, n={n})", ESC(w, max_traces=n)
    if strategy == "FullReadStrategy" and solver == "ASCSolver":
        t, n = _num(row, "solver_threshold"), int(_num(row, "solver_n"))
        return f"ASC (beta, {t:g}, n={n})", AdaptiveConsistency(t, "beta", max_traces=n)
    if strategy == "ParallelESTPruning" and solver == "GreedySolver":
        m = ParallelProbe(chains=int(_num(row, "num_chains")), T=int(_num(row, "T")),
                          patience=int(_num(row, "prune_patience")), warm_up=int(_num(row, "warm_up")),
                          max_rounds=int(_num(row, "max_steps")), err_votes=True)  # fmt: skip
        return "Parallel-Probe", m
    return None


def read_published(path: str | os.PathLike) -> list[dict]:
    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"{p}: no such published table")
    with open(p, newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or not {"Solver", "Strategy", "Acc", "Cost", "Seq_Cost"} <= set(rows[0]):
        raise ConfigError(
            f"{p}: not a Parallel-Probe results table (needs Solver, Strategy, Acc, Cost, Seq_Cost)"
        )
    return rows


def reproduce(
    pool: str | os.PathLike, published: str | os.PathLike, cfg: ReproduceConfig | None = None
) -> dict:
    """Every reproducible published row beside ours."""
    from deepprune.replay.harness import load_questions

    cfg = cfg or ReproduceConfig()
    rows = read_published(published)
    oc = OnlineConfig(trunc="probe:1", repeats=cfg.repeats, seed=cfg.seed)
    qs = load_questions(pool, oc, grading="exact")
    ours_graded = load_questions(pool, oc)  # the same traces under our equivalence grading
    if any(q.probes is None for q in qs):
        raise ConfigError(f"{pool}: the pool has no answer probes; the published methods need them")
    out = []
    for row in rows:
        made = _method(row)
        if made is None:
            continue
        name, method = made
        per_q = [method.run_repeats(q, orders_for(q, oc), oc.seed) for q in qs]
        led = Ledger.of(name, qs, per_q)
        acc_r = np.nanmean(led.correct, axis=0)  # accuracy of each order, over questions
        ours = {"accuracy": float(acc_r.mean()), "accuracy_se": float(acc_r.std(ddof=1) / np.sqrt(len(acc_r))),
                "tokens": float(led.tokens.mean()), "seq_tokens": float(led.seq_tokens.mean())}  # fmt: skip
        eq = Ledger.of(
            name,
            ours_graded,
            [method.run_repeats(q, orders_for(q, oc), oc.seed) for q in ours_graded],
        )
        ours["accuracy_equivalence"] = float(np.nanmean(eq.correct))
        note = ""
        if isinstance(method, AdaptiveConsistency):  # the published rule: the longest drawn trace
            orders = [orders_for(q, oc) for q in qs]
            longest = [[float(q.tokens[o[: out_.info["k"]]].max()) for o, out_ in zip(os_, outs, strict=True)]
                       for q, os_, outs in zip(qs, orders, per_q, strict=True)]  # fmt: skip
            ours["seq_tokens_published_rule"] = float(np.mean(longest))
            note = "sequential: ours sums the traces ASC draws one by one; the published code takes the longest"
        theirs = {
            "accuracy": _num(row, "Acc") / 100,
            "tokens": _num(row, "Cost"),
            "seq_tokens": _num(row, "Seq_Cost"),
        }
        out.append({"method": name, "published": theirs, "ours": ours, "note": note,
                    "settings": {k: v for k, v in row.items() if v not in ("", None)}})  # fmt: skip
    if not out:
        raise ConfigError(
            f"{published}: no row this replay reproduces (SC, ESC, ASC, ParallelESTPruning)"
        )
    return {"pool": str(pool), "published": str(published), "questions": len(qs),
            "traces_per_question": float(np.mean([q.n for q in qs])), "config": vars(cfg), "rows": out}  # fmt: skip


def reproduce_table(res: dict) -> str:
    """Published beside ours, per row, with the relative differences."""
    lines = [f"**{Path(res['pool']).name}** vs `{Path(res['published']).name}` — {res['questions']} questions × "
             f"{res['traces_per_question']:.0f} traces; ours: mean of {res['config']['repeats']} seeded orders "
             "(± 2 standard errors over orders)", "",
             "| method | accuracy: published | ours | ours, equivalence grading | tokens / q: published | ours | Δ "
             "| sequential: published | ours | Δ | note |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in res["rows"]:
        p, o = r["published"], r["ours"]
        seq_o = o.get("seq_tokens_published_rule", o["seq_tokens"])
        extra = (
            f" (ours, summed: {o['seq_tokens']:,.0f})" if "seq_tokens_published_rule" in o else ""
        )
        lines.append(
            f"| {r['method']} | {100 * p['accuracy']:.2f}% | {100 * o['accuracy']:.2f}% ± {200 * o['accuracy_se']:.2f} | "
            f"{100 * o['accuracy_equivalence']:.2f}% | "
            f"{p['tokens']:,.0f} | {o['tokens']:,.0f} | {100 * (o['tokens'] / p['tokens'] - 1):+.1f}% | "
            f"{p['seq_tokens']:,.0f} | {seq_o:,.0f}{extra} | {100 * (seq_o / p['seq_tokens'] - 1):+.1f}% | {r['note']} |"
        )
    return "\n".join(lines)

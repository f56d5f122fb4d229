"""Every method that cuts the cost of self-consistency, replayed on the same pools.

    deepprune compare --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl --repeats 32 \
        --markdown runs/compare.md --out runs/compare

Each method family (``FAMILIES``) contributes operating points (settings); every point
runs over the same questions and the same R seeded arrival orders as cons@N and the
cons@k curve, so all comparisons are paired. For each point: accuracy, generated
tokens, auxiliary calls and their tokens (judges, embedders), and the accuracy
difference against cons@N and against cons@k at the same budget (k = the point's mean
tokens / the mean trace length, fractional k randomised), each with a paired bootstrap
95% interval over questions (per question, the difference averaged over the repeats;
questions resampled with replacement). The headline per family: the fewest tokens at
which it reaches cons@N accuracy minus one point.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.errors import ConfigError
from deepprune.judges import get_judge
from deepprune.metrics import MAX_BOOT, paired_question_ci
from deepprune.pools import check_pools
from deepprune.replay.advice import advise, recommendation
from deepprune.replay.harness import (
    OnlineConfig,
    attach_judge,
    k_grid,
    load_questions,
    run,
    run_pools,
    run_sweep,
    token_source,
)
from deepprune.replay.ledger import add_reductions, matched_k, net_tokens
from deepprune.replay.methods import BASELINE_FAMILIES, DEEPPRUNE_TAUS, ConsK, ConsN, families


@dataclass
class CompareConfig:
    """A comparison run. Grids of settings are our choice; each family's paper default is in it."""

    online: OnlineConfig = field(default_factory=lambda: OnlineConfig(repeats=32))
    similarity: str = "lexical:tfidf"  # untrained similarity for DeepPrune / PoLR / Slim-SC (CPU)
    families: tuple[str, ...] = ()  # method families (empty or "all": every one)
    budget_grid: tuple[float, ...] = ()  # cons@k curve; empty: k = 1..N (geometric beyond 64)
    # the deepprune family's tau operating points (K, K1, K2, K3: --K ... --K3, the paper's by default)
    taus: tuple[float, ...] = DEEPPRUNE_TAUS
    n_boot: int = 1000  # paired bootstrap resamples over questions
    target_drop: float = 0.01  # headline: cons@N accuracy minus one point
    # headline: "parallel latency" is sequential tokens <= this x cons@N's (the longest trace; our choice: 1.5)
    parallel_factor: float = 1.5

    def __post_init__(self):
        if tuple(self.families) == ("all",):
            self.families = ()
        unknown = set(self.families) - set(FAMILIES)
        if unknown:
            raise ConfigError(
                f"methods: unknown families {sorted(unknown)}; known: {', '.join(FAMILIES)}"
            )
        if any(not k > 0 for k in self.budget_grid):
            raise ConfigError(f"budget_grid: every k must be > 0, got {list(self.budget_grid)}")
        if not self.taus or any(not 0 <= t <= 1 for t in self.taus):
            raise ConfigError(f"tau (taus): every value must be in [0, 1], got {list(self.taus)}")
        if not 0 <= self.n_boot <= MAX_BOOT:
            raise ConfigError(f"n_boot (--bootstrap) must be in [0, {MAX_BOOT}], got {self.n_boot}")
        if not 0 <= self.target_drop < 1:
            raise ConfigError(f"target_drop must be in [0, 1), got {self.target_drop}")
        if not self.parallel_factor >= 1:
            raise ConfigError(f"parallel_factor must be >= 1, got {self.parallel_factor}")


# each family sets its own; the deepprune family's taus are CompareConfig.taus (--tau)
COMPARE_EXCLUDE = ("tau", "workers", "holdout", "shuffle")


@dataclass
class CompareJob:
    """``deepprune compare``: every published way to cut self-consistency cost, on the same pools.

    Results (JSON and a plot per pool) are saved under ``out``."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    out: str = "runs/compare"  # directory for results JSON and plots
    config: CompareConfig = field(default_factory=CompareConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        """Every pool checked, then compared and saved; the results."""
        import sys

        from deepprune.replay.figures import comparison_plot

        def one(pool):
            name = Path(pool).name
            log = None if self.output.json else (lambda m: print(f"  {name}: {m}", file=sys.stderr))
            return compare_pool(pool, self.config, progress=log)

        return run_pools(self, check_pools(self.pool), "_compare", one, comparison_plot)


FAMILIES = tuple(f for f in families() if f not in BASELINE_FAMILIES[:2])  # pass@1, cons@N: always


def compare_pool(
    path: str | os.PathLike, cfg: CompareConfig, progress: Callable[[str], None] | None = None
) -> dict:
    """All families on one pool; see the module docstring."""
    oc = cfg.online
    qs = load_questions(path, oc)
    graded = any(q.gold_class is not None for q in qs)
    chosen = cfg.families or FAMILIES
    sim_id, judge_of = cfg.similarity, {}
    sim_families = ("polr", "slim-sc", "deepprune", "deepprune-adaptive", "deepprune-sketch")
    if any(f in chosen for f in sim_families):
        judge = get_judge(cfg.similarity)
        sim_id = judge.id
        textless = judge.reads == "text" and any(q.text_missing for q in qs)
        if all(q.prefix_known for q in qs) and not textless:  # a probe judge reads no text
            attach_judge(qs, judge)  # else its families are skipped, said in the table
        judge_of = dict.fromkeys(sim_families, judge)
    fams = families(sim_id, oc.cluster, cfg.taus)
    if "deepprune-oracle" in chosen:
        judge_of["deepprune-oracle"] = get_judge("oracle")
        if all(q.prefix_known for q in qs):  # a prefix the pool cannot cut: skipped, said
            attach_judge(qs, judge_of["deepprune-oracle"])
    bars = progress is not None  # a bar per method over the questions
    base = run(ConsN(), qs, oc, bars)
    cons_n = base.point("cons@N", "cons@N")
    points, skipped, arms = [], {}, {}  # arms: each point's (net tokens, grades) per cell
    for fam in chosen:
        methods = fams[fam]()
        reason = methods[0].skip_reason(qs)
        if reason:
            skipped[fam] = reason
            continue
        if progress:
            progress(fam)
        if fam == "deepprune":  # points differing only in tau: one lock-step batch per question
            outs = run_sweep(methods[0], [m.cfg.tau for m in methods], qs, oc, bars)
        else:
            outs = [run(m, qs, oc, bars) for m in methods]
        for m, out in zip(methods, outs, strict=True):
            p = out.point(fam, m.name)
            p["agrees_with_consN"] = out.agreement(base)  # the label-free measure (no gold needed)
            k = matched_k(p["tokens"], qs)
            matched = run(ConsK(k, name=f"cons@k~{m.name}"), qs, oc)
            p["matched_k"] = k
            p["matched_cons_k_accuracy"] = float(np.nanmean(matched.correct)) if graded else None
            if graded:
                p["delta_vs_consN"], p["delta_vs_consN_ci95"] = paired_question_ci(
                    out.correct, base.correct, cfg.n_boot
                )
                p["delta_vs_matched_cons_k"], p["delta_vs_matched_cons_k_ci95"] = (
                    paired_question_ci(out.correct, matched.correct, cfg.n_boot, seed=1)
                )
            p["net_tokens"] = net_tokens(p, oc.judge_ratio(judge_of.get(fam)))
            arms[m.name] = (net_cells(out, oc.judge_ratio(judge_of.get(fam))), out.correct)
            add_reductions([p], cons_n)
            points.append(p)
    n_max = max(q.n for q in qs)
    grid = list(cfg.budget_grid) or k_grid(n_max)
    curve = []
    for k in grid:
        led = run(ConsK(k), qs, oc)
        c = led.point("cons@k", f"cons@{k:g}")
        c["k"], c["agrees_with_consN"] = k, led.agreement(base)
        arms[c["method"]] = (led.tokens, led.correct)
        curve.append(c)
    add_reductions([cons_n, *curve], cons_n)
    for c in curve:
        c["net_tokens"] = c["tokens"]
    headline = (
        cost_to_target(points, curve, cons_n, cfg.target_drop, cfg.parallel_factor)
        if graded
        else {}
    )
    advice = advise(cons_n, points + curve, arms, base, asdict(cfg), len(qs))
    return {"pool": str(path), "questions": len(qs), "traces_per_question": float(np.mean([q.n for q in qs])),
            "token_counter": token_source(qs, load_counter_name(oc)), "config": asdict(cfg), "cons@N": cons_n,
            "points": points, "skipped": skipped, "cons_k_curve": curve, "headline": headline,
            "advice": advice}  # fmt: skip


def cost_to_target(
    points: list[dict], curve: list[dict], cons_n: dict, drop: float, factor: float
) -> dict:
    """Per family (cons@k last): the cheapest point by net tokens (generated + probe + weighted judge
    tokens) reaching cons@N accuracy − ``drop``, and the cheapest at parallel latency (sequential
    tokens <= ``factor`` x cons@N's, i.e. the longest trace's), each with its ratio to the
    cheapest cons@k reaching the same target (cons@k is always at parallel latency)."""
    target = cons_n["accuracy"] - drop
    limit = factor * cons_n["seq_tokens"]
    reach = lambda p: p["accuracy"] is not None and p["accuracy"] >= target - 1e-12  # noqa: E731
    ok_k = [c for c in curve if reach(c)]
    base = min(ok_k, key=lambda c: c["net_tokens"]) if ok_k else None

    def pick(pts):
        if not pts:
            return None
        best = min(pts, key=lambda p: p["net_tokens"])
        return {"method": best["method"], "tokens": best["net_tokens"], "accuracy": best["accuracy"],
                "seq_tokens": best["seq_tokens"], "reduction_vs_consN": 1 - best["net_tokens"] / cons_n["tokens"],
                "ratio_vs_cons_k": None if base is None else best["net_tokens"] / base["net_tokens"]}  # fmt: skip

    out = {}
    for fam in [*dict.fromkeys(p["family"] for p in points), "cons@k"]:
        pts = [p for p in (curve if fam == "cons@k" else points) if p["family"] == fam and reach(p)]
        par = [p for p in pts if p["seq_tokens"] is not None and p["seq_tokens"] <= limit + 1e-9]
        h = pick(pts)
        if h is not None:
            h["parallel"] = pick(par)
        out[fam] = h
    return out


def net_cells(led, judge_ratio: float) -> np.ndarray:
    """Per (question, repeat): what :func:`net_tokens` charges a method (generated + probe +
    weighted judge tokens), the arrays its paired intervals are drawn from."""
    probe = 0.0 if led.probe_tokens is None else led.probe_tokens
    return led.tokens + probe + led.aux_tokens * judge_ratio


def load_counter_name(oc: OnlineConfig) -> str:
    from deepprune.tokens import get_counter

    return get_counter(oc.tokenizer).name


def _ci(ci) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def comparison_markdown(res: dict) -> str:
    """The per-pool report: headline table, then every operating point."""
    c = res["cons@N"]
    cfg = res["config"]
    acc = "n/a" if c["accuracy"] is None else f"{100 * c['accuracy']:.1f}%"
    lines = [f"### {Path(res['pool']).name}",
             f"{res['questions']} questions × {res['traces_per_question']:.0f} traces; prefix `{cfg['online']['trunc']}`; "
             f"{cfg['online']['repeats']} repeats; similarity `{cfg['similarity']}`; tokens by `{res['token_counter']}`. "
             f"cons@N: {acc} at {c['tokens']:,.0f} tokens/question ({c['seq_tokens']:,.0f} sequential). Net reduction: "
             f"judge input tokens weighted by judge/reasoner parameters (reasoner {cfg['online']['reasoner_params'] / 1e9:g}B; "
             f"a judge of unknown size: {cfg['online']['judge_params'] / 1e9:g}B) plus probe tokens (answer probes: cue + answer, "
             f"estimated by `deepprune.probes.probe_tokens`).", ""]  # fmt: skip
    if res["skipped"]:
        lines += [f"Skipped: {', '.join(f'{k} ({v})' for k, v in res['skipped'].items())}.", ""]
    if res["headline"]:
        lim = cfg.get("parallel_factor", 1.5)
        lines += [f"**Cost to reach cons@N accuracy − 1 point** (cheapest operating point of each family by net tokens: generated + "
                  f"probe + weighted judge tokens; \"parallel latency\": sequential tokens ≤ {lim:g} × cons@N's, i.e. the longest "
                  "trace; × cons@k: the ratio to the cheapest cons@k reaching the same target):", "",
                  "| family | operating point | accuracy | net tokens / question | reduction vs cons@N | × cons@k "
                  "| cheapest at parallel latency | its net tokens / question | × cons@k |", "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
        ratio = lambda h: "n/a" if h["ratio_vs_cons_k"] is None else f"{h['ratio_vs_cons_k']:.2f}×"  # noqa: E731
        for fam, h in res["headline"].items():
            if h is None:
                lines.append(f"| {fam} | not reached | | | | | | | |")
                continue
            par = h.get("parallel")
            tail = (
                "not at parallel latency | | |"
                if par is None
                else f"{par['method']} | {par['tokens']:,.0f} | {ratio(par)} |"
            )
            lines.append(f"| {fam} | {h['method']} | {100 * h['accuracy']:.1f}% | {h['tokens']:,.0f} | "
                         f"{100 * h['reduction_vs_consN']:.1f}% | {ratio(h)} | {tail}")  # fmt: skip
    if sentence := recommendation(res):
        lines += ["", sentence, ""]
    lines += ["| method | accuracy | generated tokens / q | probe tokens / q | reduction | net reduction | sequential tokens / q "
              "| sequential reduction | aux calls / q | aux tokens / q | Δacc vs cons@N [95% CI] | Δacc vs cons@k, same budget [95% CI] |",
              "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for p in res["points"]:
        if p["accuracy"] is None:  # no gold: how often it votes what cons@N votes
            agree = p.get("agrees_with_consN")
            a = "n/a" if agree is None else f"n/a; votes as cons@N: {100 * agree:.1f}%"
            d1 = d2 = "n/a"
        else:
            a = f"{100 * p['accuracy']:.1f}%"
            d1 = f"{100 * p['delta_vs_consN']:+.1f} {_ci(p['delta_vs_consN_ci95'])}"
            d2 = f"{100 * p['delta_vs_matched_cons_k']:+.1f} {_ci(p['delta_vs_matched_cons_k_ci95'])} (k={p['matched_k']:.1f})"
        seq = (
            "n/a"
            if p["seq_tokens"] is None
            else f"{p['seq_tokens']:,.0f} | {100 * p['seq_reduction_vs_consN']:.1f}%"
        )
        lines.append(f"| {p['method']} | {a} | {p['tokens']:,.0f} | {p.get('probe_tokens', 0.0):,.0f} | {100 * p['reduction_vs_consN']:.1f}% | "
                     f"{100 * p['net_reduction_vs_consN']:.1f}% | {seq if p['seq_tokens'] is not None else 'n/a | n/a'} | "
                     f"{p['aux_calls']:,.0f} | {p['aux_tokens']:,.0f} | {d1} | {d2} |")  # fmt: skip
    return "\n".join(lines)

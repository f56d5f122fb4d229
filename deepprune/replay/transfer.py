"""Advice that holds on a model you have not measured: settings chosen on some pools, scored on others.

    deepprune transfer --pools ../shared/data/pools/*.jsonl ../shared/data/pools/answers/*.jsonl \
        --out runs/transfer --markdown Online/TRANSFER.md --recipe-out deepprune/data/auto_recipe.json

Every operating point of every family (:func:`transfer_settings`: cons@k at a fixed k, ASC and
ConSol in parallel waves, ESC, short-m@k, cons@k under a thinking-token budget, Parallel-Probe
where a pool has probes) is replayed on every pool over the same seeded arrival orders, together
with cons@N and the pool's own cheapest cons@k reaching the target (the *oracle k*, known only in
hindsight). A pool's table is cached by content (the pool's sha256, the settings, the repeats),
so a rerun reads it back.

**The selection rule** (fixed, the same for every family; our choice): on the training pools,
the setting that reaches cons@N accuracy − ``target_drop`` on at least ``reach_rate`` of them with
the lowest geometric-mean net-cost ratio to each pool's oracle k; when none reaches that rate, the
setting with the highest reach rate (then the lowest cost). Family ``any`` chooses over every
setting; ``any@parallel`` only over settings whose median sequential tokens on the training pools
are at most ``parallel_factor`` × cons@N's (the longest trace).

**Out of sample.** Without ``--test``, leave-one-pool-out: each pool is scored with the setting
chosen on the others. With ``--test``, settings are chosen once on all ``--pools`` and scored on
each test pool. Per family: the setting chosen on all ``--pools``, its reach rate on the scored
pools, the geometric-mean net-cost ratio against the oracle k and against the fixed k chosen by
the same rule, the median ratio of sequential tokens to cons@N's, and the mean accuracy gap to
cons@N, each with a 95% bootstrap interval over the scored pools. A family a pool cannot run (no
probes) is scored only where it runs; the table says on how many pools.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output, atomic_write, file_sha256, writable_dir
from deepprune.errors import ConfigError
from deepprune.replay.methods import ConsK, ConsN, Setting, transfer_settings

# bump when a method's replay changes: cached pool tables of older versions are recomputed
CACHE_VERSION = 1


@dataclass
class TransferConfig:
    """The out-of-sample comparison's settings (all our choice)."""

    repeats: int = 8  # seeded arrival orders per pool
    seed: int = 0  # random seed
    target_drop: float = 0.01  # the target: cons@N accuracy minus one point
    reach_rate: float = (
        0.9  # the selection rule: reach the target on at least this share of training pools
    )
    # "parallel latency": median sequential tokens at most this x cons@N's (the goal: 2)
    parallel_factor: float = 2.0
    n_boot: int = 2000  # bootstrap resamples over pools
    families: tuple[str, ...] = ()  # families to compare (empty: every one)

    def __post_init__(self):
        known = dict.fromkeys(s.family for s in transfer_settings())
        unknown = set(self.families) - set(known)
        if unknown:
            raise ConfigError(f"--families: unknown {sorted(unknown)}; known: {', '.join(known)}")
        if self.repeats < 1 or self.n_boot < 0 or self.n_boot > 100_000:
            raise ConfigError("--repeats must be >= 1 and --n-boot in [0, 100000]")
        if (
            not 0 <= self.target_drop < 1
            or not 0 < self.reach_rate <= 1
            or not self.parallel_factor >= 1
        ):
            raise ConfigError("target_drop in [0, 1), reach_rate in (0, 1], parallel_factor >= 1")


def _settings(cfg: TransferConfig) -> list[Setting]:
    return [
        s
        for s in transfer_settings()
        if not cfg.families or s.family in cfg.families or s.family == "cons@k"
    ]


def _cache_key(sha: str, cfg: TransferConfig, names: list[str]) -> str:
    import hashlib

    blob = json.dumps([CACHE_VERSION, sha, cfg.repeats, cfg.seed, names], sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def pool_table(
    path: str | os.PathLike, cfg: TransferConfig, cache_dir: str | os.PathLike | None = None
) -> dict:
    """Every setting, cons@N and the cons@k curve on one pool (means over questions and repeats),
    read from ``cache_dir`` when the same pool and settings were run before.

    Returns ``{"pool", "sha256", "questions", "cons_n": {...}, "oracle_k": {...}, "settings": {name:
    {"family", "accuracy", "tokens", "seq_tokens"} or {"family", "skipped"}}}``; a pool without gold
    has ``"graded": False`` and no oracle (it cannot be scored)."""
    from deepprune.replay.harness import OnlineConfig, k_grid, load_questions, run

    sha, settings = file_sha256(path), _settings(cfg)
    names = [s.name for s in settings]
    key = _cache_key(sha, cfg, names)
    cached = Path(cache_dir) / f"{key}.json" if cache_dir else None
    if cached is not None and cached.is_file():
        return json.loads(cached.read_text(encoding="utf-8"))
    oc = OnlineConfig(trunc="tokens:1", repeats=cfg.repeats, seed=cfg.seed)
    qs = load_questions(path, oc)
    graded = any(q.gold_class is not None for q in qs)

    def row(led, family):
        p = led.point(family)
        return {"family": family, "accuracy": p["accuracy"], "tokens": p["tokens"] + p["probe_tokens"],
                "seq_tokens": p["seq_tokens"]}  # fmt: skip

    cons_n = row(run(ConsN(), qs, oc), "cons@N")
    table = {"pool": Path(path).name, "sha256": sha, "questions": len(qs), "graded": graded,
             "traces": float(np.mean([q.n for q in qs])), "cons_n": cons_n, "settings": {}}  # fmt: skip
    for s in settings:
        m = s.make()
        reason = m.skip_reason(qs)
        table["settings"][m.name] = (
            {"family": s.family, "skipped": reason} if reason else row(run(m, qs, oc), s.family)
        )
    curve = [row(run(ConsK(k), qs, oc), "cons@k") | {"k": k} for k in k_grid(max(q.n for q in qs))]
    table["cons_k_curve"] = curve
    if graded:
        target = cons_n["accuracy"] - cfg.target_drop - 1e-12
        table["oracle_k"] = min(
            (c for c in curve if c["accuracy"] >= target), key=lambda c: c["tokens"]
        )
    if cached is not None:
        atomic_write(cached, json.dumps(table))
    return table


def _ok(table: dict, name: str) -> dict | None:
    s = table["settings"].get(name)
    return None if s is None or "skipped" in s else s


def _reached(table: dict, s: dict, drop: float) -> bool:
    return s["accuracy"] >= table["cons_n"]["accuracy"] - drop - 1e-12


def _ratio(table: dict, s: dict) -> float:
    return s["tokens"] / table["oracle_k"]["tokens"]


def _seq_ratio(table: dict, s: dict) -> float:
    return s["seq_tokens"] / table["cons_n"]["seq_tokens"]


def _geomean(x) -> float:
    return float(math.exp(np.mean(np.log(np.asarray(x, float))))) if len(x) else float("nan")


def choose(
    tables: list[dict],
    names: list[str],
    cfg: TransferConfig,
    latency_cap: bool = False,
    everywhere: bool = False,
) -> str | None:
    """The selection rule (see the module docstring) over the settings ``names`` on ``tables``.

    Example: a setting that reaches the target on every pool beats a cheaper one that misses one
    of two (reach rate 0.5 < 0.9); among settings reaching it everywhere, the cheaper wins."""
    best, best_key = None, None
    for name in names:
        rows = [(t, _ok(t, name)) for t in tables]
        if everywhere and any(s is None for _, s in rows):
            continue  # "any": a recipe must run on every pool
        rows = [(t, s) for t, s in rows if s is not None]
        if not rows:
            continue
        if (
            latency_cap
            and np.median([_seq_ratio(t, s) for t, s in rows]) > cfg.parallel_factor + 1e-9
        ):
            continue
        reach = float(np.mean([_reached(t, s, cfg.target_drop) for t, s in rows]))
        cost = _geomean([_ratio(t, s) for t, s in rows])
        eligible = reach >= cfg.reach_rate - 1e-12
        key = (not eligible, cost if eligible else -reach, cost, name)
        if best_key is None or key < best_key:
            best, best_key = name, key
    return best


FAMILY_ANY, FAMILY_PARALLEL = "any", "any@parallel"


def _families(settings: list[Setting]) -> dict[str, tuple[list[str], bool]]:
    """Family -> (its settings' names, latency cap)."""
    fams: dict[str, tuple[list[str], bool]] = {}
    for s in settings:
        fams.setdefault(s.family, ([], False))[0].append(s.name)
    every = [s.name for s in settings]
    return fams | {FAMILY_ANY: (every, False), FAMILY_PARALLEL: (every, True)}


def _boot(values: np.ndarray, stat, n_boot: int, seed: int = 0) -> list[float]:
    """95% bootstrap interval of ``stat`` over resampled pools (rows of ``values``)."""
    if len(values) == 0 or n_boot <= 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    return np.percentile([stat(values[i]) for i in idx], [2.5, 97.5]).tolist()


def score_family(
    scored: list[dict], picks: list[str | None], fixed: list[str | None], cfg: TransferConfig
) -> dict:
    """A family's out-of-sample numbers: ``picks[i]`` is the setting chosen without ``scored[i]``
    (its fixed-k counterpart ``fixed[i]``); pools where the pick cannot run are left out, counted."""
    rows = []
    for t, name, fk in zip(scored, picks, fixed, strict=True):
        s = _ok(t, name) if name else None
        if s is None:
            continue
        f = _ok(t, fk) if fk else None
        rows.append((float(_reached(t, s, cfg.target_drop)), _ratio(t, s), s["tokens"] / f["tokens"] if f else np.nan,
                     _seq_ratio(t, s), s["accuracy"] - t["cons_n"]["accuracy"]))  # fmt: skip
    v = np.asarray(rows, float).reshape(-1, 5)
    if not len(v):
        return {"pools": 0}
    fk_ok = v[~np.isnan(v[:, 2])]
    return {"pools": len(v), "reached": float(v[:, 0].mean()), "reached_ci95": _boot(v[:, 0], np.mean, cfg.n_boot),
            "cost_vs_best_cons_k": _geomean(v[:, 1]), "cost_vs_best_cons_k_ci95": _boot(v[:, 1], _geomean, cfg.n_boot, 1),
            "cost_vs_fixed_k": _geomean(fk_ok[:, 2]) if len(fk_ok) else None,
            "cost_vs_fixed_k_ci95": _boot(fk_ok[:, 2], _geomean, cfg.n_boot, 2) if len(fk_ok) else None,
            "seq_vs_cons_n": float(np.median(v[:, 3])), "seq_vs_cons_n_ci95": _boot(v[:, 3], np.median, cfg.n_boot, 3),
            "accuracy_gap": float(v[:, 4].mean()), "accuracy_gap_ci95": _boot(v[:, 4], np.mean, cfg.n_boot, 4)}  # fmt: skip


def transfer(train: list[dict], test: list[dict] | None, cfg: TransferConfig) -> dict:
    """Choose on ``train`` and score out of sample: leave-one-pool-out over ``train`` (``test``
    None), or once on all of ``train`` and scored on each ``test`` table. Pure over pool tables."""
    for t in (*train, *(test or ())):
        if not t.get("graded"):
            raise ConfigError(
                f"{t['pool']}: no gold answers; transfer scores accuracy against cons@N's"
            )
    settings = _settings(cfg)
    fams = _families(settings)
    scored = test if test is not None else train
    folds = (
        [train] * len(scored)
        if test is not None
        else [train[:i] + train[i + 1 :] for i in range(len(train))]
    )
    ck_names = fams["cons@k"][0]
    fixed = [choose(f, ck_names, cfg) for f in folds]
    live = {s.name: s for s in settings}
    out = {}
    for fam, (names, cap) in fams.items():
        every = fam in (FAMILY_ANY, FAMILY_PARALLEL)
        picks = [choose(f, names, cfg, cap, every) for f in folds]
        res = score_family(scored, picks, fixed, cfg)
        chosen = choose(train, names, cfg, cap, every)
        res["method"] = chosen
        res["family_of_method"] = live[chosen].family if chosen else None
        res["live"] = live[chosen].live if chosen else None
        res["picks"] = {p: picks.count(p) for p in dict.fromkeys(picks)}  # LOPO: the fold choices
        res["runs_on"] = sum(any(_ok(t, n) for n in names) for t in scored)
        out[fam] = res
    keys = ("method", "reached", "pools", "cost_vs_best_cons_k", "seq_vs_cons_n")
    recipe = {k: out[FAMILY_PARALLEL].get(k) for k in keys} | {"live": out[FAMILY_PARALLEL]["live"]}
    return {"kind": "transfer", "mode": "test" if test is not None else "leave-one-pool-out",
            "train": [t["pool"] for t in train], "scored": [t["pool"] for t in scored], "config": asdict(cfg),
            "recipe": recipe, "families": out}  # fmt: skip


def _ci(ci, pct: bool = False, fmt: str = "{:.2f}") -> str:
    if ci is None or any(isinstance(x, float) and math.isnan(x) for x in ci):
        return ""
    f = (lambda x: f"{100 * x:+.1f}") if pct else fmt.format
    return f" [{f(ci[0])}, {f(ci[1])}]"


def transfer_markdown(res: dict) -> str:
    """The report: one row per family, out of sample, with intervals over pools."""
    cfg, mode = res["config"], res["mode"]
    how = ("leave-one-pool-out: each pool scored with the setting chosen on the other "
           f"{len(res['train']) - 1}" if mode == "leave-one-pool-out" else
           f"chosen on {len(res['train'])} pools, scored on {len(res['scored'])} others")  # fmt: skip
    lines = [f"**Out of sample** ({how}; {cfg['repeats']} repeats per pool). Target: cons@N accuracy − "
             f"{100 * cfg['target_drop']:g} point. Rule: reach it on ≥ {100 * cfg['reach_rate']:g}% of the training "
             "pools at the lowest geometric-mean net cost against each pool's cheapest cons@k reaching it (the oracle k). "
             f"`any@parallel`: median sequential tokens ≤ {cfg['parallel_factor']:g} × cons@N's. Intervals: 95% bootstrap "
             "over the scored pools.", "",
             "| family | chosen on all pools | pools | reached | × oracle k (net tokens) | × fixed k | sequential × cons@N "
             "| Δacc vs cons@N (points) |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for fam, r in res["families"].items():
        if not r.get("pools"):
            lines.append(f"| {fam} | {r.get('method') or 'n/a'} | 0 | | | | | |")
            continue
        fk = (
            "n/a"
            if r["cost_vs_fixed_k"] is None
            else f"{r['cost_vs_fixed_k']:.2f}×{_ci(r['cost_vs_fixed_k_ci95'])}"
        )
        lines.append(f"| {fam} | {r['method']} | {r['pools']} | {100 * r['reached']:.0f}%{_ci([100 * x for x in r['reached_ci95']], fmt='{:.0f}%')} | "
                     f"{r['cost_vs_best_cons_k']:.2f}×{_ci(r['cost_vs_best_cons_k_ci95'])} | {fk} | "
                     f"{r['seq_vs_cons_n']:.2f}×{_ci(r['seq_vs_cons_n_ci95'])} | "
                     f"{100 * r['accuracy_gap']:+.1f}{_ci(r['accuracy_gap_ci95'], pct=True)} |")  # fmt: skip
    rc = res["recipe"]
    if rc["method"]:
        lines += ["", f"**Recipe (`auto`).** {rc['method']}: out of sample it reached the target on "
                  f"{100 * rc['reached']:.0f}% of {rc['pools']} pools at {rc['cost_vs_best_cons_k']:.2f}× the oracle k's "
                  f"net tokens (geometric mean) and {rc['seq_vs_cons_n']:.2f}× cons@N's sequential tokens (median)."]  # fmt: skip
    return "\n".join(lines)


@dataclass
class TransferJob:
    """``deepprune transfer``: choose a method on some pools, judge it on others (out of sample)."""

    # the pools to choose settings on
    pools: list[str] = field(default_factory=list, metadata={"many": True, "required": True})
    # pools to score on (default: leave-one-pool-out over --pools)
    test: list[str] = field(default_factory=list, metadata={"many": True})
    out: str = "runs/transfer"  # directory: transfer.json and the per-pool cache (cache/)
    # also write the recipe (the any@parallel choice) here, for solve/proxy `auto`
    recipe_out: str | None = None
    jobs: int = 1  # pools evaluated at once (processes)
    config: TransferConfig = field(default_factory=TransferConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        import sys

        from deepprune.pools import check_pools

        if not self.pools:
            raise ConfigError("give the pools to choose on: deepprune transfer --pools POOL ...")
        if self.jobs < 1:
            raise ConfigError(f"--jobs must be >= 1, got {self.jobs}")
        train, test = check_pools(self.pools), check_pools(self.test) if self.test else []
        if len(train) < 2 and not test:
            raise ConfigError("leave-one-pool-out needs at least 2 --pools (or give --test)")
        writable_dir(self.out)
        cache = Path(self.out) / "cache"
        cache.mkdir(parents=True, exist_ok=True)
        paths = [*train, *test]
        say = (
            (lambda m: None)
            if self.output.json
            else (lambda m: print(m, file=sys.stderr, flush=True))
        )
        tables = _tables(paths, self.config, cache, self.jobs, say)
        res = transfer(tables[: len(train)], tables[len(train) :] or None, self.config)
        from deepprune.artifacts import provenance

        res["provenance"] = provenance([])
        atomic_write(Path(self.out) / "transfer.json", json.dumps(res, indent=1, default=str))
        if self.recipe_out:
            write_recipe(self.recipe_out, res)
        return [res]


def _table_job(args):
    path, cfg, cache = args
    return pool_table(path, cfg, cache)


def _tables(paths, cfg: TransferConfig, cache, jobs: int, say) -> list[dict]:
    """Each pool's table (cached), ``jobs`` pools at once; progress on stderr, one line per pool."""
    todo = [(str(p), cfg, str(cache)) for p in paths]
    if jobs <= 1:
        out = []
        for k, a in enumerate(todo, 1):
            out.append(_table_job(a))
            say(f"transfer: {k}/{len(todo)} {Path(a[0]).name}")
        return out
    import multiprocessing as mp

    with mp.get_context("fork").Pool(jobs) as pool:
        out = []
        for k, t in enumerate(pool.imap(_table_job, todo), 1):
            say(f"transfer: {k}/{len(todo)} {t['pool']}")
            out.append(t)
    return out


def write_recipe(path: str | os.PathLike, res: dict) -> None:
    """The recipe ``solve --methods auto`` and ``proxy --method auto`` run: the any@parallel choice,
    its live settings and its out-of-sample numbers, with the pools it was chosen on."""
    rc = res["recipe"]
    if rc["live"] is None:
        raise ConfigError(f"the chosen method {rc['method']} cannot run live; no recipe written")
    body = {"generated_by": "deepprune transfer (make transfer)", "method": rc["method"], "live": rc["live"],
            "out_of_sample": {k: rc[k] for k in ("reached", "pools", "cost_vs_best_cons_k", "seq_vs_cons_n")},
            "chosen_on": res["train"], "config": res["config"]}  # fmt: skip
    atomic_write(path, json.dumps(body, indent=1) + "\n")

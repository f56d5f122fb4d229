"""Figures: accuracy vs generated tokens (and vs sequential tokens), every method on one plot per pool."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass
class FiguresJob:
    """``deepprune figures``: every figure from saved prune / compare / judge grid result JSON."""

    results: str = "Online/results"  # a result JSON file or a folder of them
    out: str = "runs/figures"  # where the PNGs go (untracked)

    def run(self) -> list[Path]:
        from deepprune.artifacts import writable_dir

        return render_figures(self.results, writable_dir(self.out))


def tradeoff_plot(result: dict, path: str | os.PathLike) -> Path:
    """Accuracy vs tokens/question: the cons@k curve, every row with its spread over repeats as an
    error bar, and (with a sweep) each tau value labelled; a second panel with a sweep: accuracy
    and tokens against tau."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = [r for r in result.get("sweep") or [] if r.get("accuracy") is not None]
    fig, axes = plt.subplots(
        1, 2 if sweep else 1, figsize=(13 if sweep else 7.5, 4.8), squeeze=False
    )
    ax = axes[0][0]
    curve = [r for r in result["cons_k_curve"] if r.get("accuracy") is not None]
    if curve:
        ax.plot([r["tokens"] for r in curve], [100 * r["accuracy"] for r in curve], "-", color="0.6",
                label="cons@k, k=1..N")  # fmt: skip
    if sweep:
        ax.plot([r["tokens"] for r in sweep], [100 * r["accuracy"] for r in sweep], "o", ms=4, color="C0",
                label=f"DeepPrune, tau sweep ({result['judges'][0]})")  # fmt: skip
        for r in sweep:
            ax.annotate(f"{r['tau']:g}", (r["tokens"], 100 * r["accuracy"]), fontsize=6,
                        xytext=(3, 3), textcoords="offset points")  # fmt: skip
    rows = [r for r in result["rows"] if "skipped" not in r and r.get("accuracy") is not None]
    markers = "s^vD<>pP*Xh"
    for n, r in enumerate(rows):
        ax.errorbar(r["tokens"], 100 * r["accuracy"], yerr=100 * (r.get("accuracy_std") or 0),
                    xerr=r.get("tokens_std") or 0, fmt=markers[n % len(markers)], ms=6, capsize=2,
                    label=r["method"])  # fmt: skip
    ax.set_xscale("log")
    ax.set_xlabel(f"generated tokens per question ({result['token_counter']})")
    ax.set_ylabel("accuracy (%), error bars: sd over repeats")
    ax.set_title(Path(result["pool"]).name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6, loc="lower right")
    if sweep:
        a2 = axes[0][1]
        taus = [r["tau"] for r in sweep]
        a2.plot(taus, [100 * r["accuracy"] for r in sweep], "o-", color="C0", label="accuracy")
        a2.set_xlabel("tau")
        a2.set_ylabel("accuracy (%)", color="C0")
        t2 = a2.twinx()
        t2.plot(taus, [r["tokens"] for r in sweep], "s--", color="C1", label="tokens / question")
        t2.set_ylabel("tokens per question", color="C1")
        a2.set_title(f"DeepPrune[{result['judges'][0]}] against tau")
        a2.grid(alpha=0.3)
    return _save(fig, path, dpi=120)


def roc_plot(rows: list[dict], path: str | os.PathLike) -> Path:
    """ROC curves of judges (rows with ``roc`` points), AUROC in the legend."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 5))
    colors = plt.get_cmap("tab20").colors  # one colour per judge up to 20
    for n, r in enumerate(x for x in rows if x.get("roc")):
        reference = "(oracle)" in r["judge"]  # the agreement-rate reference row: not a judge
        ax.plot(r["roc"]["fpr"], r["roc"]["tpr"], "--" if reference else "-", lw=1.2,
                color="0.3" if reference else colors[n % len(colors)],
                label=f"{r['judge']} (AUROC {r['auroc']:.3f})")  # fmt: skip
    ax.plot([0, 1], [0, 1], ":", color="0.5")
    ax.set_xlabel("false positive rate (different answers called same)")
    ax.set_ylabel("true positive rate")
    ax.set_title(f"{rows[0]['pool']} `{rows[0]['trunc']}`" if rows else "")
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path, dpi=120)


def render_figures(results: str | os.PathLike, out: str | os.PathLike) -> list[Path]:
    """Every figure from saved result JSON (``prune``, ``compare``, ``headroom``, ``judge grid`` and
    ``solve``: its ``OUT/results.json``) output)."""
    import json

    from deepprune.errors import MissingInputError

    src = Path(results)
    files = sorted(src.glob("*.json")) if src.is_dir() else [src]
    files = [f for f in files if f.name != "config.json"]  # a solve run's settings, not a result
    if not files or not all(f.is_file() for f in files):
        raise MissingInputError(f"{src}: no result JSON here")
    made = []
    for f in files:
        try:
            res = json.loads(f.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise MissingInputError(f"{f}: not a result JSON ({e})") from None
        try:
            made += _plots(res, f, Path(out))
        except (KeyError, TypeError, IndexError, ValueError, AttributeError) as e:
            raise MissingInputError(f"{f}: a result JSON without the fields its plot needs "
                                    f"({type(e).__name__}: {e})") from None  # fmt: skip
    if not made:
        raise MissingInputError(f"{src}: no prune, compare or judge grid results in these files")
    return made


def safe_name(text: str) -> str:
    """A file-name part from text a result file holds: letters, digits, ``.``, ``_`` and ``-`` only,
    never a leading dot (``../x`` becomes ``_x``), so every plot lands inside ``--out``."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", str(text)).lstrip(".") or "_"


def _plots(res, f: Path, out: Path) -> list[Path]:
    """The plots of one result file ``f`` (its JSON ``res``) into ``out``."""
    made = []
    if isinstance(res, dict) and res.get("rows") and "auroc" in res["rows"][0]:  # ablation --json
        res = res["rows"]
    for r in res if isinstance(res, list) and res and "cons_k_curve" in res[0] else [res]:
        if isinstance(r, dict) and r.get("kind") == "solve":
            made.append(solve_plot(r, out / f"{safe_name(f.parent.name)}_solve.png"))
        elif isinstance(r, dict) and "points" in r:
            made.append(comparison_plot(r, out / f"{safe_name(f.stem)}.png"))
        elif isinstance(r, dict) and r.get("rows") and "oracle_accuracy" in r["rows"][0]:
            made.append(headroom_plot(r, out / f"{safe_name(f.stem)}.png"))
        elif isinstance(r, dict) and "rows" in r and "cons_k_curve" in r:
            made.append(tradeoff_plot(r, out / f"{safe_name(Path(r['pool']).stem)}_tradeoff.png"))
    if isinstance(res, list) and res and "auroc" in res[0]:  # judge grid rows
        groups: dict[tuple, list] = {}
        for r in res:
            groups.setdefault((r["pool"], r["trunc"]), []).append(r)
        for (pool, trunc), rows in groups.items():  # one per grid file
            name = f"{safe_name(f.stem)}_{safe_name(Path(pool).stem)}_{safe_name(trunc.replace(':', ''))}_roc.png"
            made.append(roc_plot(rows, out / name))
    return made


def _save(fig, path, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def solve_plot(res: dict, path: str | os.PathLike) -> Path:
    """A live ``solve`` run: each method's accuracy against net tokens per problem (cost) and against
    sequential tokens (latency). Without gold answers the y axis is how often the method votes what
    cons@N votes (the label-free measure), said on the axis; never an empty plot."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = res["rows"]
    graded = any(r["accuracy"] is not None for r in rows)
    key, ylabel = (
        ("accuracy", "accuracy")
        if graded
        else ("agrees_with_consN", "votes what cons@N votes (no gold)")
    )
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, x, label in ((axes[0], "net_tokens", "net tokens per problem (generated + probes)"),
                         (axes[1], "sequential_tokens", "sequential tokens per problem (latency)")):  # fmt: skip
        for n, r in enumerate(rows):
            y = 1.0 if r["method"] == "cons@N" and not graded else r.get(key)
            if y is not None:
                ax.plot(r[x], 100 * y, "osD^v<>pP*Xh"[n % 12], ms=8, label=r["method"])
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(f"{ylabel} (%)")
    axes[0].legend(fontsize=8)
    fig.suptitle(
        f"deepprune solve: {res['rows'][0]['problems']} problems (config {res.get('config_hash', '?')})"
    )
    return _save(fig, path, 120)


def comparison_plot(res: dict, path: str | os.PathLike) -> Path:
    """Two panels: accuracy vs generated tokens (cost) and vs sequential tokens (latency), every
    family's operating points and the cons@k curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8), sharey=True)
    fams = list(dict.fromkeys(p["family"] for p in res["points"]))
    markers = "osD^v<>pP*Xh"
    c = res["cons@N"]
    for ax, key, label in ((axes[0], "tokens", "generated tokens per question (log)"),
                           (axes[1], "seq_tokens", "sequential tokens per question (latency, log)")):  # fmt: skip
        curve = [
            p for p in res["cons_k_curve"] if p["accuracy"] is not None and p.get(key) is not None
        ]
        if curve:
            ax.plot(
                [p[key] for p in curve],
                [p["accuracy"] for p in curve],
                "-",
                color="gray",
                label="cons@k",
            )
        for n, fam in enumerate(fams):
            pts = sorted((p for p in res["points"] if p["family"] == fam and p["accuracy"] is not None
                          and p.get(key) is not None), key=lambda p: p[key])  # fmt: skip
            if pts:
                ax.plot([p[key] for p in pts], [p["accuracy"] for p in pts], markers[n % len(markers)] + "--",
                        ms=5, lw=0.8, label=fam)  # fmt: skip
        if c["accuracy"] is not None and c.get(key) is not None:
            ax.plot([c[key]], [c["accuracy"]], "k*", ms=12, label="cons@N")
            ax.axhline(c["accuracy"] - res["config"]["target_drop"], ls=":", color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_xlabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("accuracy")
    fig.suptitle(Path(res["pool"]).name)
    axes[1].legend(fontsize=7, ncol=2)
    return _save(fig, path, dpi=110)


def headroom_plot(res: dict, path: str | os.PathLike) -> Path:
    """Accuracy vs tokens per question: cons@k, the oracle allocator at cons@k's tokens (the bound
    on every vote over arrival-order traces) and the ASC allocator, cons@N's accuracy marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4.5))
    rows = res["rows"]
    tok = [r["tokens"] for r in rows]
    ax.plot(tok, [r["cons_k_accuracy"] for r in rows], "o-", color="gray", ms=4, label="cons@k")
    ax.plot(
        tok, [r["oracle_accuracy"] for r in rows], "s--", ms=4, label="oracle allocator (bound)"
    )
    ax.plot(
        [r["asc_tokens"] for r in rows],
        [r["asc_accuracy"] for r in rows],
        "^-",
        ms=4,
        label="ASC allocator",
    )
    ax.axhline(res["cons_n_accuracy"], ls=":", color="k", lw=0.8, label="cons@N")
    ax.set_xscale("log")
    ax.set_xlabel("tokens per question (log)")
    ax.set_ylabel("accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(Path(res["pool"]).name, fontsize=9)
    return _save(fig, path, dpi=110)

"""Figures: accuracy vs generated tokens (and vs sequential tokens), every method on one plot per pool."""

from __future__ import annotations

import os
from pathlib import Path


def tradeoff_plot(result: dict, path: str | os.PathLike) -> Path:
    """Accuracy vs tokens/question: cons@k curve, baselines as points, the tau sweep as a curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    curve = [r for r in result["cons_k_curve"] if r.get("accuracy") is not None]
    if curve:
        ax.plot(
            [r["tokens"] for r in curve],
            [100 * r["accuracy"] for r in curve],
            "-",
            color="0.6",
            label="cons@k, k=1..N",
        )
    if result["sweep"]:
        sw = [r for r in result["sweep"] if r.get("accuracy") is not None]
        ax.plot(
            [r["tokens"] for r in sw],
            [100 * r["accuracy"] for r in sw],
            "o-",
            ms=3,
            label=f"DeepPrune τ sweep ({result['judges'][0]})",
        )
    for r in result["rows"]:
        if "skipped" in r or r.get("accuracy") is None:
            continue
        ax.plot(
            r["tokens"],
            100 * r["accuracy"],
            "s" if "deepprune" in r["method"] else "^",
            ms=7,
            label=r["method"],
        )
    ax.set_xscale("log")
    ax.set_xlabel(f"generated tokens per question ({result['token_counter']})")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(Path(result["pool"]).name)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    return _save(fig, path, dpi=120)


def _save(fig, path, dpi: int) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


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

"""Figures: accuracy vs generated tokens, every method on one plot per pool."""

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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

"""The recipe ``solve --methods auto`` and ``proxy --method auto`` run: a method and its live
settings, chosen out of sample by ``deepprune transfer`` (``make transfer``) on the shared pools.

The packaged recipe is ``deepprune/data/auto_recipe.json``; ``--recipe FILE`` names another
(one ``deepprune transfer --recipe FILE`` wrote on your own pools).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from deepprune.errors import ConfigError, MissingInputError

PACKAGED = Path(__file__).resolve().parents[1] / "data" / "auto_recipe.json"
# what a recipe may set: the live method and the SolveConfig fields its settings use
LIVE_KEYS = {"methods", "k", "max_tokens", "wave", "asc_threshold", "asc_criterion", "consol_alpha",
             "short_m", "short_k"}  # fmt: skip


def load_recipe(path: str | os.PathLike | None = None) -> dict:
    """The recipe at ``path`` (default: the packaged one), checked: one-line errors naming the file."""
    p = Path(path) if path else PACKAGED
    if not p.is_file():
        raise MissingInputError(
            f"{p}: no such recipe file (write one with deepprune transfer --recipe FILE)"
        )
    try:
        rec = json.loads(p.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ConfigError(f"{p}: not a recipe JSON ({e})") from None
    live = rec.get("live") if isinstance(rec, dict) else None
    if (
        not isinstance(live, dict)
        or not isinstance(live.get("methods"), list)
        or not live["methods"]
    ):
        raise ConfigError(f'{p}: a recipe needs "live": {{"methods": [...], ...}}')
    unknown = set(live) - LIVE_KEYS
    if unknown:
        raise ConfigError(
            f"{p}: unknown live settings {sorted(unknown)}; known: {', '.join(sorted(LIVE_KEYS))}"
        )
    return rec

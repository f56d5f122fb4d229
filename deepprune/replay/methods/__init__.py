"""Online methods, each one unit over the same pool data and cost ledger.

The one registry is :func:`families`: a plain dict of method family -> its operating points
(a family's paper default is among them, marked). ``deepprune prune`` runs the
:data:`BASELINE_FAMILIES` beside DeepPrune; ``deepprune compare`` runs the others.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from deepprune.greedy import ClusterConfig
from deepprune.replay.methods.adaptive import AdaptiveDeepPrune
from deepprune.replay.methods.base import Method, Outcome
from deepprune.replay.methods.confidence import ConfidenceVote
from deepprune.replay.methods.deepconf import DeepConfOffline, DeepConfOnline
from deepprune.replay.methods.deepprune_method import DeepPrune
from deepprune.replay.methods.prefix_cluster import PoLR, SlimSC
from deepprune.replay.methods.probing import ParallelProbe
from deepprune.replay.methods.sequential import (
    ESC,
    AdaptiveConsistency,
    ConSol,
    EntropyStop,
    ShortMK,
)
from deepprune.replay.methods.voting import ConsK, ConsN, PassAt1
from deepprune.replay.methods.waves import CappedConsK, WaveStop

# the rows `deepprune prune` prints beside DeepPrune (pass@1 and cons@N first)
BASELINE_FAMILIES = ("pass@1", "cons@N", "deepconf")


DEEPPRUNE_TAUS = (
    0.3,
    0.5,
    0.7,
    0.9,
)  # the deepprune family's tau grid (ours; the paper's 0.5 in it)


def families(
    sim: str = "lexical:tfidf", cluster: ClusterConfig | None = None, taus=DEEPPRUNE_TAUS
) -> dict[str, Callable[[], list[Method]]]:
    """Method family -> its operating points; ``sim`` is the similarity of the prefix-clustering
    families (PoLR, Slim-SC, DeepPrune); ``cluster`` the DeepPrune families' K, K1, K2, K3 (the
    paper's by default) and ``taus`` the deepprune family's operating points."""
    cl = cluster or ClusterConfig()
    return {
        "pass@1": lambda: [PassAt1()],
        "cons@N": lambda: [ConsN()],
        "esc": lambda: [ESC(w) for w in (2, 3, 5, 8)],  # paper default w = 5
        "adaptive-consistency": lambda: (
            [AdaptiveConsistency(t) for t in (0.8, 0.9, 0.95, 0.99)]
            + [AdaptiveConsistency(0.95, "dirichlet")]
        ),  # paper default: beta, 0.95
        # paper: short-1@k, short-3@k; k = N and (our choice) small k, where it beats cons@k (issue 26)
        "short-m@k": lambda: (
            [ShortMK(m) for m in (1, 3, 5, 9)]
            + [ShortMK(m, k) for k in (2, 4, 8, 16) for m in (1, 3) if m <= k]
        ),
        "consol": lambda: [ConSol(alpha=a) for a in (0.2, 0.1, 0.05, 0.01)],
        "entropy-stop": lambda: [EntropyStop(h) for h in (1.0, 0.5, 0.25, 0.0)],
        "polr": lambda: [PoLR(sim, tau) for tau in (0.3, 0.5, 0.7, 0.9)],
        "slim-sc": lambda: [SlimSC(sim, th) for th in (0.8, 0.9, 0.95, 0.98)],
        "deepprune": lambda: [
            DeepPrune(sim, replace(cl, tau=t), name=f"deepprune[{sim}](tau={t:g})") for t in taus
        ],
        # adaptive N and adaptive completion (issue 26; defaults our choice, see adaptive.py)
        "deepprune-adaptive": lambda: [
            AdaptiveDeepPrune(sim, cl, n0=None),
            AdaptiveDeepPrune(sim, cl, n0=4),
            AdaptiveDeepPrune(sim, cl, n0=8),
            AdaptiveDeepPrune(sim, cl, n0=4, threshold=0.8),
        ],
        # sketch-gated comparisons: at most 3 members of a cluster compared (K1 = 3; Sketch-Gated
        # DeepPrune reports 1.82x fewer judge prompts at equal accuracy), tau as DeepPrune's default
        "deepprune-sketch": lambda: [
            DeepPrune(sim, replace(cl, K1=3), name=f"deepprune-sketch[{sim}](K1=3)")
        ],
        "deepprune-oracle": lambda: [DeepPrune("oracle", cl, name="deepprune[oracle] (ceiling)")],
        # DeepConf: eta = 10 (-low) and 90 (-high), offline and online (paper)
        "deepconf": lambda: [
            DeepConfOffline(10, "deepconf-low-offline"),
            DeepConfOffline(90, "deepconf-high-offline"),
            DeepConfOnline(10, "deepconf-low"),
            DeepConfOnline(90, "deepconf-high"),
        ],
        # paper default (published configuration): T = 40; shorter consensus windows are our choice
        "parallel-probe": lambda: [ParallelProbe(T=t) for t in (10, 20, 40)],
        "conf-vote": lambda: [
            ConfidenceVote(s, eta)
            for s in ("mean", "tail", "bottom10", "lowest")
            for eta in (100.0, 10.0)
        ],  # fmt: skip
    }


@dataclass(frozen=True)
class Setting:
    """One operating point: its family, the replay method, and how ``solve`` runs it live (the
    :class:`~deepprune.engine.solve_config.SolveConfig` fields; None: not runnable live)."""

    family: str
    make: Callable[[], Method]
    live: dict | None

    @property
    def name(self) -> str:
        return self.make().name


def transfer_settings() -> list[Setting]:
    """``deepprune transfer``'s operating points: answer-level families every pool can run (and
    Parallel-Probe where a pool has probes), each with its live settings. Grids are our choice;
    each paper's default is among them."""
    out = [Setting("cons@k", lambda k=k: ConsK(k), {"methods": ["cons@k"], "k": k})
           for k in (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)]  # fmt: skip
    for crit, thresholds, waves in (("beta", (0.8, 0.85, 0.9, 0.95, 0.99), (1, 2, 3, 4, 6, 8, 16)),  # ASC default: beta, 0.95
                                    ("dirichlet", (0.8, 0.9, 0.95), (1, 4, 8))):  # fmt: skip
        fam = "asc" if crit == "beta" else "asc-dirichlet"
        for t in thresholds:
            for w in waves:
                out.append(Setting(fam, lambda t=t, w=w, c=crit: WaveStop(AdaptiveConsistency(t, c), w),
                                   {"methods": ["asc"], "asc_criterion": crit, "asc_threshold": t, "wave": w}))  # fmt: skip
    for a in (
        0.3,
        0.2,
        0.1,
        0.05,
        0.01,
    ):  # ConSol as Wald's SPRT (our defaults; see sequential.ConSol)
        for w in (1, 2, 4, 8):
            out.append(Setting("consol", lambda a=a, w=w: WaveStop(ConSol(alpha=a), w),
                               {"methods": ["consol"], "consol_alpha": a, "wave": w}))  # fmt: skip
    for w in (2, 3, 4, 5, 8, 16):  # ESC's windows are its waves (paper default w = 5)
        out.append(Setting("esc", lambda w=w: ESC(w), {"methods": ["esc"], "wave": w}))
    for m, k in (
        (1, 2),
        (1, 4),
        (3, 4),
        (1, 8),
        (3, 8),
        (1, 16),
        (3, 16),
        (5, 16),
        (1, None),
        (3, None),
    ):
        out.append(Setting("short-m@k", lambda m=m, k=k: ShortMK(m, k),
                           {"methods": ["short-m@k"], "short_m": m, "short_k": k or 0}))  # fmt: skip
    for k in (4, 8, 16, 32):
        for b in (4096, 8192, 16384, 32768):
            out.append(Setting("capped-cons@k", lambda k=k, b=b: CappedConsK(k, b),
                               {"methods": ["cons@k"], "k": k, "max_tokens": b}))  # fmt: skip
    for t in (10, 20, 40):  # published T = 40
        out.append(Setting("parallel-probe", lambda t=t: ParallelProbe(T=t), None))
    return out


__all__ = ["AdaptiveDeepPrune", "BASELINE_FAMILIES", "ConsK", "ConsN", "DeepConfOffline", "DeepConfOnline", "DeepPrune", "Method",
           "Outcome", "ParallelProbe", "PassAt1", "Setting", "families", "transfer_settings"]  # fmt: skip

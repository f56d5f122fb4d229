"""Online methods, each one unit over the same pool data and cost ledger.

Selection by name is a plain dict (:data:`BASELINES`); ``deepprune.replay.compare`` lists the families.
"""

from deepprune.replay.methods.base import Method, Outcome
from deepprune.replay.methods.deepconf import DeepConfOffline, DeepConfOnline
from deepprune.replay.methods.deepprune_method import DeepPrune
from deepprune.replay.methods.probing import ParallelProbe
from deepprune.replay.methods.voting import ConsK, ConsN, PassAt1

BASELINES = {
    "pass@1": PassAt1,
    "cons@N": ConsN,
    "deepconf-low-offline": lambda: DeepConfOffline(10, "deepconf-low-offline"),
    "deepconf-high-offline": lambda: DeepConfOffline(90, "deepconf-high-offline"),
    "deepconf-low": lambda: DeepConfOnline(10, "deepconf-low"),
    "deepconf-high": lambda: DeepConfOnline(90, "deepconf-high"),
}

__all__ = ["BASELINES", "ConsK", "ConsN", "DeepConfOffline", "DeepConfOnline", "DeepPrune", "Method", "Outcome",
           "ParallelProbe", "PassAt1"]  # fmt: skip

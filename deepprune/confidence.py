"""DeepConf's confidence (Fu et al., "Deep Think with Confidence", arXiv 2508.15260), defined once.

A leaf used by the replay methods (saved ``confs``), ``generate`` (recording ``confs``) and
``solve`` (DeepConf-online's live stop): token confidence from the top-k log-probabilities,
sliding-window group means and a trace's lowest group confidence, and an incremental
:class:`WindowWatch` for a trace that is still streaming.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

WINDOW = 2048  # DeepConf: group size (tokens)


def token_confidence(top_logprobs: Sequence[float]) -> float:
    """DeepConf's token confidence: minus the mean log-probability of the top-k candidates.

    Example:
        >>> token_confidence([-0.5, -1.5])
        1.0
    """
    return float(-np.mean(top_logprobs))


def window_means(confs, window: int = WINDOW) -> np.ndarray:
    """Mean confidence of every full window of ``window`` tokens (one mean of all tokens when the
    trace is no longer than a window; ``[0.0]`` for an empty trace).

    Example:
        >>> window_means([1.0, 2.0, 3.0], 2).tolist()
        [1.5, 2.5]
    """
    confs = np.asarray(confs)
    if len(confs) <= window:
        return np.array([confs.mean()]) if len(confs) else np.array([0.0])
    c = np.concatenate([[0.0], np.cumsum(confs)])
    return (c[window:] - c[:-window]) / window


def lowest_group_conf(confs, window: int = WINDOW) -> float:
    """A trace's lowest group confidence (DeepConf's trace score)."""
    return float(window_means(confs, window).min())


class WindowWatch:
    """Token confidences of a streaming trace, added as they arrive.

    Example:
        >>> w = WindowWatch(2)
        >>> w.add([3.0]); w.below(2.0)
        False
        >>> w.add([0.0]); w.below(2.0)
        True
        >>> w.lowest()
        1.5
    """

    def __init__(self, window: int = WINDOW):
        self.window, self.confs = window, []

    def add(self, confs: Sequence[float]) -> None:
        self.confs.extend(confs)

    def __len__(self) -> int:
        return len(self.confs)

    def below(self, threshold: float) -> bool:
        """The latest full window's mean is below ``threshold`` (False before a full window)."""
        w = self.window
        return len(self.confs) >= w and float(np.mean(self.confs[-w:])) < threshold

    def lowest(self) -> float:
        return lowest_group_conf(self.confs, self.window)

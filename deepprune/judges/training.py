"""What every trained judge's training shares: :class:`JudgeTrainConfig` (the cross-encoder's
and the feature judge's configs extend it) and its validation."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepprune.errors import ConfigError
from deepprune.truncate import PAPER_TRUNC


@dataclass
class JudgeTrainConfig:
    """Data, loss and split of a trained judge. Values are our choice unless marked "paper"."""

    trunc: str = PAPER_TRUNC
    loss: str = "focal"  # paper: focal loss ("ce" for the ablation)
    gamma: float = 2.0  # Lin et al. default
    # class-aware alpha per label word (the minority "no" weighs more)
    alpha: dict[str, float] = field(default_factory=lambda: {"yes": 0.25, "no": 0.75})
    oversample: float = 2.0  # paper: minority class 2x
    test_fraction: float = 0.2  # held-out questions, never trained on (as pairs build)
    lr: float = 3e-5
    seed: int = 0

    def __post_init__(self):
        check_training(self)


def check_training(cfg) -> None:
    """Validate the fields shared by trained judges' configs (those a config has)."""
    if cfg.loss not in ("focal", "ce"):
        raise ConfigError(f"loss must be focal or ce, got {cfg.loss!r}")
    unknown = set(cfg.alpha) - {"yes", "no"}
    if unknown:
        raise ConfigError(f"alpha keys must be 'yes'/'no', got {sorted(unknown)}")
    if any(not a > 0 for a in cfg.alpha.values()):
        raise ConfigError(f"alpha values must be > 0, got {cfg.alpha}")
    if cfg.gamma < 0:
        raise ConfigError(f"gamma must be >= 0, got {cfg.gamma}")
    if cfg.oversample < 1:
        raise ConfigError(f"oversample must be >= 1, got {cfg.oversample}")
    if not 0 <= cfg.test_fraction < 1:
        raise ConfigError(f"test_fraction must be in [0, 1), got {cfg.test_fraction}")
    if not cfg.lr > 0:
        raise ConfigError(f"lr must be > 0, got {cfg.lr}")
    for name in ("epochs", "batch_size", "steps", "save_every"):
        if hasattr(cfg, name) and getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")

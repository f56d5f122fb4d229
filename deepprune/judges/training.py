"""What every trained judge's configuration must satisfy (the cross-encoder and the feature judge)."""

from __future__ import annotations

from deepprune.errors import ConfigError


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
    if not cfg.lr > 0:
        raise ConfigError(f"lr must be > 0, got {cfg.lr}")
    for name in ("epochs", "batch_size", "steps", "save_every"):
        if hasattr(cfg, name) and getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be >= 1, got {getattr(cfg, name)}")

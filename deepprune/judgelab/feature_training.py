"""Training the pair-feature judge (the judge lab; the judge itself is :mod:`deepprune.judges.features`).

    deepprune features train --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl \
        --trunc words:25 --out runs/feature-judge

Features of every pair of a question (cached per question on disk when asked), a full-batch
classifier fitted on them with the project's focal loss and the paper's 2x minority
oversampling, on the question-level train split that ``pairs build`` uses.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import atomic_write
from deepprune.errors import ConfigError
from deepprune.judgelab.train_configs import FeatureJudgeConfig, TrainJob
from deepprune.judges.features import MANIFEST, SCALARS, WEIGHTS, PrefixEncoder, question_features
from deepprune.questions import PreparedQuestion, labelled_questions
from deepprune.splits import split_questions


def featurise(questions: list[PreparedQuestion], enc: PrefixEncoder, progress: bool,
               cache: str | os.PathLike | None = None) -> list[np.ndarray | None]:  # fmt: skip
    """Pair features of every question (rows in ``itertools.combinations`` order; None: fewer
    than two traces); with ``cache``, one .npy per question is kept there (named by a hash of
    the encoder, tail length and the prefixes), so a killed run resumes without re-embedding
    what it finished."""
    from tqdm import tqdm

    out = []
    for q in tqdm(questions, desc="features", unit="question", disable=not progress):
        if q.n < 2:
            out.append(None)  # no pairs
            continue
        path = None
        if cache is not None:
            h = hashlib.sha256(
                f"{enc.emb.id}|{enc.tail_words}|".encode() + "\x00".join(q.prefixes).encode()
            )
            path = Path(cache) / f"{h.hexdigest()[:32]}.npy"
        if path is not None and path.exists():
            x = np.load(path)
        else:
            x, _, _ = question_features(q.prefixes, enc.represent(q.prefixes))
            if path is not None:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = path.with_suffix(".tmp.npy")
                np.save(tmp, x)
                os.replace(tmp, path)
        out.append(x)
    return out


def fit_weights(x: np.ndarray, y: np.ndarray, cfg: FeatureJudgeConfig) -> dict[str, np.ndarray]:
    """Full-batch training of the classifier on standardised features; returns its arrays."""
    import torch

    from deepprune.focal import focal_loss

    if not cfg.vectors:
        x = x[:, -len(SCALARS) :]
    from deepprune.pairs import minority_repeats

    # the paper's oversampling, by the pair builder's rule: repeat minority rows
    idx = list(range(len(y))) + minority_repeats(y, cfg.oversample, random.Random(cfg.seed))
    mu, sd = x.mean(0), x.std(0) + 1e-6
    torch.manual_seed(cfg.seed)
    xt = torch.from_numpy((x[idx] - mu) / sd).float()
    yt = torch.from_numpy(y[idx]).long()
    d = x.shape[1]
    if cfg.hidden:
        net = torch.nn.Sequential(
            torch.nn.Linear(d, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, 2)
        )
    else:
        net = torch.nn.Sequential(torch.nn.Linear(d, 2))
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    alpha_vec = (
        torch.tensor([cfg.alpha.get("no", 1.0), cfg.alpha.get("yes", 1.0)])
        if cfg.loss == "focal"
        else None
    )
    gamma = cfg.gamma if cfg.loss == "focal" else 0.0
    for _ in range(cfg.steps):
        loss = focal_loss(
            net(xt)[:, None, :], yt[:, None], gamma=gamma, alpha_vec=alpha_vec, shift=False
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
    arrays = {f"p{k}": p.detach().numpy() for k, p in enumerate(net.parameters())}
    return {
        "mu": mu,
        "sd": sd,
        "vectors": np.array(cfg.vectors),
        "final_loss": np.array(float(loss.detach())),
        **arrays,
    }


def train_feature_judge(pools: Sequence[str], out: str | os.PathLike, cfg: FeatureJudgeConfig,
                        progress: bool = True, questions: list[PreparedQuestion] | None = None,
                        train_keys: set[str] | None = None) -> dict:  # fmt: skip
    """Train on the pools' train split (or ``train_keys``); write the judge to ``out``.

    Returns the manifest written beside the weights. ``questions`` reuses featurised
    questions (cross-fitting trains several judges on the same features).
    """
    out = Path(out)
    (out / MANIFEST).unlink(missing_ok=True)  # a half-written directory never looks finished
    t0 = time.time()
    if questions is None:  # the pools are read before the encoder loads: bad input fails fast
        questions = labelled_questions(pools, cfg.trunc)
    if train_keys is None:
        train_keys, _ = split_questions([q.key for q in questions], cfg.test_fraction, cfg.seed)
    train = [q for q in questions if q.key in train_keys and q.n >= 2]
    where = ", ".join(map(str, pools))
    if not train:
        raise ConfigError(f"{where}: no training question has two answered traces with text: "
                          "nothing to train on")  # fmt: skip
    same = any(len(set(q.labels.tolist())) < q.n for q in train)  # some pair agrees
    differ = any(len(set(q.labels.tolist())) > 1 for q in train)  # some pair disagrees
    if not (same and differ):
        raise ConfigError(f"{where}: the training pairs are all one class (all {'same' if same else 'different'} "
                          "answers): nothing for a judge to learn")  # fmt: skip
    x = np.concatenate(featurise(train, PrefixEncoder(cfg.encoder, cfg.tail_words), progress))
    y = np.concatenate([q.pair_labels() for q in train])
    w = fit_weights(x, y, cfg)
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS + ".tmp.npz")
    np.savez(tmp, **w)
    os.replace(tmp, out / WEIGHTS)
    from deepprune.judges.embedding import default_sbert_path

    manifest = {"config": asdict(cfg), "encoder": cfg.encoder or default_sbert_path(),
                "pools": [str(p) for p in pools], "train_questions": sorted(train_keys),
                "train_pairs": {"yes": int(y.sum()), "no": int(len(y) - y.sum())},
                "features": ["tail_prod"] * (x.shape[1] - 6) + list(SCALARS),
                "final_loss": float(w["final_loss"]), "seconds": round(time.time() - t0, 1),
                "sha256": {WEIGHTS: hashlib.sha256((out / WEIGHTS).read_bytes()).hexdigest()}}  # fmt: skip
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


@dataclass
class FeatureTrainJob(TrainJob):
    """``deepprune features train``: train on the pools' train split (question-level, as pairs build)."""

    config: FeatureJudgeConfig = field(default_factory=FeatureJudgeConfig)

    kind, summary = "features", ("train_pairs", "final_loss", "seconds")
    train = staticmethod(train_feature_judge)

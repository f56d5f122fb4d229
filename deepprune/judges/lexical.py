"""Untrained lexical judges: word-set Jaccard and TF-IDF cosine."""

from __future__ import annotations

import re

import numpy as np

from deepprune.judges.base import Judge

WORD_RE = re.compile(r"\w+")


class JaccardJudge(Judge):
    inline = True  # cheap, no model or server: scored on the event loop
    id = "lexical:jaccard"
    params = 0.0  # no model: string operations on the CPU

    def score(self, pairs):
        out = np.empty(len(pairs))
        for k, p in enumerate(pairs):
            a = set(WORD_RE.findall(p.prefix_a.lower()))
            b = set(WORD_RE.findall(p.prefix_b.lower()))
            out[k] = len(a & b) / len(a | b) if a | b else 1.0
        return out


class TfidfJudge(Judge):
    """TF-IDF cosine with the IDF fitted on one question's prefixes (or one evaluation set).

    :meth:`score_indexed` fits on the ``texts`` it is given (a question's prefixes) and keeps
    that question's transformed matrix, so each question is fitted and transformed once, and
    no question is ever scored with another's vocabulary. :meth:`score` uses the fit of
    :meth:`prepare` (the whole evaluation set), or fits on the batch's own texts.
    """

    inline = True  # cheap, no model or server: scored on the event loop
    id = "lexical:tfidf"
    params = 0.0  # no model

    fits_texts = True

    def __init__(self):
        self._vec = None  # fitted by prepare()
        self._question: tuple[object, object] | None = None  # (texts, their rows or False)
        self.fits = 0  # how many times an IDF was fitted (tests: once per question)

    def _fit(self, texts):
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.fits += 1
        vec = TfidfVectorizer(sublinear_tf=True, token_pattern=r"(?u)\b\w+\b")
        try:
            vec.fit([t or " " for t in texts])
        except ValueError:  # no words at all (e.g. empty prefixes): fall back to exact equality
            return False
        return vec

    def prepare(self, texts):
        import hashlib

        self._vec = self._fit(texts)
        h = hashlib.sha1("\0".join(sorted(set(texts))).encode("utf-8", "surrogatepass"))
        self._fitted_on = h.hexdigest()[:16]

    @property
    def cache_id(self) -> str:  # scores depend on the texts the IDF was fitted on
        return f"{self.id}|idf={getattr(self, '_fitted_on', 'batch')}"

    def score(self, pairs):
        vec = (
            self._vec
            if self._vec is not None
            else self._fit([t for p in pairs for t in (p.prefix_a, p.prefix_b)])
        )
        if vec is False:
            return np.array([float(p.prefix_a.strip() == p.prefix_b.strip()) for p in pairs])
        a = vec.transform([p.prefix_a for p in pairs])
        b = vec.transform([p.prefix_b for p in pairs])
        return np.clip(
            np.asarray(a.multiply(b).sum(axis=1)).ravel(), 0.0, 1.0
        )  # rows are L2-normalised

    def score_indexed(self, texts, i, j, question=None):
        if self._question is None or self._question[0] is not texts:
            vec = self._fit(texts)
            self._question = (texts, vec and vec.transform(texts))
        m = self._question[1]
        if m is False:
            return np.array([float(texts[a].strip() == texts[b].strip()) for a, b in zip(i, j)])
        return np.clip(np.asarray(m[i].multiply(m[j]).sum(axis=1)).ravel(), 0.0, 1.0)

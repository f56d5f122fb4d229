"""The answer-probe judge: two traces agree if the answers they give when forced to answer agree.

    deepprune prune --pool ../shared/data/pools/probe-qwen3-8b-aime24-n128.jsonl --trunc probe:2 --judge probe

Works on pools with ``probes`` (the answer a trace gives from its partial reasoning every
``probe_every`` tokens) under the truncation ``probe:J`` (the first J probes). The score of a
pair is the mean, over the last ``last`` probe positions before the cut (default 1, our
choice), of 1 when both probe answers are equivalent (the project's grading), 0 when both
exist and differ, and 0.5 when either trace gave no answer there (unknown).
"""

from __future__ import annotations

import json

import numpy as np

from deepprune.errors import ConfigError
from deepprune.grading import AnswerClasses
from deepprune.judges.base import Judge, JudgeCost
from deepprune.probes import probe_tokens


class ProbeJudge(Judge):
    inline = True  # cheap, no model or server: scored on the event loop
    reads = "probes"
    params = 0.0  # compares answers the reasoner already gave

    def __init__(self, last: int = 1):
        if last < 1:
            raise ConfigError(f"probe judge: last must be >= 1, got {last}")
        self.last = last
        self.id = "probe" if last == 1 else f"probe:last={last}"
        # (texts, class ids per (trace, position))
        self._question: tuple[object, np.ndarray] | None = None

    def _classes(self, texts) -> np.ndarray:
        """(n, last) answer-class ids of each trace's last probes; -1 = no answer there."""
        if self._question is not None and self._question[0] is texts:
            return self._question[1]
        try:  # an empty text: a trace whose probes have not arrived yet (live), no answers
            rows = [json.loads(t) if t else {"probes": []} for t in texts]
            kind = next(r["answer_type"] for r in rows if "answer_type" in r)
            probes = [r["probes"] for r in rows]
        except (json.JSONDecodeError, KeyError, TypeError, StopIteration):
            raise ConfigError(
                "the probe judge reads answer probes: use it with --trunc probe:J on a pool with probes"
            ) from None
        depth = max((len(p) for p in probes), default=0)
        cls = np.full((len(probes), self.last), -1, dtype=np.int64)
        for k in range(self.last):  # position depth-1-k, counted back from the cut
            pos = depth - 1 - k
            if pos < 0:
                continue
            answers = [p[pos] if pos < len(p) else None for p in probes]
            cls[:, k] = AnswerClasses(answers, kind).labels
        self._question = (texts, cls)
        return cls

    def score_indexed(self, texts, i, j, question=None):
        c = self._classes(texts)
        a, b = c[np.asarray(i)], c[np.asarray(j)]
        known = (a >= 0) & (b >= 0)
        return np.where(known, (a == b).astype(float), 0.5).mean(axis=1)

    def score(self, pairs):
        texts = [t for p in pairs for t in (p.prefix_a, p.prefix_b)]
        k = np.arange(len(pairs))
        return self.score_indexed(tuple(texts), 2 * k, 2 * k + 1)

    def cost(self, texts, counts=None):
        """Comparing answers reads nothing; making them costs each trace its probes at the last
        ``last`` positions before the cut (the reasoning model's tokens, :func:`deepprune.probes.probe_tokens`:
        an estimate where the pool does not record them)."""
        per_trace = np.zeros(len(texts), dtype=np.int64)
        try:
            probes = [json.loads(t)["probes"] if t else [] for t in texts]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ConfigError(
                "the probe judge reads answer probes: use it with --trunc probe:J on a pool with probes"
            ) from None
        depth = max((len(p) for p in probes), default=0)
        for n, p in enumerate(probes):
            per_trace[n] = sum(probe_tokens(p[pos]) for pos in range(max(depth - self.last, 0), depth)
                               if pos < len(p))  # fmt: skip
        return JudgeCost(np.zeros(len(texts), dtype=np.int64), per_trace=per_trace)

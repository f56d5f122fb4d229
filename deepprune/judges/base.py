"""The judge interface: P(two truncated traces reach the same final answer), in batches.

A judge never sees the true answers: :class:`Judge` methods take prefixes only. The two
oracles (references, not judges one could deploy) are :class:`LabelledJudge` and read the
labels through their own methods; :func:`judge_scores` and :func:`judge_scores_indexed`
are the only places labels are handed over, and only to them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from deepprune.errors import ConfigError, DeepPruneError


@dataclass(frozen=True)
class JudgePair:
    """Two truncated traces of one question (no label: judges must not see it)."""

    prefix_a: str
    prefix_b: str
    question: str | None = None


@dataclass(frozen=True)
class JudgeCost:
    """Input tokens a judge reads: ``per_pair + per_prefix[i] + per_prefix[j]`` per call, x ``passes``."""

    per_prefix: np.ndarray  # (n,) tokens of each prefix as the judge reads it
    per_pair: int = 0  # prompt template tokens around the two prefixes
    passes: int = 1  # 2 when the judge scores both orders
    # (n,) reasoning-model tokens spent once per trace to make what the judge reads (answer
    # probes); None: nothing (a text judge reads the prefix as generated)
    per_trace: np.ndarray | None = None

    def of(self, i, j) -> np.ndarray:
        """Input tokens of the calls (i[k], j[k])."""
        return self.passes * (self.per_pair + self.per_prefix[i] + self.per_prefix[j])


class Judge:
    """Base class: subclasses implement :meth:`score` (and may override the others)."""

    id: str = "judge"
    reads = "text"  # what the judge needs of a trace: "text", "probes" or (the oracles) "labels"
    # a score costs microseconds and touches no model or server: the live engine calls it inline
    # (others run in a worker thread, under --judge-timeout, so they never block the event loop)
    inline = False

    fits_texts = False  # True: prepare() fits on the texts (TF-IDF's IDF): prepare per question

    def prepare(self, texts: Sequence[str]) -> None:  # noqa: B027 - optional hook
        """Optionally see the prefixes first (TF-IDF fits its IDF there; callers give it one
        question's prefixes at a time, as online)."""

    @property
    def params(self) -> float | None:
        """The judge model's parameter count (its compute per input token, for the ledger's net
        reduction); None: unknown (the ledger then assumes the paper's 4B judge)."""
        model = getattr(self, "model", None)
        if model is None or not hasattr(model, "parameters"):
            return None
        return float(sum(p.numel() for p in model.parameters()))

    @staticmethod
    def weights_digest(path: str | os.PathLike) -> str:
        """A short hash of a model directory's weight files (content, not path: a model retrained
        into the same folder gets new cache keys)."""
        import hashlib
        from pathlib import Path

        h = hashlib.sha256()
        files = sorted(p for p in Path(path).rglob("*") if p.is_file() and p.suffix in
                       (".safetensors", ".bin", ".pt", ".npz", ".gguf", ".pth"))  # fmt: skip
        for f in files:
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                    h.update(block)
        return h.hexdigest()[:16]

    @property
    def cache_id(self) -> str:
        """What a cached score is keyed by besides its two prefixes: the judge's id, plus, for a
        judge whose scores depend on what it was prepared on (TF-IDF), that set."""
        return self.id

    def score(self, pairs: Sequence[JudgePair]) -> np.ndarray:
        raise NotImplementedError

    def score_indexed(
        self, texts: Sequence[str], i: np.ndarray, j: np.ndarray, question: str | None = None
    ) -> np.ndarray:
        """Score the pairs (texts[i[k]], texts[j[k]]) of one question: same result as :meth:`score`.

        The online engine calls this with one question's prefixes; judges that can work on
        indices (embeddings, TF-IDF) override it to represent each prefix once.
        """
        return self.score([JudgePair(texts[a], texts[b], question) for a, b in zip(i, j)])

    def input_tokens(self, pair: JudgePair) -> int:
        """Tokens the judge reads for one pair (cost accounting)."""
        return int(self.cost([pair.prefix_a, pair.prefix_b]).of(np.array([0]), np.array([1]))[0])

    def cost(self, texts: Sequence[str], counts: np.ndarray | None = None) -> JudgeCost:
        """What the judge reads per call: by default the two prefixes, as counted by the pool's
        counter (``counts``, one per text) or by the regex-4char counter."""
        if counts is None:
            from deepprune.tokens import get_counter

            c = get_counter(None)
            counts = [c.count(t) for t in texts]
        arr = np.asarray(counts, dtype=float)
        if not np.isfinite(
            arr
        ).all():  # a trace without text has no prefix to read: no cost to cast
            raise ConfigError("a judge's cost over prefixes without text (a NaN token count): the judge "
                              "cannot run on these traces")  # fmt: skip
        return JudgeCost(arr.astype(np.int64))


class LabelledJudge(Judge):
    inline = True  # the oracles read labels
    """A reference that reads the true labels (the oracles); never a deployable judge."""

    reads = "labels"

    def score(self, pairs):
        raise ConfigError(
            f"judge {self.id!r} needs labelled pairs (a 'label' of 0/1 on every pair)"
        )

    def score_indexed(self, texts, i, j, question=None):
        raise ConfigError(f"judge {self.id!r} needs labelled pairs")

    def score_labelled(self, pairs: Sequence[JudgePair], labels: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def score_indexed_labelled(self, texts, i, j, labels: np.ndarray) -> np.ndarray:
        return self.score_labelled([JudgePair(texts[a], texts[b]) for a, b in zip(i, j)], labels)


def _labels(judge: Judge, labels) -> np.ndarray:
    if labels is None or any(x is None for x in labels):
        raise ConfigError(
            f"judge {judge.id!r} needs labelled pairs (a 'label' of 0/1 on every pair)"
        )
    return np.asarray(labels, dtype=int)


def read_finished(path: str, manifest: str, what: str) -> tuple[dict, str]:
    """A trained judge's directory: its manifest (written last, so its presence means finished) and
    a short hash of the weights it lists (a cache key that retraining changes); one-line errors
    naming ``what`` (e.g. "cross-encoder judge") when the directory or the manifest is missing."""
    import hashlib
    import json
    from pathlib import Path

    from deepprune.errors import MissingInputError

    if not os.path.isdir(path):
        raise MissingInputError(f"{what} path {path}: no such directory")
    if not (Path(path) / manifest).exists():
        raise ConfigError(f"{path}: not a finished {what} ({manifest} missing; train it first)")
    man = json.loads((Path(path) / manifest).read_text())
    digest = hashlib.sha256(json.dumps(man.get("sha256"), sort_keys=True).encode()).hexdigest()
    return man, digest[:16]


def finite_scores(judge: Judge, scores) -> np.ndarray:
    """``scores`` as an array, refused (one line) if any is NaN: a NaN compares false with every
    tau, so a judge that returns one (a NaN logprob from an endpoint) would split every cluster
    silently and the run would still exit 0."""
    s = np.asarray(scores, dtype=float)
    if np.isnan(s).any():
        raise DeepPruneError(f"judge {judge.id!r} returned {int(np.isnan(s).sum())} NaN score(s) of "
                             f"{s.size} (a NaN logprob?): refused, a NaN score decides nothing")  # fmt: skip
    return s


def judge_scores(judge: Judge, pairs: Sequence[JudgePair], labels=None) -> np.ndarray:
    """Scores of ``pairs`` (NaN refused); ``labels`` reach the judge only if it is a
    :class:`LabelledJudge`."""
    if isinstance(judge, LabelledJudge):
        return finite_scores(judge, judge.score_labelled(pairs, _labels(judge, labels)))
    return finite_scores(judge, judge.score(pairs))


def judge_scores_by_question(
    judge: Judge, pairs: Sequence[JudgePair], groups: Sequence, labels=None, progress: bool = False
) -> np.ndarray:
    """Scores of pairs from many questions, the judge prepared on each question's own prefixes
    first: no question is scored with another's TF-IDF vocabulary (online fits per question too).
    ``progress``: a bar over questions on stderr (a generative judge can take many minutes)."""
    from tqdm import tqdm

    out = np.empty(len(pairs))
    by_q: dict = {}
    for n, g in enumerate(groups):
        by_q.setdefault(g, []).append(n)
    bar = tqdm(by_q.values(), desc=f"score {judge.id}", unit="question", disable=not progress)
    for idx in bar:
        ps = [pairs[n] for n in idx]
        judge.prepare(list(dict.fromkeys(t for p in ps for t in (p.prefix_a, p.prefix_b))))
        out[idx] = judge_scores(judge, ps, None if labels is None else [labels[n] for n in idx])
    return out


def judge_scores_indexed(judge: Judge, texts, i, j, labels=None, question=None) -> np.ndarray:
    """Indexed scores of one question (NaN refused); ``labels`` reach only a :class:`LabelledJudge`."""
    if isinstance(judge, LabelledJudge):
        return finite_scores(
            judge, judge.score_indexed_labelled(texts, i, j, _labels(judge, labels))
        )
    return finite_scores(judge, judge.score_indexed(texts, i, j, question))


def parse_judge_spec(spec: str) -> tuple[str, str | None, dict[str, str]]:
    """Split ``kind:arg,key=value,...`` into (kind, arg, options).

    Example:
        >>> parse_judge_spec("llm:/m,batch=8")
        ('llm', '/m', {'batch': '8'})
        >>> parse_judge_spec("sbert,calib=c.json")
        ('sbert', None, {'calib': 'c.json'})
    """
    spec = spec.strip()
    head = spec.split(",", 1)[0]
    kind, _, rest = (
        spec.partition(":") if ":" in head else spec.partition(",")
    )  # "sbert,calib=F" too
    arg, opts = None, {}
    for part in [p for p in rest.split(",") if p] if rest else []:
        if "=" in part and os.path.sep not in part.split("=", 1)[0]:
            k, v = part.split("=", 1)
            opts[k.strip()] = v.strip()
        elif arg is None:
            arg = part
        else:
            raise ConfigError(f"bad judge spec {spec!r}: more than one positional argument")
    return kind, arg, opts

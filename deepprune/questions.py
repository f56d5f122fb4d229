"""A prepared question: one question of a pool with everything every tool derives from it once.

    >>> from deepprune.synth import DEMO_POOL
    >>> q = prepare_pool(DEMO_POOL, "words:25")[0]
    >>> q.key, q.n, len(q.prefixes)
    ('demo_pool/synth-0', 32, 32)

Answer classes (the project's grading), token counts (the pool's ``num_tokens`` where shipped,
else the counter's), each trace's prefix under a truncation spec and its cost, confidences and
answer probes. The replay (methods, the ledger), the pair builder, the trained judges'
features and calibration all read this one shape; :meth:`PreparedQuestion.answered` is the
view of the traces that have an answer and a prefix (what pairs are built from).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepprune.answers import question_answers
from deepprune.grading import AnswerClasses
from deepprune.pools import Question, iter_pool
from deepprune.probes import probe_tokens
from deepprune.tokens import get_counter, trace_tokens
from deepprune.truncate import PAPER_TRUNC, parse_spec, truncate


@dataclass
class PreparedQuestion:
    """One question of a pool, precomputed once and shared by every method, repeat and judge."""

    qid: str
    labels: np.ndarray  # answer class per trace, -1 = no answer
    gold_class: int | None  # None: no gold; -1: gold matches no trace
    tokens: np.ndarray  # generated tokens per trace
    prefix_tokens: np.ndarray  # tokens of each trace's prefix, capped at the trace length
    judge_tokens: np.ndarray  # tokens a judge reads for each prefix
    prefixes: list[str] = field(repr=False, default_factory=list)
    question: str | None = None
    answer_type: str = "math"  # how answers are graded (the pool's answer_type)
    confs: list[np.ndarray] | None = field(repr=False, default=None)
    text_missing: int = 0  # traces without text: no prefix for a text-reading judge
    tokens_shipped: int = 0  # traces whose token count the pool ships (the rest are counted)
    prefix_known: bool = True  # False: the truncation needs text some traces lack (words:K)
    # answer probes: (n, P) answer classes (same numbering as labels; -1: no answer at that probe,
    # -2: past the trace's last probe), one every probe_every tokens; None: the pool has none
    probes: np.ndarray | None = field(repr=False, default=None)
    probe_every: int | None = None
    # (n, P) estimated reasoning-model tokens of each probe (deepprune.probes.probe_tokens; 0 past the last)
    probe_cost: np.ndarray | None = field(repr=False, default=None)
    key: str = ""  # "POOL/QID": unique across pools (splits and folds are over keys)
    # whether each trace has what the truncation reads (its text; its probes for probe:J)
    readable: np.ndarray | None = field(repr=False, default=None)
    # each trace's index in the pool (the answered view keeps a subset)
    index: np.ndarray | None = field(repr=False, default=None)

    @property
    def n(self) -> int:
        return len(self.labels)

    def answered(self) -> PreparedQuestion:
        """The traces with an answer and a prefix, in pool order: the pair builder's traces
        (``itertools.combinations(range(q.n), 2)`` are its pairs)."""
        keep = self.labels >= 0
        if self.readable is not None:
            keep &= self.readable
        idx = np.flatnonzero(keep)
        return dataclasses.replace(
            self, labels=self.labels[idx], tokens=self.tokens[idx], prefix_tokens=self.prefix_tokens[idx],
            judge_tokens=self.judge_tokens[idx], prefixes=[self.prefixes[k] for k in idx],
            confs=None if self.confs is None else [self.confs[k] for k in idx], index=self.pool_index()[idx],
            probes=None if self.probes is None else self.probes[idx],
            probe_cost=None if self.probe_cost is None else self.probe_cost[idx], readable=self.readable[idx]
            if self.readable is not None else None)  # fmt: skip

    def pool_index(self) -> np.ndarray:
        """Each trace's index in its pool's question."""
        return np.arange(self.n) if self.index is None else self.index

    def pair_labels(self) -> np.ndarray:
        """1 where two traces share an answer class, over ``itertools.combinations`` order."""
        i, j = np.triu_indices(self.n, 1)
        return ((self.labels[i] == self.labels[j]) & (self.labels[i] >= 0)).astype(np.int64)


def source_name(path: str | os.PathLike) -> str:
    """A pool's name in keys and tables: its file name without ``.jsonl``/``.gz``."""
    return Path(path).name.removesuffix(".gz").removesuffix(".jsonl")


def question_key(path: str | os.PathLike, qid: str) -> str:
    return f"{source_name(path)}/{qid}"


def probe_prefix(q: Question, k: int, j: int) -> str:
    """``probe:J``: trace k's first J answer probes (what the probe judge reads), as JSON."""
    return json.dumps({"answer_type": q.answer_type, "probes": q.traces[k].extra["probes"][:j]})


def has_prefix(q: Question, k: int, spec) -> bool:
    """Whether trace k has what the prefix spec reads: its probes for ``probe:J``, else its text."""
    if spec.kind == "probe":
        return q.extra.get("probe_every") is not None and "probes" in q.traces[k].extra
    return bool(q.traces[k].text)


def trace_prefix(q: Question, k: int, spec, counter=None) -> str:
    if spec.kind == "probe":
        return probe_prefix(q, k, int(spec.value))
    return truncate(q.traces[k].text, spec, counter)


def textless_prefix_tokens(spec, tokens: float) -> float:
    """A prefix's token cost from ``num_tokens`` alone; NaN where the spec needs the text (words:K)."""
    if spec.kind == "tokens":
        return min(spec.value, tokens)
    if spec.kind == "frac":
        return round(spec.value * tokens)
    return tokens if spec.kind == "full" else float("nan")


def _probe_lists(q: Question) -> list[list] | None:
    """Each trace's probe answers, or None where the question has none."""
    if q.extra.get("probe_every") is None or any("probes" not in t.extra for t in q.traces):
        return None
    return [t.extra["probes"] for t in q.traces]


def _probe_matrix(probe_lists: list[list], flat_labels: list[int]) -> np.ndarray:
    """(n, P) probe answer classes from the flattened labels; -2 pads past a trace's last probe."""
    out = np.full((len(probe_lists), max(map(len, probe_lists), default=0)), -2, dtype=np.int64)
    at = 0
    for i, p in enumerate(probe_lists):
        out[i, : len(p)] = flat_labels[at : at + len(p)]
        at += len(p)
    return out


def _probe_cost(probe_lists: list[list]) -> np.ndarray:
    """(n, P) estimated tokens of each probe (0 past a trace's last probe)."""
    out = np.zeros((len(probe_lists), max(map(len, probe_lists), default=0)))
    for i, p in enumerate(probe_lists):
        out[i, : len(p)] = [probe_tokens(a) for a in p]
    return out


def prepare_question(
    q: Question, source: str, spec, counter, grading: str | None = None
) -> PreparedQuestion:
    """One question: classes, tokens, prefixes (see :func:`prepare_pool`)."""
    finals = question_answers(q)
    probe_lists = _probe_lists(q)
    flat = [a for p in probe_lists or [] for a in p]
    classes = AnswerClasses(
        finals + flat, grading or q.answer_type
    )  # finals first: numbered as if alone
    labels = classes.labels[: len(finals)]
    tokens = np.array([trace_tokens(t.text, t.num_tokens, counter) for t in q.traces], dtype=float)
    readable = np.array([has_prefix(q, k, spec) for k in range(len(q.traces))], dtype=bool)
    prefixes = [trace_prefix(q, k, spec, counter) if ok else "" for k, ok in enumerate(readable)]
    if (
        spec.kind == "probe"
    ):  # the prefix is the trace's answer probes so far: J x probe_every tokens
        ptok = np.minimum(float(spec.value * (q.extra.get("probe_every") or 0)), tokens)
        ptok[~readable] = np.nan
    else:
        ptok = np.array([counter.count(p) if t.text else textless_prefix_tokens(spec, n)
                         for p, t, n in zip(prefixes, q.traces, tokens)], dtype=float)  # fmt: skip
    has_confs = all(t.confs is not None for t in q.traces)
    return PreparedQuestion(
        qid=q.id, labels=np.array(labels), gold_class=None if q.gold is None else classes.class_of(q.gold),
        tokens=tokens, prefix_tokens=np.minimum(ptok, tokens), judge_tokens=ptok, prefixes=prefixes,
        question=q.question, answer_type=q.answer_type, confs=[np.asarray(t.confs, dtype=float) for t in q.traces] if has_confs else None,
        text_missing=len(q.traces) if spec.kind == "probe" else sum(not t.text for t in q.traces),
        prefix_known=not np.isnan(ptok).any(), tokens_shipped=sum(t.num_tokens is not None for t in q.traces),
        probes=None if probe_lists is None else _probe_matrix(probe_lists, classes.labels[len(finals):]),
        probe_cost=None if probe_lists is None else _probe_cost(probe_lists),
        probe_every=q.extra.get("probe_every"), key=f"{source}/{q.id}", readable=readable)  # fmt: skip


def prepare_pool(path: str | os.PathLike, trunc: str = PAPER_TRUNC, tokenizer: str | None = None,
                 grading: str | None = None, drop_textless: bool = False) -> list[PreparedQuestion]:  # fmt: skip
    """Every question of a pool, prepared once.

    ``grading="exact"``: answers are equal only as identical strings (to replay another
    project's string-equality grading); default: each question's own ``answer_type``.
    ``drop_textless``: traces without text are left out (a question with none left is dropped).
    """
    counter, spec, source = get_counter(tokenizer), parse_spec(trunc), source_name(path)
    out, dropped = [], 0
    for q in iter_pool(path):
        if drop_textless and any(not t.text for t in q.traces):
            keep = [t for t in q.traces if t.text]
            dropped += len(q.traces) - len(keep)
            if not keep:
                continue
            q = dataclasses.replace(q, traces=keep)
        out.append(prepare_question(q, source, spec, counter, grading))
    if dropped:
        print(f"{path}: dropped {dropped} traces without text (drop_textless)", file=sys.stderr)
    return out


def labelled_questions(pools, trunc: str) -> list[PreparedQuestion]:
    """The answered traces (with a prefix) of every question of the pools: the pair builder's
    view. Questions with fewer than two such traces have no pairs; they are kept so
    question-level splits see the same keys as :func:`deepprune.pairs.build_pairs`."""
    return [q.answered() for path in pools for q in prepare_pool(path, trunc)]

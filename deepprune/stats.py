"""Pool statistics: size, answer agreement, voting accuracy, token counts.

deepprune pools stats DeepPrune_data/demo/demo_pool.jsonl --json
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from itertools import combinations

import numpy as np

from deepprune.answers import question_answers
from deepprune.artifacts import Output
from deepprune.errors import DeepPruneError
from deepprune.grading import AnswerClasses
from deepprune.pools import ReadReport, iter_pool
from deepprune.tokens import get_counter, trace_tokens
from deepprune.vote import majority_class


def pool_stats(
    path: str | os.PathLike, tokenizer: str | None = None, skip_invalid: bool = False
) -> dict:
    """Statistics of one pool (streamed, one question in memory at a time).

    Returns:
        A dict with questions, traces, no_answer_share, pairwise_agreement (share of
        answered trace pairs with equivalent answers), majority_vote_accuracy and
        mean_trace_accuracy (None without gold), token statistics and the counter name.
    """
    counter = get_counter(tokenizer)
    report = ReadReport()
    n_q = n_t = no_ans = 0
    same = pairs = 0
    maj_correct, trace_acc, graded = [], [], 0
    tokens: list[int] = []
    shipped = 0
    for q in iter_pool(path, skip_invalid=skip_invalid, report=report):
        n_q += 1
        n_t += len(q.traces)
        classes = AnswerClasses(question_answers(q), q.answer_type)
        labels = classes.labels
        no_ans += sum(lab < 0 for lab in labels)
        for a, b in combinations([lab for lab in labels if lab >= 0], 2):
            pairs += 1
            same += a == b
        tokens.extend(trace_tokens(t.text, t.num_tokens, counter) for t in q.traces)
        shipped += sum(t.num_tokens is not None for t in q.traces)
        if q.gold is not None:
            graded += 1
            gold_class = classes.class_of(q.gold)
            maj = majority_class(labels)
            maj_correct.append(maj >= 0 and maj == gold_class)
            trace_acc.append(np.mean([lab >= 0 and lab == gold_class for lab in labels]))
    tok = np.array(tokens, dtype=float)
    return {
        "file": str(path),
        "questions": n_q,
        "traces": n_t,
        "skipped_lines": report.skipped,
        "no_answer_share": no_ans / n_t if n_t else 0.0,
        "pairwise_agreement": same / pairs if pairs else None,
        "questions_with_gold": graded,
        "majority_vote_accuracy": float(np.mean(maj_correct)) if maj_correct else None,
        "mean_trace_accuracy": float(np.mean(trace_acc)) if trace_acc else None,
        "tokens": {
            # traces with num_tokens use it; the others are counted with `counter`
            "counter": counter.name,
            "from_pool_num_tokens": shipped,
            "total": int(tok.sum()),
            "mean": float(tok.mean()),
            "median": float(np.median(tok)),
            "p10": float(np.percentile(tok, 10)),
            "p90": float(np.percentile(tok, 90)),
        },
    }


def agreement_by_question(path: str | os.PathLike) -> dict[str, float | None]:
    """Per question: the share of answered trace pairs whose answers are equivalent.

    The paper's motivating observation: most pairs of parallel traces agree, so most of
    the tokens of majority voting are spent on redundant traces. ``None`` for a question
    with fewer than two answered traces.
    """
    out: dict[str, float | None] = {}
    for q in iter_pool(path):
        labels = [
            lab for lab in AnswerClasses(question_answers(q), q.answer_type).labels if lab >= 0
        ]
        pairs = [a == b for a, b in combinations(labels, 2)]
        out[q.id] = float(np.mean(pairs)) if pairs else None
    return out


def stats_line(r: dict) -> str:
    """One line of :func:`pool_stats` for a terminal."""
    fmt = lambda v: "n/a" if v is None else f"{v:.3f}"  # noqa: E731
    return (
        f"{r['file']}: {r['questions']} questions, {r['traces']} traces, "
        f"agreement {fmt(r['pairwise_agreement'])}, majority acc {fmt(r['majority_vote_accuracy'])}, "
        f"per-trace acc {fmt(r['mean_trace_accuracy'])}, no answer {r['no_answer_share']:.3f}, "
        f"median tokens {r['tokens']['median']:.0f} ({r['tokens']['counter']})"
        + (f", {r['skipped_lines']} invalid lines skipped" if r["skipped_lines"] else "")
    )


@dataclass
class ValidateJob:
    """``deepprune pools validate``: check pool files against the trace-pool format."""

    files: list[str] = field(default_factory=list, metadata={"nargs": "+"})  # pool files
    # skip malformed lines (each reported, and counted) instead of failing
    skip_invalid: bool = False

    def run(self) -> int:
        """A line per file (one error line for a bad one, every file checked); 2 if any is bad."""
        bad = 0
        for f in self.files:
            report = ReadReport()
            try:
                traces = sum(
                    len(q.traces)
                    for q in iter_pool(f, skip_invalid=self.skip_invalid, report=report)
                )
            except (DeepPruneError, OSError) as e:  # one line per file; keep checking the others
                print(f"deepprune: error: {e}", file=sys.stderr)
                bad += 1
                continue
            for msg in report.errors:
                print(f"skipped {msg}", file=sys.stderr)
            print(
                f"{f}: ok, {report.questions} questions, {traces} traces, {report.skipped} invalid lines skipped"
            )
        return 2 if bad else 0


@dataclass
class StatsJob(ValidateJob):
    """``deepprune pools stats``: questions, traces, answer agreement, voting accuracy, tokens."""

    tokenizer: str | None = None  # local HF tokenizer directory (default: the regex-4char counter)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        return [
            pool_stats(f, tokenizer=self.tokenizer, skip_invalid=self.skip_invalid)
            for f in self.files
        ]


@dataclass
class CheckJob:
    """``deepprune answers check``: cross-check extraction/grading against a pool's answer/correct fields."""

    files: list[str] = field(default_factory=list, metadata={"nargs": "+"})  # pool files
    examples: int = 10  # disagreements to list per file
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        from deepprune.answers import check_extraction

        return [check_extraction(f, max_examples=self.examples) for f in self.files]

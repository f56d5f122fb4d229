"""One method's outcomes over questions x repeats, graded in exactly one place.

``Ledger.of(name, questions, per_q)`` turns the :class:`~deepprune.replay.methods.Outcome` of
every (question, repeat) into arrays of shape (questions, repeats): correct (NaN where the
question has no gold), reasoning tokens, auxiliary calls and their tokens. ``summary()`` is a
row of ``deepprune prune`` (means, spread over repeats, clustering diagnostics);
``point(family)`` a point of ``deepprune compare``. :func:`deepprune.metrics.paired_ci` and :func:`matched_k`
(the cons@k at the same budget) are shared by both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

COLLAPSED = "every run collapsed into one cluster: the judge's scores all exceed tau (calibrate it: calib=FILE)"
SINGLETONS = (
    "every run ended in all singletons: no score exceeds tau (calibrate the judge: calib=FILE)"
)


@dataclass
class Ledger:
    name: str
    correct: np.ndarray  # (questions, repeats); NaN: the question has no gold
    tokens: np.ndarray
    aux_calls: np.ndarray
    aux_tokens: np.ndarray
    seq_tokens: np.ndarray  # NaN where the method does not define its latency
    graded: bool
    infos: list[dict] = field(default_factory=list)
    probe_tokens: np.ndarray | None = None  # reasoning-model tokens of answer probes
    answers: np.ndarray | None = None  # the chosen answer class per (question, repeat); -1: none

    def agreement(self, base: Ledger) -> float | None:
        """How often this method votes what ``base`` (cons@N) votes, over the (question, repeat)
        cells where ``base`` has an answer: the label-free measure for a pool without gold."""
        if (
            self.answers is None
            or base.answers is None
            or any(i.get("expectation") for i in self.infos)
        ):
            return None  # pass@1 is an expectation over traces, not a vote
        has = base.answers >= 0
        return float((self.answers[has] == base.answers[has]).mean()) if has.any() else None

    @classmethod
    def of(cls, name: str, questions, per_q: list[list]) -> Ledger:
        """Grade ``per_q[question][repeat]``: a method's own expectation (pass@1) or its answer
        class against the question's gold class."""
        shape = (len(questions), len(per_q[0]) if per_q else 0)
        corr = np.full(shape, np.nan)
        tok, calls, auxt, seq = np.zeros(shape), np.zeros(shape), np.zeros(shape), np.zeros(shape)
        ptok, ans = np.zeros(shape), np.full(shape, -1, dtype=np.int64)
        for a, (q, outs) in enumerate(zip(questions, per_q, strict=True)):
            for r, o in enumerate(outs):
                ans[a, r] = o.answer
                if o.correct is None and q.gold_class is not None:
                    o.correct = float(o.answer >= 0 and o.answer == q.gold_class)
                if o.correct is not None:
                    corr[a, r] = o.correct
                tok[a, r], calls[a, r], auxt[a, r] = o.tokens, o.aux_calls, o.aux_tokens
                ptok[a, r] = o.probe_tokens
                seq[a, r] = np.nan if o.seq_tokens is None else o.seq_tokens
        graded = any(q.gold_class is not None for q in questions)
        infos = [o.info for outs in per_q for o in outs]
        return cls(name, corr, tok, calls, auxt, seq, graded, infos, ptok, ans)

    def summary(self) -> dict:
        """The ``prune`` row: per-repeat means over questions, averaged (spread: sd over repeats)."""
        R = self.tokens.shape[1]
        acc_r = []
        for r in range(R):
            col = self.correct[:, r]
            accs = col[~np.isnan(col)].tolist()
            acc_r.append(float(np.mean(accs)) if accs else np.nan)
        tok_r = [float(np.mean(self.tokens[:, r].tolist())) for r in range(R)]
        row = {
            "method": self.name,
            "accuracy": float(np.mean(acc_r)) if self.graded else None,
            "accuracy_std": float(np.std(acc_r)) if self.graded else None,
            "tokens": float(np.mean(tok_r)),  # mean per question
            "tokens_std": float(np.std(tok_r)),
            "aux_calls": float(
                np.mean([float(np.mean(self.aux_calls[:, r].tolist())) for r in range(R)])
            ),
            "aux_tokens": float(
                np.mean([float(np.mean(self.aux_tokens[:, r].tolist())) for r in range(R)])
            ),
            "seq_tokens": self._seq(),
            "probe_tokens": self._probe_mean(),
        }
        if self.infos and "clusters" in self.infos[0]:
            i = self.infos
            row["clusters_mean"] = float(np.mean([x["clusters"] for x in i]))
            row["largest_mean"] = float(np.mean([x["largest"] for x in i]))
            row["completed_mean"] = float(np.mean([x["completed"] for x in i]))
            row["fallback_rate"] = float(np.mean([x["fallback"] for x in i]))
            if all(x["clusters"] == 1 for x in i):
                row["warning"] = COLLAPSED
            elif all(x["fallback"] for x in i):
                row["warning"] = SINGLETONS
        return row

    def point(self, family: str, name: str | None = None) -> dict:
        """The ``compare`` point: means over questions and repeats."""
        g = self.graded and not np.isnan(self.correct).all()
        return {"method": name or self.name, "family": family,
                "accuracy": float(np.nanmean(self.correct)) if g else None,
                "accuracy_std": float(np.nanmean(self.correct, axis=0).std()) if g else None,
                "tokens": float(self.tokens.mean()), "aux_calls": float(self.aux_calls.mean()),
                "aux_tokens": float(self.aux_tokens.mean()), "seq_tokens": self._seq(),
                "probe_tokens": self._probe_mean()}  # fmt: skip

    def _probe_mean(self) -> float:
        """Mean probe tokens per question (0 for a method that sends no probes)."""
        return 0.0 if self.probe_tokens is None else float(self.probe_tokens.mean())

    def _seq(self) -> float | None:
        """Mean sequential tokens per question (None where the method does not define them)."""
        return None if np.isnan(self.seq_tokens).any() else float(self.seq_tokens.mean())


def net_tokens(row: dict, judge_ratio: float) -> float:
    """What a method cost the reasoning model, per question: generated tokens, answer-probe tokens,
    and the judge's input tokens at ``judge_ratio`` reasoner tokens each (judge / reasoner size)."""
    return row["tokens"] + row.get("probe_tokens", 0.0) + row.get("aux_tokens", 0.0) * judge_ratio


def add_reductions(rows: list[dict], cons_n: dict) -> None:
    """Token, net and sequential-token reductions of each row against cons@N (in place)."""
    for r in rows:
        if "tokens" not in r:
            continue
        r.setdefault(
            "net_tokens", r["tokens"] + r.get("probe_tokens", 0.0)
        )  # no judge: probes only
        r["reduction_vs_consN"] = 1 - r["tokens"] / cons_n["tokens"]
        r["net_reduction_vs_consN"] = 1 - r["net_tokens"] / cons_n["tokens"]
        seq, base = r.get("seq_tokens"), cons_n.get("seq_tokens")
        r["seq_reduction_vs_consN"] = None if seq is None or not base else 1 - seq / base


def matched_k(tokens: float, questions) -> float:
    """k of the cons@k that spends ``tokens`` per question: the budget over the mean trace
    length (fractional k is randomised by ConsK), at least one trace."""
    return max(tokens / float(np.mean([q.tokens.mean() for q in questions])), 1.0)

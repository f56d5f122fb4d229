"""The sentence ``deepprune compare`` ends with: which method to use, with its paired intervals.

A *candidate* is an operating point (cons@k included) that reaches the target (accuracy within
``target_drop`` of cons@N or, without gold, voting as cons@N on at least 1 − ``target_drop`` of
the cells) and whose saving against cons@N has a paired 95% interval above 0: the saving of a
question is cons@N's tokens minus the point's net tokens, averaged over its repeats, and the
interval resamples questions (:func:`deepprune.metrics.paired_question_ci`). A point that reaches
the target without such a saving is a no-op (cons@N on fewer arrival orders, cons@k at k = N, a
window as long as the pool) and is never advised; nor is an oracle ceiling.

The cheapest candidate by net tokens is named with both intervals (saving, accuracy gap). Every
other candidate whose net-token difference from it has a paired interval that includes 0 is
*tied* with it, and the sentence says so: on this many questions the data cannot order them. No
candidate at all gives "no method saves here".
"""

from __future__ import annotations

import numpy as np

from deepprune.metrics import paired_question_ci

NEVER_ADVISED = ("cons@N", "deepprune-oracle")  # the baseline itself; a ceiling, not a method

# what every per-pool recommendation is, said beside it
IN_SAMPLE = ("(In-sample: each setting was chosen on this pool; for advice that holds on a model you "
             "have not measured, see `deepprune transfer` and Online/TRANSFER.md.)")  # fmt: skip


def advise(cons_n: dict, rows: list[dict], arms: dict, base, cfg: dict, questions: int) -> dict:
    """The advice of one comparison. ``rows``: the operating points and the cons@k curve;
    ``arms[method] = (net, correct)``: its (questions, repeats) net tokens and grades; ``base``:
    cons@N's ledger; ``cfg``: the run's config (``target_drop``, ``parallel_factor``, ``n_boot``)."""
    graded = cons_n["accuracy"] is not None
    drop, n_boot = cfg["target_drop"], cfg["n_boot"]
    limit = cfg.get("parallel_factor", 1.5) * (cons_n["seq_tokens"] or 0.0)

    def reaches(p) -> bool:
        if graded:
            return p["accuracy"] is not None and p["accuracy"] >= cons_n["accuracy"] - drop - 1e-12
        agree = p.get("agrees_with_consN")
        return agree is not None and agree >= 1 - drop - 1e-12

    cands, noops = [], []
    for p in rows:
        if p["family"] in NEVER_ADVISED or not reaches(p):
            continue
        net, correct = arms[p["method"]]
        saving, ci = paired_question_ci(base.tokens, net, n_boot, seed=2)
        entry = {"method": p["method"], "family": p["family"], "net_tokens": p["net_tokens"],
                 "seq_tokens": p["seq_tokens"], "accuracy": p["accuracy"],
                 "agrees_with_consN": p.get("agrees_with_consN"),
                 "saving": saving / cons_n["tokens"], "saving_ci95": [x / cons_n["tokens"] for x in ci]}  # fmt: skip
        if graded:
            entry["delta_vs_consN"], entry["delta_vs_consN_ci95"] = paired_question_ci(
                correct, base.correct, n_boot
            )
        lo = ci[0] if not np.isnan(ci[0]) else saving  # no intervals (--bootstrap 0): the mean
        (cands if lo > 1e-9 else noops).append(entry)
    out = {"basis": "accuracy" if graded else "agreement", "target_drop": drop,
           "questions": questions, "intervals": n_boot > 0, "noops": [e["method"] for e in noops]}  # fmt: skip
    if not cands:
        return {**out, "best": None, "tied": [], "parallel": None}
    cands.sort(key=lambda e: e["net_tokens"])
    best = cands[0]
    tied = []
    for e in cands[1:]:
        diff, ci = paired_question_ci(arms[e["method"]][0], arms[best["method"]][0], n_boot, seed=3)
        if not np.isnan(ci[0]) and ci[0] <= 0:
            tied.append({**e, "diff_vs_best": diff, "diff_vs_best_ci95": ci})
    par = [e for e in cands if e["seq_tokens"] is not None and e["seq_tokens"] <= limit + 1e-9]
    return {**out, "best": best, "tied": tied, "parallel": par[0] if par else None}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def _span(ci, signed: bool = False) -> str:
    f = "{:+.1f}" if signed else "{:.1f}"
    return f"[{f.format(100 * ci[0])}, {f.format(100 * ci[1])}]"


def _say(e: dict, cons_n: dict, intervals: bool) -> str:
    """One candidate: its net tokens, its saving and (with gold) its accuracy gap."""
    s = f"{e['method']} at {e['net_tokens']:,.0f} net tokens per question: it saves {_pct(e['saving'])}"
    if intervals:
        s += f" {_span(e['saving_ci95'])}"
    s += " of cons@N's tokens"
    if e.get("delta_vs_consN") is not None:
        s += f", accuracy {100 * e['delta_vs_consN']:+.1f}"
        s += f" {_span(e['delta_vs_consN_ci95'], True)}" if intervals else ""
        s += " points against cons@N"
    elif e.get("agrees_with_consN") is not None:
        s += f", and it votes as cons@N on {_pct(e['agrees_with_consN'])}"
    return s


def recommendation(res: dict) -> str:
    """The sentence for ``res`` (a compare result): the advised method with its paired intervals,
    the one at parallel latency if another, and the candidates tied with it; "" without advice."""
    a, c = res.get("advice"), res["cons@N"]
    if not a:
        return ""
    drop = a["target_drop"]
    pts = f"{100 * drop:g} point" + ("" if abs(drop - 0.01) < 1e-12 else "s")
    if a["basis"] == "accuracy":
        head, goal = (
            "**Recommendation.**",
            f"To stay within {pts} of cons@N ({_pct(c['accuracy'])})",
        )
    else:
        head = "**Recommendation (no gold).**"
        goal = f"To vote as cons@N on at least {100 * (1 - drop):g}% of questions"
    how = (f"paired 95% intervals over the {a['questions']} questions" if a["intervals"]
           else "no intervals: --bootstrap 0")  # fmt: skip
    noop = (f" (left out, their saving's interval includes 0: {', '.join(a['noops'][:4])}"
            + (f" and {len(a['noops']) - 4} more)" if len(a["noops"]) > 4 else ")") if a["noops"] else "")  # fmt: skip
    best = a["best"]
    if best is None:
        where = (f"within {pts} of cons@N" if a["basis"] == "accuracy"
                 else f"voting as cons@N on at least {100 * (1 - drop):g}% of questions")  # fmt: skip
        return (f"{head} No method saves here: no operating point {where} spends fewer tokens than "
                f"cons@N with a paired interval above 0{noop}; use cons@N. {IN_SAMPLE}")  # fmt: skip
    out = f"{head} {goal}, use {_say(best, c, a['intervals'])} ({how})"
    if best["family"] == "cons@k":
        out += ": plain cons@k, no method here is cheaper"
    gap = best.get("delta_vs_consN_ci95")
    if a["intervals"] and gap is not None and gap[0] < -drop - 1e-12:
        out += (f"; its accuracy interval reaches {100 * gap[0]:+.1f} points, below the target: too few "
                "questions to be sure of the accuracy")  # fmt: skip
    par = a["parallel"]
    if par is not None and par["method"] == best["method"]:
        out += ", at parallel latency"
    elif par is not None:
        out += f"; the cheapest at parallel latency is {_say(par, c, a['intervals'])}"
    if a["tied"]:
        names = ", ".join(f"{e['method']} ({e['net_tokens']:,.0f})" for e in a["tied"][:4])
        more = f" and {len(a['tied']) - 4} more" if len(a["tied"]) > 4 else ""
        out += (f". Tied with it (their token difference from it has a paired interval that includes "
                f"0): {names}{more}; this pool cannot order them")  # fmt: skip
    return out + f"{noop}. {IN_SAMPLE}"

"""Final-answer extraction (parsing only; equivalence lives in :mod:`deepprune.grading`).

    deepprune answers check ../shared/data/pools/qwen25math-math100-n8.jsonl

``extract_answer(text, answer_type)`` returns the final answer a trace states, or
None. ``math``: the last ``\\boxed{...}`` / ``\\fbox{...}`` with balanced braces;
``choice``: one letter A-Z from the usual "answer is (C)" / ``\\boxed{C}`` forms;
``text``: "The answer is X" or a final "Answer: X" line.
"""

from __future__ import annotations

import re

from deepprune.errors import ConfigError
from deepprune.pools import Question, Trace

_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s{0,20}\{")
# Every pattern below repeats only a bounded number of times, so matching is linear in the
# text (a hostile trace costs milliseconds); the bounds (our choice) are far above what a
# real final answer needs. Patterns anchored at the end of the text run on its tail only.
_CHOICE_PATTERNS = [
    # "the best answer is: (A)", "answer is (C)", "Answer: B", "answer is **D**"
    re.compile(
        r"answer\s{0,20}(?:is|:)\s{0,20}:?[\*\s]{0,20}\(?\s{0,20}([A-Z])(?![A-Za-z])", re.IGNORECASE
    ),
    re.compile(
        r"\\boxed\s{0,20}\{\s{0,20}\(?\s{0,20}(?:\\text\{)?\s{0,20}([A-Z])\s{0,20}\}?\s{0,20}\)?\s{0,20}\}"
    ),
    re.compile(
        r"(?:option|choice)\s{1,20}\(?([A-Z])\)?\s{1,20}is\s{1,20}(?:the\s{1,20})?correct",
        re.IGNORECASE,
    ),
]
_TEXT_PATTERNS = [
    re.compile(
        r"answer\s{1,20}is\s{0,20}:?\s{0,20}(.{1,300}?)(?:\.\s{0,20}$|\.\s|\n|$)", re.IGNORECASE
    ),
    re.compile(
        r"^\s{0,20}(?:final\s{1,20})?answer\s{0,20}:\s{0,20}(.{1,300}?)\s{0,20}$",
        re.IGNORECASE | re.MULTILINE,
    ),
]
# a last sentence like: Concatenating them gives us "yajo".  (anchored at the end: tail only)
_TEXT_LAST_QUOTE = re.compile(
    r"(?:gives|get|results\s{1,20}in)\b[^\n\"']{0,300}?[\"'“‘]([^\"'”’\n]{1,300})[\"'”’]\s{0,20}\.?\s{0,20}$",
    re.IGNORECASE,
)
_TAIL = 2000  # characters: longer than any match of the end-anchored patterns
_MATH_FALLBACK = re.compile(
    r"(?:final\s{1,20})?answer\s{0,20}(?:is|:)\s{0,20}:?\s{0,20}\$?([^\n$]{1,300}?)\$?\s{0,20}(?:\.\s{0,20})?$",
    re.IGNORECASE | re.MULTILINE,
)


def last_boxed(text: str) -> str | None:
    """Return the content of the last ``\\boxed{}`` or ``\\fbox{}`` (balanced braces), or None.

    Example:
        >>> last_boxed(r"so \\boxed{\\frac{1}{2}}.")
        '\\\\frac{1}{2}'
    """
    starts = [m for m in _BOX_RE.finditer(text)]
    limit = len(text)  # a box left open at p also keeps every earlier box open past p
    for m in reversed(starts):
        depth, i = 1, m.end()
        while i < limit and depth:
            c = text[i]
            if c == "\\" and i + 1 < len(text) and text[i + 1] in "{}":
                i += 2
                continue
            if c == "{":
                depth += 1
            elif c == "}":
                depth -= 1
            i += 1
        if depth == 0:
            content = text[m.end() : i - 1].strip()
            if content:
                return content
        else:
            limit = m.start()
    return None


def _last_match(patterns: list[re.Pattern], text: str, offset: int = 0) -> tuple[int, str | None]:
    """(start, group 1) of the match that starts last over all patterns; (-1, None) if none."""
    best_pos, best = -1, None
    for pat in patterns:
        for m in pat.finditer(text):
            if m.start() + offset >= best_pos:
                best_pos, best = m.start() + offset, m.group(1)
    return best_pos, best


def _clean_text_answer(ans: str) -> str:
    ans = ans.strip().strip("*").strip()
    ans = re.sub(r"^[\"'“”‘’`]+|[\"'“”‘’`]+$", "", ans)
    return ans.strip()


def extract_answer(text: str | None, answer_type: str = "math") -> str | None:
    """Extract the final answer a trace states.

    Args:
        text: trace text (reasoning + final answer); None gives None.
        answer_type: ``math``, ``choice`` or ``text``.

    Returns:
        The answer string (a single upper-case letter for ``choice``), or None.

    Example:
        >>> extract_answer("Therefore, the best answer is: (C).", "choice")
        'C'
    """
    if not text:
        return None
    if answer_type == "math":
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed
        _, m = _last_match([_MATH_FALLBACK], text[-_TAIL:])
        return m.strip() if m else None
    if answer_type == "choice":
        _, letter = _last_match(_CHOICE_PATTERNS, text)
        return letter.upper() if letter else None
    if answer_type == "text":
        pos, ans = _last_match(_TEXT_PATTERNS, text)
        tail_start = max(0, len(text) - _TAIL)
        qpos, quoted = _last_match([_TEXT_LAST_QUOTE], text[tail_start:], tail_start)
        if quoted is not None and qpos >= pos:
            ans = quoted
        if ans is None:
            return None
        ans = _clean_text_answer(ans)
        return ans or None
    raise ConfigError(f"unknown answer_type {answer_type!r} (expected math, choice or text)")


def has_final_answer(text: str, answer_type: str = "math") -> bool:
    """Whether ``text`` (typically a truncated prefix) already states a final answer."""
    return extract_answer(text, answer_type) is not None


def trace_answer(trace: Trace, answer_type: str) -> str | None:
    """The answer of a trace: the shipped one when the pool gives it, else extracted."""
    if trace.answer_given:
        return trace.answer
    return extract_answer(trace.text, answer_type)


def question_answers(q: Question) -> list[str | None]:
    """Answers of every trace of a question, in trace order."""
    return [trace_answer(t, q.answer_type) for t in q.traces]


def check_extraction(path, max_examples: int = 10) -> dict:
    """Cross-check our extraction and grading against a pool's shipped fields.

    Returns:
        traces; ``extracted_share`` (traces with text where we find an answer);
        ``answer_match`` (shipped non-null ``answer`` vs ours extracted from text,
        compared with the project's equivalence); ``correct_match`` (our grading of
        the text against ``gold`` vs the shipped ``correct``); a few disagreements.
    """
    from deepprune.grading import answers_equal
    from deepprune.pools import iter_pool

    n = with_text = extracted = 0
    ans_n = ans_ok = cor_n = cor_ok = 0
    examples: list[dict] = []
    for q in iter_pool(path):
        for k, t in enumerate(q.traces):
            n += 1
            if not t.text:
                continue
            with_text += 1
            ours = extract_answer(t.text, q.answer_type)
            extracted += ours is not None
            if t.answer_given and t.answer is not None:
                ans_n += 1
                ok = ours is not None and answers_equal(ours, t.answer, q.answer_type)
                ans_ok += ok
                if not ok and len(examples) < max_examples:
                    examples.append(
                        {
                            "id": q.id,
                            "trace": k,
                            "kind": "answer",
                            "ours": ours,
                            "shipped": t.answer,
                        }
                    )
            if t.correct is not None and q.gold is not None:
                cor_n += 1
                ours_correct = answers_equal(ours, q.gold, q.answer_type)
                cor_ok += ours_correct == t.correct
                if ours_correct != t.correct and len(examples) < max_examples:
                    examples.append({"id": q.id, "trace": k, "kind": "correct", "ours": ours, "gold": q.gold,
                                     "ours_correct": ours_correct, "shipped_correct": t.correct})  # fmt: skip
    return {
        "file": str(path),
        "traces": n,
        "extracted_share": extracted / with_text if with_text else None,
        "answer_match": {"n": ans_n, "share": ans_ok / ans_n if ans_n else None},
        "correct_match": {"n": cor_n, "share": cor_ok / cor_n if cor_n else None},
        "disagreements": examples,
    }


def check_report(r: dict) -> str:
    """:func:`check_extraction`'s result for a terminal: a summary line and each disagreement."""
    import json

    fmt = lambda v: "n/a" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    lines = [
        f"{r['file']}: {r['traces']} traces | answer extracted {fmt(r['extracted_share'])} | "
        f"= shipped answer {fmt(r['answer_match']['share'])} (n={r['answer_match']['n']}) | "
        f"grading = shipped correct {fmt(r['correct_match']['share'])} (n={r['correct_match']['n']})"
    ]
    lines += [f"    disagreement: {json.dumps(d, ensure_ascii=False)}" for d in r["disagreements"]]
    return "\n".join(lines)

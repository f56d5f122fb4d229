"""Answer equivalence (grading) and per-question answer classes.

``answers_equal(a, b, answer_type)``: ``math`` uses HF ``math-verify`` (symbolic
equivalence) with a normalised-string fallback and a timeout; ``choice`` compares
letters; ``text`` compares normalised strings. :class:`AnswerClasses` groups the
answers of one question into equivalence classes, verifying each pair of *distinct*
normalised strings once, so a 512-trace pool costs O(u^2) checks for u distinct
answers, not O(n^2).
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from functools import lru_cache

from deepprune.errors import ConfigError

# our choice: per parse/verify call; pathological inputs fall back to strings
MATH_VERIFY_TIMEOUT_S = 5
# our choice: answers longer or more deeply nested than this skip the symbolic parser (an extracted
# final answer is short; a hostile one would otherwise cost seconds per pair) and compare as strings
MAX_SYMBOLIC_CHARS = 400
MAX_SYMBOLIC_DEPTH = 12

# our choice: the largest integer exponent / factorial / binomial argument handed to sympy. Past them
# an exact evaluation can run for hours (``10^{10^{10^{21}}}``: sympy's ``evalf`` has no timeout, and
# math-verify's own timeout works in the main thread only), so such answers compare as strings
MAX_EXPONENT, MAX_FACTORIAL = 10_000, 1_000
_TOWER = re.compile(r"(?:\^|\*\*)\s*\d+\s*(?:\^|\*\*)|(?:\^|\*\*)\s*[{(][^{}()]*(?:\^|\*\*)")
_EXPONENT = re.compile(r"(?:\^|\*\*)\s*[{(]?\s*-?\s*(\d+)")
_FACTORIAL = re.compile(r"(\d+)\s*!")
_NUMBER = re.compile(r"\d+")


def explosive(ans: str) -> bool:
    """Whether evaluating ``ans`` exactly could run unbounded: a power tower (a power in an
    exponent), an exponent above :data:`MAX_EXPONENT`, a factorial above :data:`MAX_FACTORIAL`, or a
    binomial with a number above it (pure, linear in the length).

    Example:
        >>> explosive("10^{10^{10^{21}}}"), explosive("2^{10}"), explosive("x^2+y^2")
        (True, False, False)
    """
    if _TOWER.search(ans):
        return True
    if any(len(m) > 6 or int(m) > MAX_EXPONENT for m in _EXPONENT.findall(ans)):
        return True
    if any(len(m) > 6 or int(m) > MAX_FACTORIAL for m in _FACTORIAL.findall(ans)):
        return True
    return bool(re.search(r"binom|choose", ans)) and any(
        len(m) > 6 or int(m) > MAX_FACTORIAL for m in _NUMBER.findall(ans)
    )


_LATEX_NOISE = [
    (re.compile(r"\\(?:left|right|displaystyle|,|;|!|\s)"), ""),
    (re.compile(r"\\(?:dfrac|tfrac)"), r"\\frac"),
    (re.compile(r"\\text\{\s*([^{}]*)\}"), r"\1"),
    (re.compile(r"\\mathrm\{\s*([^{}]*)\}"), r"\1"),
    (re.compile(r"\^\{?\\circ\}?"), ""),
    (re.compile(r"\s+"), ""),
]


_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))


def canonical(ans: str) -> str:
    """The one normalisation every comparison starts from: Unicode NFKC (full-width digits and
    letters, ligatures, superscripts to their plain forms) without zero-width characters, so
    :func:`answers_equal` and the voting classes of :class:`AnswerClasses` agree.

    Example:
        >>> canonical("\uff15\uff10\u200b")
        '50'
    """
    import unicodedata

    return unicodedata.normalize("NFKC", ans).translate(_ZERO_WIDTH)


def strip_redundant_brackets(s: str) -> str:
    """``((1))`` -> ``1``, ``{x+1}`` -> ``x+1``; a tuple or interval such as ``(1,2)`` is kept.
    One pass over the text (linear, whatever the nesting).

    Example:
        >>> strip_redundant_brackets("(((-3/4)))"), strip_redundant_brackets("(1,2)")
        ('-3/4', '(1,2)')
    """
    n, stack, match, comma_depths, depth = len(s), [], {}, set(), 0
    for k, ch in enumerate(s):
        if ch in "({":
            stack.append(k)
            depth += 1
        elif ch in ")}":
            if not stack:
                return s  # unbalanced: leave it to the string comparison
            match[stack.pop()] = k
            depth -= 1
        elif ch == ",":
            comma_depths.add(depth)
    k = 0
    while 2 * k + 1 < n and match.get(k) == n - 1 - k and s[k] + s[n - 1 - k] in ("()", "{}"):
        if k + 1 in comma_depths:  # a tuple/interval at this layer
            break
        k += 1
    return s[k : n - k] if k else s


def _nesting(s: str) -> int:
    depth = deepest = 0
    for ch in s:
        depth += (ch in "([{") - (ch in ")]}")
        deepest = max(deepest, depth)
    return deepest


def normalize_math(ans: str) -> str:
    """Normalise a math answer string for exact comparison (fallback path)."""
    s = ans.strip().strip("$").strip()
    for pat, repl in _LATEX_NOISE:
        s = pat.sub(repl, s)
    s = strip_redundant_brackets(s)
    s = s.rstrip(".").replace("{,}", "")
    s = re.sub(r"^(?:[a-zA-Z]\s*=\s*)", "", s)  # "x=5" -> "5"
    if re.fullmatch(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?", s):
        s = s.replace(",", "")  # 1,000 -> 1000
    if re.fullmatch(r"-?\d+\.0+", s):
        s = s.split(".")[0]
    return s.lower()


_INT = re.compile(r"-?\d{1,50}")


def normalize_text(ans: str) -> str:
    """Normalise a free-text answer: case, surrounding quotes/punctuation, whitespace."""
    s = ans.strip().lower()
    s = re.sub(r"^[\"'“”‘’`(\[]+|[\"'“”‘’`)\].,;:!]+$", "", s)
    return re.sub(r"\s+", " ", s).strip()


def normalize(ans: str, answer_type: str) -> str:
    if answer_type == "math":
        return normalize_math(ans)
    if answer_type == "choice":
        return ans.strip().strip("()").strip().upper()
    if answer_type == "text":
        return normalize_text(ans)
    if answer_type == "exact":  # the string as given (replaying others' string-equality grading)
        return ans
    raise ConfigError(f"unknown answer_type {answer_type!r} (expected math, choice or text)")


@lru_cache(maxsize=65536)
def _parse_math(ans: str):
    from math_verify import parse

    if len(ans) > MAX_SYMBOLIC_CHARS or _nesting(ans) > MAX_SYMBOLIC_DEPTH or explosive(ans):
        return []  # the string comparison decides

    timeout = (
        MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    )
    text = ans if "$" in ans or "\\boxed" in ans else f"${ans}$"
    try:
        return parse(text, parsing_timeout=timeout)
    except Exception:  # math-verify raises on timeouts and odd LaTeX: use the string fallback
        return []


@lru_cache(maxsize=262144)
def _math_equal(a: str, b: str) -> bool:
    na, nb = normalize_math(a), normalize_math(b)
    if na == nb:
        return True
    if _INT.fullmatch(na) and _INT.fullmatch(nb):  # two integers: no symbolic engine needed
        return int(na) == int(nb)
    a, b = strip_redundant_brackets(a), strip_redundant_brackets(b)
    pa = _parse_math(a)
    pb = _parse_math(b) if pa else []
    if not pa or not pb:
        return False
    from math_verify import verify

    timeout = (
        MATH_VERIFY_TIMEOUT_S if threading.current_thread() is threading.main_thread() else None
    )
    try:
        return bool(verify(pa, pb, timeout_seconds=timeout)) or bool(
            verify(pb, pa, timeout_seconds=timeout)
        )
    except Exception:
        return False


def answers_equal(a: str | None, b: str | None, answer_type: str = "math") -> bool:
    """Whether two final answers are equivalent. None (no answer) equals nothing.

    Example:
        >>> answers_equal("\\\\frac{1}{2}", "0.5", "math")
        True
    """
    if a is None or b is None:
        return False
    a, b = canonical(a), canonical(b)
    if answer_type == "math":
        return _math_equal(a.strip(), b.strip())
    return normalize(a, answer_type) == normalize(b, answer_type)  # "exact": a == b


class AnswerClasses:
    """Equivalence classes of one question's answers.

    ``labels[i]`` is the class of answer i (classes numbered in order of first
    appearance), or -1 when answer i is None. Distinct normalised strings are
    compared once each against one representative per class.

    Example:
        >>> AnswerClasses(["1/2", "0.5", "3", None], "math").labels
        [0, 0, 1, -1]
    """

    def __init__(self, answers: Sequence[str | None], answer_type: str = "math"):
        self.answer_type = answer_type
        self.representatives: list[str] = []
        self._by_value: dict[int, list[int]] = {}  # numeric value bucket -> classes
        self._no_value: dict[tuple, list[int]] = {}  # shape -> classes of answers without a value
        key_to_class: dict[str, int] = {}
        labels: list[int] = []
        for ans in answers:
            if ans is None:
                labels.append(-1)
                continue
            ans = canonical(ans)
            key = normalize(ans, answer_type)
            if key not in key_to_class:
                key_to_class[key] = self._find_or_add(ans)
            labels.append(key_to_class[key])
        self.labels = labels

    def _candidates(self, ans: str) -> list[int]:
        """Classes ``ans`` may equal: for an answer with a value, only classes holding (about) the
        same value; for one without, only the others without. So u distinct answers cost u
        parses, not u^2 symbolic comparisons."""
        if self.answer_type != "math":
            return list(range(len(self.representatives)))
        value = numeric_value(ans.strip())
        if value is None:  # no value (a set, an equation, words): only others of its shape
            return self._no_value.get(answer_shape(ans.strip()), [])
        return sorted(c for b in (value - 1, value, value + 1) for c in self._by_value.get(b, []))

    def _find_or_add(self, ans: str) -> int:
        for c in self._candidates(ans):
            if answers_equal(ans, self.representatives[c], self.answer_type):
                return c
        self.representatives.append(ans)
        c = len(self.representatives) - 1
        value = numeric_value(ans.strip()) if self.answer_type == "math" else None
        if value is None:
            self._no_value.setdefault(answer_shape(ans.strip()), []).append(c)
        else:
            self._by_value.setdefault(value, []).append(c)
        return c

    def class_of(self, ans: str | None) -> int:
        """Class of an outside answer (e.g. gold), or -1 when it matches none."""
        if ans is None:
            return -1
        ans = canonical(ans)
        for c in self._candidates(ans):
            if answers_equal(ans, self.representatives[c], self.answer_type):
                return c
        return -1


@lru_cache(maxsize=262144)
def answer_shape(ans: str) -> tuple:
    """What an answer without a value is: the free symbols of its parse (equal answers share
    them), or ``("text",)`` when it does not parse."""
    for p in _parse_math(ans):
        if hasattr(p, "free_symbols"):
            return ("symbols", *sorted(map(str, p.free_symbols)))
        return (type(p).__name__,)
    return ("text",)


# our choice: the point where an expression with free symbols is evaluated for its fingerprint
_PROBE_POINT = (0.6180339887, 1.4142135623, 2.7182818284, 0.5772156649, 1.7320508075)


@lru_cache(maxsize=262144)
def numeric_value(ans: str) -> int | None:
    """A fingerprint bucket of an answer's value: a number's value, or an expression's value with
    its symbols set to fixed irrational points, in steps of 1e-4 (None: no real value, e.g. a
    set or an equation). Equal answers have equal values, so :class:`AnswerClasses` only
    compares answers in the same or a neighbouring bucket; math-verify still decides equality."""
    parsed = _parse_math(ans)
    for p in parsed:
        if not hasattr(p, "free_symbols") or not hasattr(p, "evalf"):
            continue
        try:
            symbols = sorted(p.free_symbols, key=str)
            if len(symbols) > len(_PROBE_POINT):
                return None
            v = complex(p.evalf(subs=dict(zip(symbols, _PROBE_POINT))))
        except Exception:  # sets, relations, matrices, odd LaTeX: no value
            return None
        if v.imag == 0 and math.isfinite(v.real) and abs(v.real) < 1e12:
            return round(v.real * 1e4)
        return None
    return None

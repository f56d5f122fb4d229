import re

import pytest

from deepprune.answers import extract_answer, last_boxed, trace_answer
from deepprune.pools import Trace

# real strings that fooled naive extractors
MATH_CASES = [
    (r"so \boxed{\frac{1}{2}}.", r"\frac{1}{2}"),
    (r"first \boxed{3} then final \boxed{4}", "4"),
    (r"\boxed{\{1,2\}}", r"\{1,2\}"),
    (r"\fbox{12}", "12"),
    (r"answer \boxed{x^{2}+1} done", "x^{2}+1"),
    (r"\boxed{5", None),  # unbalanced: no answer
    ("The final answer is 42.", "42"),
    ("no answer here", None),
]


@pytest.mark.parametrize("text,expected", MATH_CASES)
def test_math_extraction(text, expected):
    assert extract_answer(text, "math") == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("I think (A) but the answer is (C)", "C"),
        ("Therefore, the best answer is: (B).", "B"),
        (r"\boxed{D}", "D"),
        ("Answer: E", "E"),
        ("<think>the answer is A ... no wait</think>\nTherefore, the best answer is: (D).", "D"),
        ("nothing", None),
    ],
)
def test_choice_extraction(text, expected):
    assert extract_answer(text, "choice") == expected


@pytest.mark.parametrize(
    "text,expected",
    [
        ("Concatenating them is 'yajo'. The answer is yajo.", "yajo"),
        ('The answer is "ab".', "ab"),
        ("Answer: hello world", "hello world"),
        ('Concatenating them gives us "eojn".', "eojn"),
        ("blah", None),
    ],
)
def test_text_extraction(text, expected):
    assert extract_answer(text, "text") == expected


def test_last_boxed_balanced():
    assert last_boxed(r"\boxed{a{b}c}") == "a{b}c"


def test_trace_answer_prefers_shipped():
    assert trace_answer(Trace(text=r"\boxed{1}", answer="2", answer_given=True), "math") == "2"
    assert trace_answer(Trace(text=r"\boxed{1}", answer=None, answer_given=True), "math") is None
    assert trace_answer(Trace(text=r"\boxed{1}"), "math") == "1"


def test_unknown_answer_type():
    with pytest.raises(ValueError, match="answer_type"):
        extract_answer("x", "bogus")


def _unbounded(pattern) -> list:
    """Repeats with no upper bound anywhere in a compiled pattern (sre parse tree)."""
    import re._constants as c
    import re._parser as p

    found = []

    def walk(items):
        for op, av in items:
            if op in (c.MAX_REPEAT, c.MIN_REPEAT, c.POSSESSIVE_REPEAT):
                if av[1] == c.MAXREPEAT:
                    found.append((op, av[0]))
                walk(av[2])
            elif op in (c.SUBPATTERN,):
                walk(av[-1])
            elif op is c.BRANCH:
                for b in av[1]:
                    walk(b)
            elif op in (c.ASSERT, c.ASSERT_NOT):
                walk(av[1])

    walk(p.parse(pattern.pattern, pattern.flags))
    return found


def test_every_extraction_pattern_is_bounded():
    """Bounded repeats make matching linear in the text: no catastrophic backtracking."""
    from deepprune import answers

    pats = [v for v in vars(answers).values() if isinstance(v, re.Pattern)]
    pats += [
        p
        for v in vars(answers).values()
        if isinstance(v, list)
        for p in v
        if isinstance(p, re.Pattern)
    ]
    assert len(pats) >= 7
    for pat in pats:
        assert not _unbounded(pat), pat.pattern


@pytest.mark.parametrize(
    "text,kind",
    [("The answer is" + "\n" * 100_000, "choice"), ("answer is " + " " * 200_000 + "x", "choice"),
     ("the answer is " * 50_000, "text"), ("we get " * 80_000 + "'", "text"),
     ("\\boxed{" * 100_000, "math"), ("Final answer: " + "(" * 200_000, "math")],
    ids=["newlines", "spaces", "repeated-text", "repeated-get", "open-boxes", "parens"],
)  # fmt: skip
def test_hostile_megabyte_texts_finish(text, kind):
    # these hung for minutes before the patterns were bounded; now they are linear scans
    import threading

    got = []
    t = threading.Thread(target=lambda: got.append(extract_answer(text, kind)), daemon=True)
    t.start()
    t.join(60)  # a bound on a hang (minutes before the fix), not a timing
    assert not t.is_alive(), "extract_answer still running after 60 s"
    assert got and (got[0] is None or (isinstance(got[0], str) and len(got[0]) < len(text)))

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

import pytest
from hypothesis import given
from hypothesis import strategies as st

from deepprune.grading import AnswerClasses, answers_equal


@pytest.mark.parametrize(
    "a,b,equal",
    [
        (r"\frac{1}{2}", "0.5", True),
        (r"\dfrac{1}{2}", r"\frac12", True),
        ("10{,}000", "10000", True),
        ("x = 5", "5", True),
        ("3", "4", False),
        (r"\sqrt{4}", "2", True),
        ("90^\\circ", "90", True),
        (r"\pi", "3.14", False),
    ],
)
def test_math_equivalence(a, b, equal):
    assert answers_equal(a, b, "math") is equal


def test_choice_and_text():
    assert answers_equal("(c)", "C", "choice")
    assert not answers_equal("A", "B", "choice")
    assert answers_equal("  Yajo.", "yajo", "text")
    assert not answers_equal("yajo", "yaj", "text")
    assert not answers_equal(None, "1")


def test_classes_group_equivalents_and_none():
    c = AnswerClasses(["1/2", "0.5", "3", None, r"\frac{1}{2}", "3"], "math")
    assert c.labels == [0, 0, 1, -1, 0, 1]
    assert c.class_of("6/2") == 1 and c.class_of("9") == -1


@given(st.lists(st.integers(0, 6), min_size=1, max_size=30))
def test_classes_match_integer_identity(values):
    labels = AnswerClasses([str(v) for v in values], "math").labels
    for i in range(len(values)):
        for j in range(len(values)):
            assert (labels[i] == labels[j]) == (values[i] == values[j])


def test_redundant_brackets_are_one_value_and_hostile_nesting_is_cheap(monkeypatch):
    import math_verify

    from deepprune import grading

    assert answers_equal("((1))", "1") and answers_equal("(" * 500 + "1" + ")" * 500, "1")
    assert grading.strip_redundant_brackets("((1,2))") == "(1,2)"  # a tuple keeps its brackets
    assert not answers_equal("(1,2)", "1") and answers_equal("{(-3/4)}", "-0.75")
    calls = []
    real = math_verify.parse
    monkeypatch.setattr(math_verify, "parse", lambda *a, **k: calls.append(a) or real(*a, **k))
    grading._parse_math.cache_clear()
    deep = "(" * 200 + "x+(" * 50 + "1" + ")" * 250
    assert (
        not answers_equal(deep, "2") and not calls
    )  # too deep for the symbolic parser: strings decide
    assert not answers_equal("x" * 10_000, "2") and not calls  # too long, likewise

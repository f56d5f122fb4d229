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

"""The grading's guards and normaliser at their edges, by hand (issue 38: the mutation score of
``grading.py``): the explosive-answer limits exactly at and past each bound, bracket stripping,
nesting depth, and each normalisation step."""

import pytest

from deepprune.grading import (
    MAX_EXPONENT,
    MAX_FACTORIAL,
    _nesting,
    explosive,
    normalize,
    normalize_math,
    normalize_text,
    strip_redundant_brackets,
)


@pytest.mark.parametrize("ans,boom", [
    (f"2^{{{MAX_EXPONENT}}}", False), (f"2^{{{MAX_EXPONENT + 1}}}", True), (f"2**{MAX_EXPONENT + 1}", True),
    ("2^{010000}", False),  # six digits, at the bound
    ("2^{0000010}", True),  # seven digits: refused unread, whatever their value
    (f"{MAX_FACTORIAL}!", False), (f"{MAX_FACTORIAL + 1}!", True), ("001000!", False), ("0000010!", True),
    (f"\\binom{{{MAX_FACTORIAL}}}{{2}}", False), (f"\\binom{{{MAX_FACTORIAL + 1}}}{{2}}", True),
    ("\\binom{001000}{3}", False), ("\\binom{0000010}{3}", True), (f"{MAX_FACTORIAL + 1} choose 2", True),
    (f"{MAX_FACTORIAL + 1} + 2", False),  # a large number alone is not explosive
    ("10^{10^{3}}", True), ("x^2+y^2", False),
])  # fmt: skip
def test_explosive_at_its_bounds(ans, boom):
    assert explosive(ans) is boom


@pytest.mark.parametrize("s,want", [
    ("((1))", "1"), ("{x+1}", "x+1"), ("(1,2)", "(1,2)"), ("((1,2))", "(1,2)"), ("{(1,2)}", "(1,2)"),
    ("(1)+(2)", "(1)+(2)"), (")(", ")("), ("(1))", "(1))"), ("[1]", "[1]"), ("(a}", "(a}"), ("()", ""),
    ("(x),(y)", "(x),(y)"), ("((1),(2))", "((1),(2))"), ("(((-3/4)))", "-3/4"), ("a", "a"), ("", ""),
])  # fmt: skip
def test_strip_redundant_brackets(s, want):
    assert strip_redundant_brackets(s) == want


@pytest.mark.parametrize("s,depth", [("", 0), ("abc", 0), ("(a)", 1), ("([{}])", 3), ("a(b(c)d)e(f)", 2),
                                     (")(", 0), ("((a)[b]{c})", 2)])  # fmt: skip
def test_nesting(s, depth):
    assert _nesting(s) == depth


@pytest.mark.parametrize("ans,want", [
    (" $42$ ", "42"), ("$$x$$", "x"), ("\\left(3\\right)", "3"), ("\\dfrac{1}{2}", "\\frac{1}{2}"),
    ("\\text{ yes}", "yes"), ("\\mathrm{ cm}", "cm"), ("90^\\circ", "90"), ("90^{\\circ}", "90"),
    ("1 2", "12"), ("5.", "5"), ("..5", "..5"), ("1{,}000", "1000"), ("x=5", "5"), ("X = 5", "5"),
    ("xy=5", "xy=5"), ("1,000", "1000"), ("-12,345.5", "-12345.5"), ("1,2", "1,2"), ("12,34", "12,34"),
    ("3.000", "3"), ("-3.0", "-3"), ("3.05", "3.05"), ("ABC", "abc"), ("(5)", "5"),
])  # fmt: skip
def test_normalize_math_step_by_step(ans, want):
    assert normalize_math(ans) == want


@pytest.mark.parametrize("ans,want", [(" 'Hello  World!' ", "hello world"), ("(b)", "b"), ("“yes”.", "yes"),
                                      ("a  b\tc", "a b c")])  # fmt: skip
def test_normalize_text(ans, want):
    assert normalize_text(ans) == want


def test_normalize_by_answer_type():
    assert normalize(" (b) ", "choice") == "B"
    assert normalize(" x=5 ", "math") == "5"
    assert normalize(" Yes. ", "text") == "yes"
    assert normalize(" x=5 ", "exact") == " x=5 "
    with pytest.raises(Exception, match="unknown answer_type 'other'"):
        normalize("1", "other")


def test_answer_classes_of_every_answer_type():
    from deepprune.grading import AnswerClasses

    assert AnswerClasses(["b", "B", "(b)", "c"], "choice").labels == [0, 0, 0, 1]
    assert AnswerClasses(["Hello", "hello.", "bye"], "text").labels == [0, 0, 1]
    # answers without a value (sets, equations) meet only others of their shape, and still merge
    assert AnswerClasses(["\\{1,2\\}", "\\{2,1\\}", "\\{3\\}", "x=1", "x = 1"], "math").labels == [
        0,
        0,
        1,
        2,
        2,
    ]
    ac = AnswerClasses(["1/2", "3", None])
    assert ac.labels == [0, 1, -1] and ac.representatives == ["1/2", "3"]
    assert (
        ac.class_of(None),
        ac.class_of("7"),
        ac.class_of("0.5"),
        ac.class_of("\\frac{6}{2}"),
    ) == (-1, -1, 0, 1)


def test_an_answer_is_compared_with_its_own_and_the_neighbouring_value_buckets_only():
    """``0.001`` is bucket 10: the candidates are the classes in buckets 9, 10 and 11, in order."""
    from deepprune.grading import AnswerClasses

    ac = AnswerClasses([])
    ac._by_value = {8: [5], 9: [3], 10: [1, 4], 11: [0], 12: [2]}
    assert ac._candidates("0.001") == [0, 1, 3, 4]
    ac._no_value = {("symbols", "x"): [6]}  # the shape of an equation in x
    assert ac._candidates("\\{1,2\\}") == [] and ac._candidates("x=1") == [6]

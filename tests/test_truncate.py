import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune.tokens import TokenCounter
from deepprune.truncate import PrefixWatch, parse_spec, truncate


def test_words_cuts_before_kth_reasoning_word():
    text = "First a. Then b. so c. However d."
    assert truncate(text, "words:2") == "First a. "
    assert truncate(text, "words:3") == "First a. Then b. "
    assert truncate(text, "words:9") == text  # fewer than k: whole trace


def test_words_whole_words_case_insensitive_and_multiword():
    text = "Sonar is fine. LET ME see. Wait."
    # "Sonar" must not match "so"; "let me" spans two words
    assert truncate(text, "words:1") == "Sonar is fine. "
    assert truncate(text, "words:2") == "Sonar is fine. LET ME see. "


def test_tokens_and_frac():
    c = TokenCounter()
    text = "alpha beta gamma delta"  # 4-char pieces: alph a beta gamm a delt a
    assert c.count(text) == 7
    assert truncate(text, "tokens:2") == "alpha"
    assert truncate(text, "frac:0.5") == truncate(text, "tokens:4")
    assert truncate(text, "tokens:100") == text and truncate(text, "full") == text
    assert truncate(text, "frac:1") == text  # documented: 0 < F <= 1


@pytest.mark.parametrize("bad", ["tokens:0", "words:x", "frac:1.5", "chars:3", "tokens"])
def test_bad_specs(bad):
    with pytest.raises(ValueError, match="bad truncation spec"):
        parse_spec(bad)


@given(st.text(min_size=0, max_size=300), st.integers(1, 50))
def test_prefix_property(text, k):
    for spec in (f"tokens:{k}", f"words:{k}", "frac:0.3"):
        p = truncate(text, spec)
        assert text.startswith(p)
    assert TokenCounter().count(truncate(text, f"tokens:{k}")) == min(k, TokenCounter().count(text))


_PIECES = [
    "so",
    "also",
    "wait",
    "let",
    "me",
    "let me",
    "Let\n me",
    "soon",
    " ",
    ". ",
    "x",
    "Then",
    "hmm",
    "\n",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=40), st.integers(1, 6),
       st.lists(st.integers(1, 6), min_size=1, max_size=40))  # fmt: skip
def test_prefix_watch_cuts_where_truncate_would_at_each_delta(pieces, k, sizes):
    """The incremental watch fires at the first delta where truncating the text received so far
    cuts it, with exactly that prefix (what the old re-truncation of the whole text did)."""
    text, cuts, at = "".join(pieces), [], 0
    while at < len(text):
        end = min(len(text), at + sizes[len(cuts) % len(sizes)])
        cuts.append((at, end))
        at = end
    spec = f"words:{k}"
    watch, got = PrefixWatch(spec), None
    for a, b in cuts:
        prefix = watch.feed(text[a:b], 1)
        if prefix is not None:
            got = (b, prefix)
            break
    want = next(
        ((b, truncate(text[:b], spec)) for _, b in cuts if truncate(text[:b], spec) != text[:b]),
        None,
    )
    assert got == want


def test_prefix_watch_tokens_and_refusals():
    w = PrefixWatch("tokens:5")
    assert w.feed("ab", 2) is None and w.feed("cde", 3) == "abcde" and w.done
    assert w.feed("more", 4) is None  # done: later deltas change nothing
    one = PrefixWatch("tokens:3")  # the cut at exactly K tokens, not one before
    assert [one.feed(c, 1) for c in "xyzw"] == [None, None, "xyz", None] and one.tokens == 3
    with pytest.raises(ValueError) as e:
        PrefixWatch("frac:0.5")
    assert (
        str(e.value)
        == "--trunc frac:0.5: only tokens:K and words:K can be watched while a trace streams"
    )


def test_full_keeps_the_text_and_probe_cuts_refuse_text():
    text = "First a. Then b. So c. Wait d."
    assert truncate(text, "full") == text and truncate(None, "full") == ""
    with pytest.raises(ValueError) as e:
        truncate(text, "probe:2")
    assert (
        str(e.value)
        == "probe:J cuts a trace at its J-th answer probe: it needs a pool's probes, not text"
    )


def test_each_spec_parses_to_its_kind_value_and_words_and_a_bad_one_says_every_form():
    """Each form by hand: its kind, its value (an integer count, a float fraction, 0 for full) and
    the reasoning words (the defaults, or the ones given, lower-cased); a fraction of 0 cuts nothing
    and is refused with every bad spec, by one line listing the accepted forms."""
    from deepprune.truncate import REASONING_WORDS

    for spec, kind, value in (("full", "full", 0), (" tokens:4 ", "tokens", 4), ("words:2", "words", 2),
                              ("probe:3", "probe", 3), ("frac:0.25", "frac", 0.25), ("frac:1", "frac", 1.0)):  # fmt: skip
        t = parse_spec(spec)
        assert (t.kind, t.value, type(t.value), t.words) == (
            kind,
            value,
            type(value),
            REASONING_WORDS,
        )
        assert parse_spec(spec, words=["Wait", "LET me"]).words == ("wait", "let me")
    for bad in ("frac:0", "frac:-0.5", "words:-1", "probe:0", "full:1", ""):
        with pytest.raises(ValueError) as e:
            parse_spec(bad)
        assert str(e.value) == (
            f"bad truncation spec {bad!r}: expected tokens:K, words:K or probe:J (a positive "
            "integer), frac:F (0 < F <= 1) or full"
        )

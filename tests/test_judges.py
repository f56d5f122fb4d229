import numpy as np
import pytest

from deepprune.judges import JudgePair, get_judge
from deepprune.metrics import auroc


def _pairs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    return [JudgePair(f"a{i}", f"b{i}", label=int(rng.random() < 0.7)) for i in range(n)]


def test_oracle_and_noisy_oracle_hit_requested_auroc():
    pairs = _pairs()
    labels = [p.label for p in pairs]
    assert auroc(get_judge("oracle").score(pairs), labels) == 1.0
    for target in (0.6, 0.87):
        s = get_judge(f"noisy-oracle:auroc={target},seed=1").score(pairs)
        assert auroc(s, labels) == pytest.approx(target, abs=0.025)
    j = get_judge("noisy-oracle:auroc=0.8")
    assert np.array_equal(j.score(pairs[:50]), j.score(pairs[:50]))  # same pair, same score


def test_lexical_judges():
    same, diff = (
        JudgePair("first compute x = 3 then y", "first compute x = 3 then z"),
        JudgePair("apple pie", "quantum field"),
    )
    for spec in ("lexical:jaccard", "lexical:tfidf"):
        s = get_judge(spec).score([same, diff])
        assert s[0] > s[1] and ((s >= 0) & (s <= 1)).all()
    assert get_judge("lexical:jaccard").score([same])[0] == pytest.approx(5 / 7)


def test_sbert_judge_real_model():
    j = get_judge("sbert")
    s = j.score([JudgePair("The cat sat on the mat.", "A cat is sitting on a mat."),
                 JudgePair("The cat sat on the mat.", "Stock markets fell sharply today.")])  # fmt: skip
    assert s[0] > s[1] and s[0] > 0.8


@pytest.mark.parametrize(
    "spec,err",
    [("lexcal:jaccard", "unknown judge 'lexcal'"), ("lexical:jacard", "unknown lexical judge"),
     ("noisy-oracle:aurc=0.8", "unknown option"), ("llm:/no/such/model", "no such directory"),
     ("sbert:/no/such/dir", "no such directory"), ("llm", "needs a local model path")],
)  # fmt: skip
def test_bad_specs(spec, err):
    with pytest.raises((ValueError, FileNotFoundError), match=err):
        get_judge(spec)


def test_oracle_needs_labels():
    with pytest.raises(ValueError, match="labelled"):
        get_judge("oracle").score([JudgePair("a", "b")])


def test_tfidf_handles_prefixes_without_words():
    j = get_judge("lexical:tfidf")
    j.prepare(["", " ", "."])
    assert list(j.score([JudgePair("", ""), JudgePair("", ".")])) == [1.0, 0.0]


def test_tfidf_index_path_matches_pair_path():
    texts = ["first add two and three", "first add two then four", "multiply five", ""]
    i, j = np.array([0, 0, 1, 2, 3]), np.array([1, 2, 3, 3, 3])
    by_pairs = get_judge("lexical:tfidf")
    by_pairs.prepare(texts)
    expected = by_pairs.score([JudgePair(texts[a], texts[b]) for a, b in zip(i, j)])
    by_index = get_judge("lexical:tfidf")
    by_index.prepare(texts)
    np.testing.assert_allclose(by_index.score_indexed(texts, i, j), expected)
    assert expected[0] > expected[1] == 0.0  # shared words score, disjoint ones do not
    empty = get_judge("lexical:tfidf")
    np.testing.assert_array_equal(
        empty.score_indexed(["", " "], np.array([0]), np.array([1])), [1.0]
    )

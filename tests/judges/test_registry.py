import inspect
import re

import numpy as np
import pytest

from deepprune.errors import ConfigError
from deepprune.judges import (
    JUDGES,
    JudgePair,
    LabelledJudge,
    get_judge,
    judge_scores,
    judge_scores_indexed,
)
from deepprune.judges.crossencoder import CrossEncoderJudge
from deepprune.judges.features import FeatureJudge
from deepprune.judges.llm import LLMJudge
from deepprune.metrics import auroc


def _pairs(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < 0.7).astype(int)
    return [JudgePair(f"a{i}", f"b{i}") for i in range(n)], labels


def test_oracle_and_noisy_oracle_hit_requested_auroc():
    pairs, labels = _pairs()
    assert auroc(judge_scores(get_judge("oracle"), pairs, labels), labels) == 1.0
    for target in (0.6, 0.87):
        s = judge_scores(get_judge(f"noisy-oracle:auroc={target},seed=1"), pairs, labels)
        assert auroc(s, labels) == pytest.approx(target, abs=0.025)
    j = get_judge("noisy-oracle:auroc=0.8")
    a, b = judge_scores(j, pairs[:50], labels[:50]), judge_scores(j, pairs[:50], labels[:50])
    assert np.array_equal(a, b)  # same pair, same score


def test_only_oracles_can_receive_labels():
    # no judge input carries a label, and no non-oracle scoring method takes one
    assert "label" not in JudgePair.__dataclass_fields__
    for cls in (get_judge("lexical:jaccard").__class__, get_judge("lexical:tfidf").__class__,
                CrossEncoderJudge, FeatureJudge, LLMJudge):  # fmt: skip
        assert not issubclass(cls, LabelledJudge)
        for meth in ("score", "score_indexed"):
            assert "labels" not in inspect.signature(getattr(cls, meth)).parameters, (cls, meth)
    seen = []

    class Spy(type(get_judge("lexical:jaccard"))):
        def score_indexed(self, *args, **kwargs):
            seen.append((args, kwargs))
            return np.zeros(len(args[1]))

    texts = ["a", "b", "c"]
    judge_scores_indexed(Spy(), texts, np.array([0]), np.array([1]), labels=np.array([1]))
    ((args, kwargs),) = seen
    assert args[0] is texts and args[3] is None and not kwargs  # texts, i, j, question: no labels
    assert isinstance(get_judge("oracle"), LabelledJudge)
    assert isinstance(get_judge("noisy-oracle"), LabelledJudge)
    assert set(JUDGES) == {
        "oracle",
        "noisy-oracle",
        "lexical",
        "probe",
        "sbert",
        "llm",
        "crossencoder",
        "features",
    }


def test_tfidf_fits_each_question_on_its_own_prefixes():
    qa = ["alpha beta gamma", "alpha beta delta", "alpha zeta"]
    qb = ["one two three", "one two four", "five six"]
    i, j = np.array([0, 0, 1]), np.array([1, 2, 2])
    shared = get_judge("lexical:tfidf")
    shared.score_indexed(qb, i, j)  # another question first
    got = shared.score_indexed(qa, i, j)
    alone = get_judge("lexical:tfidf").score_indexed(qa, i, j)
    np.testing.assert_allclose(got, alone)  # never scored with the other question's vocabulary
    for _ in range(5):  # the online engine asks a question's pairs position by position
        shared.score_indexed(qa, i[:1], j[:1])
    assert shared.fits == 2  # once per question


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
    with pytest.raises(ConfigError, match="labelled"):
        get_judge("oracle").score([JudgePair("a", "b")])
    with pytest.raises(ConfigError, match="labelled"):
        judge_scores(get_judge("oracle"), [JudgePair("a", "b")], [None])


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


@pytest.mark.parametrize("spec, says", [
    ("llm:endpoint=http://h/v1,model=m,concurrency=x", "concurrency=x is not an integer"),
    ("llm:endpoint=http://h/v1,model=m,concurrency=0", "concurrency must be >= 1"),
    ("llm:endpoint=http://[::1,model=m", "endpoint= expected an http(s) URL"),
    ("llm:endpoint=ftp://h/v1,model=m", "endpoint= expected an http(s) URL"),
    ("llm:endpoint=http://h/v1,model=m,both_orders=maybe", "both_orders=maybe is not a yes/no value"),
    ("llm:endpoint=http://h/v1,model=m,question=2", "question=2 is not a yes/no value"),
    ("noisy-oracle:auroc=nan", "auroc must be finite"), ("probe:last=0", "last must be >= 1"),
])  # fmt: skip
def test_a_bad_spec_option_is_one_line_naming_it(spec, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        get_judge(spec)

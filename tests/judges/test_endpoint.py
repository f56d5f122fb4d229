"""The endpoint LLM judge's pure parts and its spec errors (the real-server test is in tests/engine)."""

import math
from types import SimpleNamespace

import pytest

from deepprune.errors import ConfigError, DeepPruneError
from deepprune.judges import get_judge
from deepprune.judges.endpoint import label_logprob, top_logprobs


def test_label_logprob_sums_the_label_word_in_any_case_and_spacing():
    top = {" yes": math.log(0.2), "Yes": math.log(0.1), "no": math.log(0.3), "maybe": math.log(0.4)}
    assert label_logprob(top, "yes") == pytest.approx(math.log(0.3))
    assert label_logprob(top, "no") == pytest.approx(math.log(0.3))
    assert label_logprob({"x": 0.0}, "yes") is None


def test_top_logprobs_of_a_choice_and_a_response_without_them():
    choice = SimpleNamespace(logprobs=SimpleNamespace(top_logprobs=[{"yes": -0.1}]))
    assert top_logprobs(choice) == {"yes": -0.1}
    with pytest.raises(DeepPruneError, match="no top_logprobs"):
        top_logprobs(SimpleNamespace(logprobs=None))


@pytest.mark.parametrize("spec,msg", [
    ("llm:endpoint=http://127.0.0.1:9/v1", "model=NAME is required"),
    ("llm:endpoint=127.0.0.1:9,model=m", "expected an http"),
    ("llm:endpoint=http://127.0.0.1:9/v1,model=m,batch=3", "unknown option"),
    ("llm:/some/path,endpoint=http://127.0.0.1:9/v1,model=m", "exclude each other"),
])  # fmt: skip
def test_bad_endpoint_specs_are_one_line_errors(spec, msg):
    with pytest.raises(ConfigError, match=msg):
        get_judge(spec)


def test_no_server_is_a_one_line_error():
    from deepprune.judges import JudgePair

    judge = get_judge("llm:endpoint=http://127.0.0.1:9/v1,model=m")
    with pytest.raises(DeepPruneError, match="no server answers there"):
        judge.score([JudgePair("a", "b")])

import pytest

from deepprune.judges import JudgePair
from deepprune.judges.llm import (
    build_vllm_requests,
    label_token_ids,
    render_prompt,
    yes_probability,
)

pytestmark = (
    pytest.mark.slow
)  # model training / notebooks / LLaMA-Factory: `make test-fast` skips them


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from deepprune.dev.tiny_model import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("m") / "tiny")


def test_prompt_uses_chat_template_and_pair_builder_text(tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    p = render_prompt(tok, JudgePair("PREFIX-A", "PREFIX-B", "Q?"), use_question=True)
    assert p.startswith("<|im_start|>user\n") and p.endswith("<|im_start|>assistant\n")
    assert p.index("PREFIX-A") < p.index("PREFIX-B") and "### Problem\nQ?" in p
    y, n = label_token_ids(tok)
    assert y != n
    reqs = build_vllm_requests(tok, [JudgePair("a", "b")])
    assert reqs[0]["max_tokens"] == 1 and reqs[0]["prompt"].endswith("assistant\n")


def test_yes_probability():
    assert yes_probability(0.0, 0.0) == 0.5
    assert yes_probability(None, -1.0) == 0.0 and yes_probability(-1.0, None) == 1.0
    assert yes_probability(-0.1, -2.3) == pytest.approx(1 / (1 + 2.718281828 ** (-2.2)), rel=1e-6)


def test_batching_does_not_change_scores_and_both_orders(tiny):
    from deepprune.judges import get_judge

    pairs = [JudgePair(f"First, x{i} = {i}.", f"Then, y = {i * 3}. So z.") for i in range(7)]
    s1 = get_judge(f"llm:{tiny},batch=1").score(pairs)
    s32 = get_judge(f"llm:{tiny},batch=32").score(pairs)
    assert s1 == pytest.approx(s32, abs=1e-5)  # left padding keeps the last position aligned
    both = get_judge(f"llm:{tiny},both_orders=1").score(pairs)
    swapped = get_judge(f"llm:{tiny}").score([JudgePair(p.prefix_b, p.prefix_a) for p in pairs])
    assert both == pytest.approx((s1 + swapped) / 2, abs=1e-5)


def test_vllm_backend_without_vllm_gives_clear_error(tiny):
    import importlib.util

    from deepprune.judges import get_judge

    if importlib.util.find_spec("vllm") is None:
        with pytest.raises(ValueError, match="vllm extra"):
            get_judge(f"llm:{tiny},backend=vllm")

"""Acceptance numbers on the shared real pools (skipped with a reason when ../shared is absent)."""

from deepprune.answers import check_extraction
from tests.conftest import shared_pool


def test_math_grading_agrees_with_shipped_correct():
    r = check_extraction(shared_pool("qwen25math-math100-n8.jsonl"))
    assert r["correct_match"]["n"] == 800 and r["correct_match"]["share"] >= 0.98


def test_text_answers_extracted():
    r = check_extraction(shared_pool("esc-gpt35-lastletters-n40.jsonl"))
    assert r["extracted_share"] >= 0.99


def test_extraction_matches_shipped_answers():
    for name in (
        "qwen3-8b-mmlu-think-n50.jsonl",
        "aimo3-deepseek-reasoner-n8.jsonl",
        "aimo3-gpt-oss-120b-n8.jsonl",
    ):
        r = check_extraction(shared_pool(name))
        assert r["answer_match"]["share"] >= 0.99, name

"""The deepprune_add24 task's prompt and grading: the few-shot prompt file `deepprune solve` reads, and
deepprune's answer extraction (the last \\boxed{}) with math-verify equality."""

from pathlib import Path

from deepprune.answers import extract_answer
from deepprune.grading import answers_equal

PROMPT = (
    Path(__file__).resolve().parents[2] / "DeepPrune_data" / "prompts" / "fewshot_add.txt"
).read_text()


def doc_to_text(doc: dict) -> str:
    return PROMPT.replace("{question}", doc["question"])


def process_results(doc: dict, results: list[str]) -> dict:
    answer = extract_answer(results[0], doc.get("answer_type", "math"))
    return {"acc": float(bool(answers_equal(answer, doc["gold"], doc.get("answer_type", "math"))))}

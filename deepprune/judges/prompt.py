"""The judge prompt: what the SFT data asks and what the LLM judges read (one place)."""

from __future__ import annotations

JUDGE_INSTRUCTION = (
    "You are given two partial reasoning traces written for the same problem. "
    "Both are unfinished. Predict whether the two traces will reach the same final answer. "
    'Answer with exactly one word: "yes" or "no".'
)
JUDGE_INPUT_TEMPLATE = "{question_block}### Trace A\n{prefix_a}\n\n### Trace B\n{prefix_b}"
QUESTION_BLOCK = "### Problem\n{question}\n\n"
POSITIVE, NEGATIVE = "yes", "no"


def judge_prompt(prefix_a: str, prefix_b: str, question: str | None = None) -> tuple[str, str]:
    """The judge prompt as an Alpaca (instruction, input) pair; the LLM judges score this.

    Example:
        >>> judge_prompt("a", "b")[1]
        '### Trace A\\na\\n\\n### Trace B\\nb'
    """
    qb = QUESTION_BLOCK.format(question=question) if question else ""
    return JUDGE_INSTRUCTION, JUDGE_INPUT_TEMPLATE.format(
        question_block=qb, prefix_a=prefix_a, prefix_b=prefix_b
    )

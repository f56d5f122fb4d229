"""Problems to generate traces for: id, question, gold and answer type (the ``shared/data/problems``
format), read with one-line errors naming the file and line.

Example:
    >>> Problem("q1", "1+1?", "2").answer_type
    'math'
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from deepprune.artifacts import read_jsonl
from deepprune.errors import DeepPruneError
from deepprune.pools import ANSWER_TYPES


@dataclass
class Problem:
    id: str
    question: str
    gold: str | None = None
    answer_type: str = "math"


def load_problems(path: str | os.PathLike) -> list[Problem]:
    """Problems in the format of ``shared/data/problems`` (id, question, gold, answer_type)."""
    out, seen = [], set()
    for no, row in read_jsonl(path, "problem file"):
        if (
            isinstance(row, dict)
            and isinstance(row.get("id"), int)
            and not isinstance(row["id"], bool)
        ):
            row["id"] = str(row["id"])  # integer ids, as pools accept them
        if (
            not isinstance(row, dict)
            or not isinstance(row.get("id"), str)
            or not isinstance(row.get("question"), str)
        ):
            raise DeepPruneError(
                f"{path}:{no}: a problem needs a string 'id' and a string 'question'"
            )
        if row["id"] in seen:
            raise DeepPruneError(f"{path}:{no}: duplicate id {row['id']!r}")
        kind = row.get("answer_type", "math")
        if kind not in ANSWER_TYPES:
            raise DeepPruneError(
                f"{path}:{no}: answer_type {kind!r} is not one of {', '.join(ANSWER_TYPES)}"
            )
        gold = row.get("gold")
        seen.add(row["id"])
        out.append(Problem(row["id"], row["question"], None if gold is None else str(gold), kind))
    return out

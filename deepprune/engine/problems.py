"""What ``generate`` and ``solve`` share before and after the server: which problems a run takes,
each trace's seed, and the append-only record file a killed run resumes from.

Problems come from a problems file (:func:`deepprune.problems.load_problems`) or, with the replay
backend and no problems file, from the replayed pool's own questions. A :class:`RecordFile` holds one JSON line per finished unit of work, written
whole and fsynced; a line torn by a kill is skipped on reading (its work is redone).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

from deepprune.artifacts import atomic_write
from deepprune.pools import iter_pool
from deepprune.problems import Problem, load_problems
from deepprune.rng import run_key

DEFAULT_PROMPT = "Question: {question}\nAnswer: Let's think step by step."  # our choice


def resolve_problems(problems, backend: str, backend_args: dict) -> list[Problem]:
    """A list as given, a problems file loaded, or (replay backend, no file) the pool's questions;
    the first ``backend_args["limit"]`` of them when set (popped: it is not the backend's)."""
    limit = backend_args.pop("limit", 0) or None
    if backend == "replay" and problems is None:
        return [Problem(q.id, q.question or "", q.gold, q.answer_type)
                for q in iter_pool(backend_args["pool"])][:limit]  # fmt: skip
    return (problems if isinstance(problems, list) else load_problems(problems))[:limit]


def trace_seed(cfg, qid: str, index: int) -> int:
    """The sampling seed of trace ``index`` of problem ``qid`` under ``cfg.seed``."""
    return run_key("trace", cfg.seed, qid, index) % 2**31


class RecordFile:
    """An append-only JSONL file of finished work: one whole, fsynced line per record.

    A line torn by a kill (the file does not end in a newline, or a line is not JSON) is set aside
    to ``PATH.torn`` before anything is appended, with a warning: its work is redone, and the next
    record cannot glue onto it."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._lock: asyncio.Lock | None = None
        self._checked = False

    def repair(self) -> int:
        """Set torn lines aside to ``PATH.torn`` (atomically rewriting the intact ones); how many."""
        self._checked = True
        if not self.path.exists():
            return 0
        raw = self.path.read_bytes()
        keep, bad = [], []
        for line in (x for x in raw.split(b"\n") if x.strip()):
            try:
                json.loads(line)
                keep.append(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                bad.append(line)
        if not raw or not bad and raw.endswith(b"\n"):
            return 0
        if bad:
            with open(f"{self.path}.torn", "ab") as fh:
                fh.write(b"\n".join(bad) + b"\n")
            print(f"warning: {self.path}: set {len(bad)} torn line(s) aside to {self.path}.torn; "
                  "their work is redone", file=sys.stderr)  # fmt: skip
        atomic_write(self.path, b"".join(line + b"\n" for line in keep))
        return len(bad)

    def read(self) -> list[dict]:
        """Every intact record (torn lines are set aside first: their work is redone)."""
        self.repair()
        if not self.path.exists():
            return []
        return [
            json.loads(line)
            for line in self.path.read_text(encoding="utf-8").splitlines()
            if line.strip()
        ]

    def append_now(self, line: str) -> None:
        if not self._checked:
            self.repair()
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    async def append(self, line: str) -> None:
        """Append one line, whole, from concurrent tasks."""
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            self.append_now(line)


class TraceFile:
    """The traces a run generated in full (cons@N's), kept as pool lines per problem (in
    ``path`` when given, so a resumed run keeps them) and written as one pool at the end: what
    ``prune`` and ``compare`` read (``solve --save-traces``)."""

    def __init__(self, path: str | os.PathLike | None = None):
        self.file = RecordFile(path) if path is not None else None
        self.lines: list[str] = []

    async def add(self, p: Problem, traces: dict, meta: dict) -> None:
        """``traces``: index -> (text, Finish) of one problem's traces."""
        from deepprune.answers import extract_answer
        from deepprune.pools import Question, Trace

        ts = [Trace(text=t, answer=extract_answer(t, p.answer_type), answer_given=True, num_tokens=f.completion_tokens,
                    finished=f.finished) for _, (t, f) in sorted(traces.items())]  # fmt: skip
        q = Question(
            p.id, ts, question=p.question, gold=p.gold, answer_type=p.answer_type, meta=meta
        )
        line = json.dumps(q.to_dict(), ensure_ascii=False)
        if self.file is not None:
            await self.file.append(line)
        self.lines.append(line)

    def write(self, dest: str | os.PathLike, ids: list[str]) -> int:
        """The pool of ``ids`` (in that order) at ``dest``; how many questions it holds."""
        from deepprune.pools import parse_question, write_pool

        rows = [json.loads(x) for x in self.lines] + (
            self.file.read() if self.file is not None else []
        )
        by_id = {r["id"]: r for r in rows}
        qs = [parse_question(by_id[i], f"{dest}: {i}") for i in ids if i in by_id]
        write_pool(dest, qs)
        return len(qs)

"""Trace pools: read, write and validate the project's one data format.

    deepprune pools validate ../shared/data/pools/*.jsonl

A pool is JSON Lines (optionally ``.jsonl.gz``), one question per line, each with
its sampled traces. The format is specified in ``shared/docs/trace-pool-format.md``.
Unknown fields are kept in ``extra`` and written back unchanged.
"""

from __future__ import annotations

import gzip
import io
import json
import math
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from deepprune.artifacts import no_constant, refuse_special, umask
from deepprune.errors import ConfigError, DeepPruneError

AnswerType = Literal["math", "choice", "text"]
ANSWER_TYPES: tuple[str, ...] = ("math", "choice", "text")

_TRACE_KEYS = ("text", "answer", "num_tokens", "finished", "correct", "confs")
_QUESTION_KEYS = ("id", "question", "gold", "answer_type", "meta", "traces")
_MISSING = object()


class PoolError(DeepPruneError, ValueError):
    """A pool file that cannot be read; the message names the file, line and reason."""


@dataclass
class Trace:
    """One sampled trace.

    Attributes:
        text: full trace text, or None when the pool ships only answers.
        answer: the final answer as shipped; None means "no answer" when
            ``answer_given`` is true, and "not shipped, extract from text" otherwise.
        num_tokens: generated tokens, or None when the pool does not say.
        finished: false when the trace hit the generation limit.
        correct: a grader's verdict shipped with the data (never trusted over ours).
        confs: per-token confidences (DeepConf), or None.
        answer_given: whether the pool line carried an ``answer`` key.
        extra: unknown fields, preserved on rewrite.
    """

    text: str | None = None
    answer: str | None = None
    num_tokens: int | None = None
    finished: bool = True
    correct: bool | None = None
    confs: list[float] | None = None
    answer_given: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.text is not None:
            out["text"] = self.text
        if self.answer_given:
            out["answer"] = self.answer
        if self.num_tokens is not None:
            out["num_tokens"] = self.num_tokens
        if not self.finished:
            out["finished"] = False
        if self.correct is not None:
            out["correct"] = self.correct
        if self.confs is not None:
            out["confs"] = self.confs
        out.update(self.extra)
        return out


@dataclass
class Question:
    """One question of a pool with its traces (in sampling order)."""

    id: str
    traces: list[Trace]
    question: str | None = None
    gold: str | None = None
    answer_type: AnswerType = "math"
    meta: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.question is not None:
            out["question"] = self.question
        if self.gold is not None:
            out["gold"] = self.gold
        out["answer_type"] = self.answer_type
        if self.meta:
            out["meta"] = self.meta
        out["traces"] = [t.to_dict() for t in self.traces]
        out.update(self.extra)
        return out


def _fail(where: str, reason: str) -> PoolError:
    return PoolError(f"{where}: {reason}")


def _check_type(
    where: str, name: str, value: Any, types: tuple[type, ...], allow_none: bool
) -> None:
    if value is None and allow_none:
        return
    # bool is an int subclass; never accept it where a number is expected
    if isinstance(value, bool) and bool not in types:
        raise _fail(
            where, f"field '{name}' must be {'/'.join(t.__name__ for t in types)}, got bool"
        )
    if not isinstance(value, types):
        raise _fail(
            where,
            f"field '{name}' must be {'/'.join(t.__name__ for t in types)}, got {type(value).__name__}",
        )


# our choice: no model generates more tokens in one trace (today's longest contexts are ~10^7)
MAX_TOKENS = 100_000_000


def parse_trace(obj: Any, where: str) -> Trace:
    """Build a Trace from one decoded JSON object, raising PoolError on bad types."""
    if not isinstance(obj, dict):
        raise _fail(where, f"trace must be an object, got {type(obj).__name__}")
    has_text = obj.get("text") is not None
    has_answer_key = "answer" in obj
    if not has_text and not has_answer_key:
        raise _fail(where, "trace has neither 'text' nor 'answer'")
    _check_type(where, "text", obj.get("text"), (str,), True)
    answer = obj.get("answer")
    if isinstance(answer, int | float) and not isinstance(answer, bool):
        answer = str(answer)  # integer answers shipped as JSON numbers
    _check_type(where, "answer", answer, (str,), True)
    _check_type(where, "num_tokens", obj.get("num_tokens"), (int,), True)
    _check_type(where, "finished", obj.get("finished", True), (bool,), False)
    _check_type(where, "correct", obj.get("correct"), (bool,), True)
    n = obj.get("num_tokens")
    if n is not None and not 0 <= n <= MAX_TOKENS:
        raise _fail(where, f"field 'num_tokens' must be in [0, {MAX_TOKENS:,}], got {n}")
    if n == 0 and obj.get("text"):
        raise _fail(where, "field 'num_tokens' is 0 for a non-empty text")
    confs = obj.get("confs")
    _check_type(where, "confs", confs, (list,), True)
    if confs is not None and not all(
        isinstance(c, int | float) and not isinstance(c, bool) for c in confs
    ):
        raise _fail(where, "field 'confs' must be a list of numbers")
    if confs is not None and not all(math.isfinite(c) and c >= 0 for c in confs):
        raise _fail(
            where, "field 'confs' must hold finite confidences >= 0 (a NaN or a negative one found)"
        )
    if (
        confs is not None and n is not None and abs(len(confs) - n) > 1
    ):  # the stop token may lack one
        raise _fail(where, f"field 'confs' has {len(confs)} values for {n} tokens (one per token)")
    return Trace(
        text=obj.get("text"),
        answer=answer,
        num_tokens=obj.get("num_tokens"),
        finished=obj.get("finished", True),
        correct=obj.get("correct"),
        confs=[float(c) for c in confs] if confs is not None else None,
        answer_given=has_answer_key,
        extra={k: v for k, v in obj.items() if k not in _TRACE_KEYS},
    )


def parse_question(obj: Any, where: str) -> Question:
    """Build a Question from one decoded JSON line, raising PoolError on bad input."""
    if not isinstance(obj, dict):
        raise _fail(where, f"line must be a JSON object, got {type(obj).__name__}")
    if "id" not in obj:
        raise _fail(where, "missing required field 'id'")
    qid = obj["id"]
    if isinstance(qid, int) and not isinstance(qid, bool):
        qid = str(qid)
    _check_type(where, "id", qid, (str,), False)
    if "traces" not in obj:
        raise _fail(where, "missing required field 'traces'")
    traces = obj["traces"]
    if not isinstance(traces, list) or not traces:
        raise _fail(where, "field 'traces' must be a non-empty list")
    _check_type(where, "question", obj.get("question"), (str,), True)
    gold = obj.get("gold")
    if isinstance(gold, int | float) and not isinstance(gold, bool):
        gold = str(gold)
    _check_type(where, "gold", gold, (str,), True)
    answer_type = obj.get("answer_type", "math")
    if answer_type not in ANSWER_TYPES:
        raise _fail(
            where,
            f"field 'answer_type' must be one of {', '.join(ANSWER_TYPES)}, got {answer_type!r}",
        )
    meta = obj.get("meta") or {}
    _check_type(where, "meta", meta, (dict,), False)
    pe = obj.get("probe_every")
    if pe is not None and (
        not isinstance(pe, int) or isinstance(pe, bool) or not 1 <= pe <= MAX_TOKENS
    ):
        raise _fail(
            where, f"field 'probe_every' must be an integer in [1, {MAX_TOKENS:,}], got {pe!r}"
        )
    parsed = [parse_trace(t, f"{where}: trace {i}") for i, t in enumerate(traces)]
    for i, t in enumerate(parsed):
        probes = t.extra.get("probes")
        if probes is None:
            continue
        if pe is None:
            raise _fail(f"{where}: trace {i}", "field 'probes' needs 'probe_every' on the question")
        if not isinstance(probes, list) or not all(a is None or isinstance(a, str) for a in probes):
            raise _fail(
                f"{where}: trace {i}", "field 'probes' must be a list of answers (strings or null)"
            )
        if t.num_tokens is not None and len(probes) > math.ceil(t.num_tokens / pe):
            raise _fail(f"{where}: trace {i}", f"{len(probes)} probes, but {t.num_tokens} tokens at "
                        f"probe_every={pe} allow at most {math.ceil(t.num_tokens / pe)}")  # fmt: skip
    return Question(
        id=qid,
        traces=parsed,
        question=obj.get("question"),
        gold=gold,
        answer_type=answer_type,
        meta=meta,
        extra={k: v for k, v in obj.items() if k not in _QUESTION_KEYS},
    )


def _open_binary(path: Path) -> io.BufferedIOBase:
    if not path.exists():
        raise PoolError(f"{path}: no such file")
    if path.is_dir():
        raise PoolError(f"{path}: is a directory, expected a .jsonl or .jsonl.gz file")
    if path.suffix == ".gz":
        return gzip.open(path, "rb")  # type: ignore[return-value]
    return open(path, "rb")


@dataclass
class ReadReport:
    """What a tolerant read skipped: ``errors`` holds one message per skipped line."""

    questions: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def skipped(self) -> int:
        return len(self.errors)


def iter_pool(
    path: str | os.PathLike,
    skip_invalid: bool = False,
    report: ReadReport | None = None,
) -> Iterator[Question]:
    """Stream the questions of a pool file, one line at a time.

    Args:
        path: a ``.jsonl`` or ``.jsonl.gz`` pool.
        skip_invalid: skip malformed lines instead of raising; each skipped line is
            recorded in ``report`` (never dropped silently).
        report: filled with line, question and error counts.

    Yields:
        Question objects in file order.

    Raises:
        PoolError: ``FILE:LINE: reason`` for the first malformed line (unless
            skip_invalid), a missing file, duplicate ids, or a pool with no questions.

    Example:
        >>> from deepprune.synth import DEMO_POOL
        >>> sum(len(q.traces) for q in iter_pool(DEMO_POOL))
        384
    """
    path = Path(path)
    report = report if report is not None else ReadReport()
    seen: set[str] = set()
    with _open_binary(path) as fh:
        try:
            for lineno, raw in enumerate(fh, start=1):
                where = f"{path}:{lineno}"
                try:
                    try:
                        line = raw.decode("utf-8")
                    except UnicodeDecodeError as e:
                        raise _fail(
                            where, f"not valid UTF-8 ({e.reason} at byte {e.start})"
                        ) from None
                    if not line.strip():
                        continue
                    try:
                        obj = json.loads(line, parse_constant=no_constant)
                    except json.JSONDecodeError as e:
                        raise _fail(where, f"invalid JSON ({e.msg}, column {e.colno})") from None
                    q = parse_question(obj, where)
                    if q.id in seen:
                        raise _fail(where, f"duplicate question id {q.id!r}")
                    seen.add(q.id)
                except PoolError as e:
                    if not skip_invalid:
                        raise
                    report.errors.append(str(e))
                    continue
                report.questions += 1
                yield q
        except (OSError, EOFError, gzip.BadGzipFile) as e:
            raise PoolError(f"{path}: cannot read ({e})") from None
    if report.questions == 0:
        reason = "no valid questions" if report.errors else "empty pool (no questions)"
        raise PoolError(f"{path}: {reason}")


def read_pool(
    path: str | os.PathLike, skip_invalid: bool = False, report: ReadReport | None = None
) -> list[Question]:
    """Read a whole pool into memory; see :func:`iter_pool`."""
    return list(iter_pool(path, skip_invalid=skip_invalid, report=report))


def check_pools(paths: str | os.PathLike | Iterable[str | os.PathLike]) -> list[str]:
    """Read every line of every pool before any work: a bad second pool fails before the
    first one's run, not after it. Returns the paths."""
    from deepprune.errors import MissingInputError

    paths = [str(paths)] if isinstance(paths, str | os.PathLike) else [str(p) for p in paths]
    for p in paths:
        if Path(p).is_dir():
            raise MissingInputError(f"{p}: is a directory, not a pool file")
        if not Path(p).is_file():
            raise MissingInputError(f"{p}: no such pool file")
        for _ in iter_pool(p):
            pass
    return paths


def write_pool(path: str | os.PathLike, questions: Iterable[Question]) -> int:
    """Write questions atomically (temp file + rename), gzip when the name ends in .gz.

    Returns:
        The number of questions written. A crash mid-write leaves no partial file.
    """
    path = Path(path)
    refuse_special(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    n = 0
    try:
        with os.fdopen(fd, "wb") as raw:
            fh = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if path.suffix == ".gz" else raw
            for q in questions:
                try:
                    fh.write((json.dumps(q.to_dict(), ensure_ascii=False) + "\n").encode("utf-8"))
                except UnicodeEncodeError as e:  # a lone surrogate (\ud800) is no UTF-8 text
                    raise ConfigError(
                        f"question {q.id!r}: text that is not valid Unicode ({e.reason})"
                    ) from None
                n += 1
            if fh is not raw:
                fh.close()
        os.chmod(tmp, 0o666 & ~umask())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return n

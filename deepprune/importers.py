"""``deepprune pools import``: the dumps users already have, converted into the trace-pool format.

    deepprune pools import batch_output.jsonl --format openai --out pool.jsonl --gold problems.jsonl
    deepprune pools import samples_gsm8k.jsonl --format lm-eval --out pool.jsonl
    deepprune pools import my.jsonl --format jsonl --map id=qid,question=problem,gold=answer,traces=samples --out pool.jsonl
    deepprune pools import ./saved_dataset --format hf-disk --map traces=responses --out pool.jsonl

Formats (one question per input row):

- ``openai``: one completions / chat response per line with ``n`` choices (``choices[].text`` or
  ``choices[].message.content``), bare or wrapped as the OpenAI Batch API writes it
  (``{"custom_id", "response": {"body": ...}}``) or as vLLM's offline outputs (``{"prompt",
  "outputs": [{"text"}]}``). The id is ``custom_id`` / ``id`` / the line number; a choice that
  stopped at ``length`` is unfinished; ``usage.completion_tokens`` becomes ``num_tokens`` where a
  response has one choice. Golds come from ``--gold`` (a problems file: id, gold, answer_type).
- ``lm-eval``: lm-evaluation-harness ``--log_samples`` files: ``doc_id``, ``target`` (the gold),
  ``resps`` (the generated texts; repeats flattened).
- ``jsonl`` / ``hf-disk``: any JSONL, or a Hugging Face ``datasets`` dataset saved with
  ``save_to_disk``, with ``--map`` naming the fields: ``id``, ``question``, ``gold``, ``traces``
  (a list of strings, or of objects whose ``text`` field ``--map text=...`` names) and
  optionally ``answer_type``.

DeepConf's saved traces are Python pickles: unpickling runs code, so they are not read here
(export them to JSONL and use ``--format jsonl``). Every answer is extracted with the project's
parser (``answer_given``: the pool records what it extracted).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from deepprune.answers import extract_answer
from deepprune.artifacts import read_jsonl
from deepprune.errors import ConfigError, MissingInputError
from deepprune.pools import ANSWER_TYPES, Question, Trace, write_pool

FORMATS = ("openai", "lm-eval", "jsonl", "hf-disk")
MAP_KEYS = ("id", "question", "gold", "traces", "text", "answer_type")


def parse_map(spec: str) -> dict[str, str]:
    """``id=qid,traces=samples`` -> {"id": "qid", "traces": "samples"} (unknown keys refused)."""
    out = {}
    for part in filter(None, (x.strip() for x in spec.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key not in MAP_KEYS or not value:
            raise ConfigError(
                f"--map {spec!r}: {part!r} is not KEY=FIELD with KEY one of {', '.join(MAP_KEYS)}"
            )
        out[key] = value
    return out


def _trace(
    text: str, answer_type: str, finished: bool = True, num_tokens: int | None = None
) -> Trace:
    return Trace(text=text, answer=extract_answer(text, answer_type), answer_given=True, finished=finished,
                 num_tokens=num_tokens)  # fmt: skip


def _openai_rows(path, answer_type: str):
    for no, row in read_jsonl(path, "OpenAI-format file"):
        where = f"{path}:{no}"
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: a response must be a JSON object")
        body = (
            (row.get("response") or {}).get("body")
            if isinstance(row.get("response"), dict)
            else None
        ) or row
        qid = str(row.get("custom_id") or body.get("id") or no)
        if "outputs" in body:  # vLLM offline: RequestOutput as JSON
            outs = body["outputs"]
            texts = [
                (o.get("text"), o.get("finish_reason") != "length")
                for o in outs
                if isinstance(o, dict)
            ]
        else:
            choices = body.get("choices")
            if not isinstance(choices, list) or not choices:
                raise ConfigError(f"{where}: no 'choices' (nor vLLM 'outputs') to read traces from")
            texts = []
            for c in choices:
                t = c.get("text") if isinstance(c, dict) else None
                if t is None and isinstance(c, dict) and isinstance(c.get("message"), dict):
                    t = c["message"].get("content")
                texts.append(
                    (t, c.get("finish_reason") != "length" if isinstance(c, dict) else True)
                )
        if not texts or any(not isinstance(t, str) for t, _ in texts):
            raise ConfigError(
                f"{where}: every choice needs a text (choices[].text or choices[].message.content)"
            )
        usage = body.get("usage") if isinstance(body.get("usage"), dict) else {}
        n_tok = usage.get("completion_tokens") if len(texts) == 1 else None
        traces = [_trace(t, answer_type, fin, n_tok) for t, fin in texts]
        yield Question(qid, traces, question=body.get("prompt") if isinstance(body.get("prompt"), str) else None,
                       answer_type=answer_type)  # fmt: skip


def _lm_eval_rows(path, answer_type: str):
    for no, row in read_jsonl(path, "lm-eval samples file"):
        where = f"{path}:{no}"
        if not isinstance(row, dict) or "resps" not in row:
            raise ConfigError(f"{where}: not an lm-eval --log_samples row (no 'resps')")
        flat = []
        for r in row["resps"]:
            flat += r if isinstance(r, list) else [r]
        if not flat or not all(isinstance(t, str) for t in flat):
            raise ConfigError(f"{where}: 'resps' must hold generated texts (a generate_until task)")
        gold = row.get("target")
        qid = str(row.get("doc_id", no))
        yield Question(qid, [_trace(t, answer_type) for t in flat], gold=None if gold is None else str(gold),
                       answer_type=answer_type)  # fmt: skip


def _mapped_rows(rows, where_of, mapping: dict, answer_type: str):
    if "traces" not in mapping:
        raise ConfigError("--map must name the traces field (traces=FIELD)")
    for n, row in rows:
        where = where_of(n)
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: a row must be an object")
        raw = row.get(mapping["traces"])
        if not isinstance(raw, list) or not raw:
            raise ConfigError(
                f"{where}: field {mapping['traces']!r} must be a non-empty list of traces"
            )
        kind = row.get(mapping.get("answer_type", "answer_type"), answer_type)
        if kind not in ANSWER_TYPES:
            raise ConfigError(
                f"{where}: answer_type {kind!r} is not one of {', '.join(ANSWER_TYPES)}"
            )
        texts = []
        for t in raw:
            t = t.get(mapping.get("text", "text")) if isinstance(t, dict) else t
            if not isinstance(t, str):
                raise ConfigError(f"{where}: a trace must be a string or an object with field "
                                  f"{mapping.get('text', 'text')!r}")  # fmt: skip
            texts.append(t)
        gold = row.get(mapping.get("gold", "gold"))
        q = row.get(mapping.get("question", "question"))
        yield Question(str(row.get(mapping.get("id", "id"), n)), [_trace(t, kind) for t in texts],
                       question=q if isinstance(q, str) else None, gold=None if gold is None else str(gold),
                       answer_type=kind)  # fmt: skip


def import_pool(src: str | os.PathLike, fmt: str, mapping: dict | None = None, answer_type: str = "math",
                gold: str | os.PathLike | None = None, limit: int = 0) -> list[Question]:  # fmt: skip
    """The questions of ``src`` in format ``fmt`` (see the module docstring); at most ``limit`` (0: all)."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if answer_type not in ANSWER_TYPES:
        raise ConfigError(f"--answer-type {answer_type!r} is not one of {', '.join(ANSWER_TYPES)}")
    mapping = mapping or {}
    if fmt == "openai":
        rows = _openai_rows(src, answer_type)
    elif fmt == "lm-eval":
        rows = _lm_eval_rows(src, answer_type)
    elif fmt == "jsonl":
        rows = _mapped_rows(
            read_jsonl(src, "JSONL file"), lambda n: f"{src}:{n}", mapping, answer_type
        )
    else:
        if not Path(src).is_dir():
            raise MissingInputError(f"{src}: no dataset saved with save_to_disk here")
        from datasets import load_from_disk

        try:
            ds = load_from_disk(str(src))
        except (FileNotFoundError, ValueError) as e:
            raise MissingInputError(f"{src}: not a dataset saved with save_to_disk ({e})") from None
        if hasattr(ds, "keys"):  # a DatasetDict: its first split
            ds = ds[next(iter(ds.keys()))]
        rows = _mapped_rows(enumerate(ds, 1), lambda n: f"{src}: row {n}", mapping, answer_type)
    out, seen = [], set()
    for q in rows:
        if q.id in seen:
            raise ConfigError(f"{src}: question id {q.id!r} appears twice")
        seen.add(q.id)
        out.append(q)
        if limit and len(out) >= limit:
            break
    if gold is not None:
        from deepprune.problems import load_problems

        golds = {p.id: p for p in load_problems(gold)}
        for q in out:
            p = golds.get(q.id)
            if p is not None:
                q.gold, q.answer_type, q.question = p.gold, p.answer_type, q.question or p.question
                for t in q.traces:
                    t.answer = extract_answer(t.text, p.answer_type)
    return out


@dataclass
class ImportJob:
    """``deepprune pools import``: convert OpenAI/vLLM outputs, lm-eval samples or any JSONL / HF dataset into a pool."""

    src: list[str] = field(
        default_factory=list, metadata={"nargs": 1}
    )  # the file (or dataset directory) to import
    format: str = "openai"  # openai | lm-eval | jsonl | hf-disk
    out: str = field(default="", metadata={"required": True})  # the pool to write
    # field names for jsonl / hf-disk: id=,question=,gold=,traces=,text=,answer_type= (KEY=FIELD, comma-separated)
    map: str = ""
    answer_type: str = "math"  # math | choice | text | exact, where a row does not say
    gold: str | None = (
        None  # a problems file (id, gold, answer_type) whose golds the questions get, by id
    )
    limit: int = 0  # import at most this many questions (0: all)

    def __post_init__(self):
        if self.limit < 0:
            raise ConfigError(f"--limit must be >= 0, got {self.limit}")

    def run(self) -> list[dict]:
        from deepprune.artifacts import check_outputs

        check_outputs(self)
        qs = import_pool(
            self.src[0], self.format, parse_map(self.map), self.answer_type, self.gold, self.limit
        )
        write_pool(self.out, qs)
        graded = sum(q.gold is not None for q in qs)
        return [
            {
                "out": self.out,
                "questions": len(qs),
                "traces": sum(len(q.traces) for q in qs),
                "graded": graded,
            }
        ]

    @staticmethod
    def summary(r: dict) -> str:
        return f"wrote {r['out']}: {r['questions']} questions, {r['traces']} traces, {r['graded']} with a gold answer"


__all__ = ["FORMATS", "ImportJob", "import_pool", "parse_map"]

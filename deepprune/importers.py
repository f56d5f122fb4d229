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


def _count(v, where: str) -> int | None:
    """A token count as found, checked: a non-negative integer up to 10^8 (our bound), or None."""
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10**8:
        raise ConfigError(
            f"{where}: a token count must be an integer in [0, 10^8], got {str(v)[:40]!r}"
        )
    return v


def _gold(v, where: str) -> str | None:
    """A gold answer as found, checked: a string or a number (written as text), or None."""
    if v is None or isinstance(v, str):
        return v
    if isinstance(v, bool) or not isinstance(v, int | float):
        raise ConfigError(
            f"{where}: a gold answer must be a string or a number, got {type(v).__name__}"
        )
    return str(v)


def _openai_rows(path, answer_type: str, report: dict):
    for no, row in read_jsonl(path, "OpenAI-format file"):
        where = f"{path}:{no}"
        if not isinstance(row, dict):
            raise ConfigError(f"{where}: a response must be a JSON object")
        resp = row.get("response")
        if row.get("error") or (
            isinstance(resp, dict) and resp.get("status_code") not in (None, 200)
        ):
            report["failed"] = (
                report.get("failed", 0) + 1
            )  # a failed Batch request: skipped, counted, said
            continue
        body = (resp.get("body") if isinstance(resp, dict) else None) or row
        if not isinstance(body, dict):
            raise ConfigError(
                f"{where}: 'response.body' must be a JSON object (a completions response)"
            )
        qid = str(row.get("custom_id") or body.get("id") or no)
        if "outputs" in body:  # vLLM offline: RequestOutput as JSON
            outs = body["outputs"]
            if not isinstance(outs, list):
                raise ConfigError(f"{where}: 'outputs' must be a list of generations")
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
        n_tok = (
            _count(usage.get("completion_tokens"), f"{where}: usage.completion_tokens")
            if len(texts) == 1
            else None
        )
        traces = [_trace(t, answer_type, fin, n_tok) for t, fin in texts]
        yield Question(qid, traces, question=body.get("prompt") if isinstance(body.get("prompt"), str) else None,
                       answer_type=answer_type)  # fmt: skip


def _lm_eval_rows(path, answer_type: str, want_filter: str | None, report: dict):
    for no, row in read_jsonl(path, "lm-eval samples file"):
        where = f"{path}:{no}"
        if not isinstance(row, dict) or "resps" not in row:
            raise ConfigError(f"{where}: not an lm-eval --log_samples row (no 'resps')")
        filt = row.get("filter")  # a task with several filters logs each document once per filter
        report.setdefault("filters", [])
        if filt is not None and filt not in report["filters"]:
            report["filters"].append(filt)
        if filt is not None and filt != (want_filter or report["filters"][0]):
            continue
        if not isinstance(row["resps"], list):
            raise ConfigError(
                f"{where}: 'resps' must be a list of generated texts, got {type(row['resps']).__name__}"
            )
        flat = []
        for r in row["resps"]:
            flat += r if isinstance(r, list) else [r]
        if not flat or not all(isinstance(t, str) for t in flat):
            raise ConfigError(f"{where}: 'resps' must hold generated texts (a generate_until task)")
        gold = _gold(row.get("target"), f"{where}: target")
        qid = str(row.get("doc_id", no))
        yield Question(
            qid, [_trace(t, answer_type) for t in flat], gold=gold, answer_type=answer_type
        )


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
        gold = _gold(
            row.get(mapping.get("gold", "gold")), f"{where}: {mapping.get('gold', 'gold')}"
        )
        q = row.get(mapping.get("question", "question"))
        yield Question(str(row.get(mapping.get("id", "id"), n)), [_trace(t, kind) for t in texts],
                       question=q if isinstance(q, str) else None, gold=gold, answer_type=kind)  # fmt: skip


def import_pool(src: str | os.PathLike, fmt: str, mapping: dict | None = None, answer_type: str = "math",
                gold: str | os.PathLike | None = None, limit: int = 0, group_by: str | None = None,
                filter: str | None = None, report: dict | None = None) -> list[Question]:  # fmt: skip
    """The questions of ``src`` in format ``fmt`` (see the module docstring); at most ``limit`` (0: all).

    ``group_by``: a regular expression over each row's id whose first group is its question's id
    (rows of one question merged: one request per sample, as a Batch file with n = 1 writes).
    ``filter``: the lm-eval filter to read (default: the first the file logs). ``report`` gets
    what was skipped (failed Batch lines) and the filters seen."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if answer_type not in ANSWER_TYPES:
        raise ConfigError(f"--answer-type {answer_type!r} is not one of {', '.join(ANSWER_TYPES)}")
    mapping, report = mapping or {}, report if report is not None else {}
    if fmt == "openai":
        rows = _openai_rows(src, answer_type, report)
    elif fmt == "lm-eval":
        rows = _lm_eval_rows(src, answer_type, filter, report)
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
    out = _grouped(rows, src, group_by)
    if filter is not None and filter not in report.get("filters", [filter]):
        raise ConfigError(
            f"--filter {filter!r}: the file logs filters {', '.join(report['filters'])}"
        )
    if not out:
        raise ConfigError(
            f"{src}: no question to import (every row was skipped or the file is empty)"
        )
    if len(out) > 1 and group_by is None and all(len(q.traces) == 1 for q in out):
        out = _one_sample_rows(out, src)
    out = out[:limit] if limit else out
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


def _one_sample_rows(out: list[Question], src) -> list[Question]:
    """Rows of one sample each (one request per sample): merged by prompt text where every row has
    one; refused where ids look like samples of shared questions (``gsm-000-s3``) and say no more."""
    import re

    if all(q.question for q in out):
        merged: dict[str, Question] = {}
        for q in out:
            if q.question in merged:
                merged[q.question].traces += q.traces
            else:
                merged[q.question] = q
        return list(merged.values())
    stems = [re.sub(r"[-_:.]?s?\d+$", "", q.id) for q in out]
    if len(set(stems)) < len(stems):
        raise ConfigError(f"{src}: {len(out)} rows of one sample each, whose ids look like samples of shared "
                          "questions, would import as questions of one trace; say how they group: --group-by "
                          r"REGEX over the row ids (its first group is the question id, e.g. '^(.*)-s\d+$' "
                          "for gsm-000-s3)")  # fmt: skip
    return out


def _grouped(rows, src, group_by: str | None) -> list[Question]:
    """Questions in input order; with ``group_by``, rows whose ids share a question id are merged."""
    import re

    try:
        pattern = re.compile(group_by) if group_by else None
    except re.error as e:
        raise ConfigError(f"--group-by {group_by!r}: not a regular expression ({e})") from None
    out: dict[str, Question] = {}
    for q in rows:
        qid = q.id
        if pattern is not None:
            m = pattern.search(q.id)
            if m is None:
                raise ConfigError(f"{src}: row id {q.id!r} does not match --group-by {group_by!r}")
            qid = m.group(1) if m.groups() else m.group(0)
        if qid in out and pattern is None:
            raise ConfigError(f"{src}: question id {q.id!r} appears twice")
        if qid in out:
            out[qid].traces += q.traces
        else:
            q.id = qid
            out[qid] = q
    return list(out.values())


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
    # a regular expression over row ids whose first group is the question id: rows of one question
    # merged (one request per sample, e.g. '^(.*)-s\d+$' for Batch custom_ids gsm-000-s3)
    group_by: str | None = None
    filter: str | None = None  # lm-eval: the filter to read (default: the first the file logs)

    def __post_init__(self):
        if self.limit < 0:
            raise ConfigError(f"--limit must be >= 0, got {self.limit}")
        if not self.out.strip():
            raise ConfigError("--out: an empty path; name the pool file to write")
        if Path(self.out).is_dir():
            raise ConfigError(
                f"--out {self.out}: is a directory; --out takes the pool file to write"
            )

    def run(self) -> list[dict]:
        from deepprune.artifacts import check_outputs

        check_outputs(self)
        import sys

        report: dict = {}
        qs = import_pool(self.src[0], self.format, parse_map(self.map), self.answer_type, self.gold, self.limit,
                         self.group_by, self.filter, report)  # fmt: skip
        if report.get("failed"):
            print(
                f"warning: {report['failed']} failed request line(s) of {self.src[0]} skipped",
                file=sys.stderr,
            )
        if len(report.get("filters", [])) > 1:
            used = self.filter or report["filters"][0]
            print(f"note: read filter {used!r} of {', '.join(report['filters'])} (--filter NAME for another)",
                  file=sys.stderr)  # fmt: skip
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

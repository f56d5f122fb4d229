import gzip
import json

import pytest

from deepprune.engine.problems import load_problems
from deepprune.errors import DeepPruneError
from deepprune.pools import PoolError, ReadReport, read_pool, write_pool


def test_read_types_and_defaults(tiny_pool):
    qs = read_pool(tiny_pool)
    assert [q.id for q in qs] == ["q1", "q2"]
    assert (
        qs[0].traces[3].finished is False
        and qs[0].traces[3].answer_given
        and qs[0].traces[3].answer is None
    )
    assert qs[0].traces[1].answer_given is False
    assert qs[1].answer_type == "choice" and qs[1].traces[2].text is None


def test_roundtrip_preserves_unknown_fields_and_gzip(tiny_pool, tmp_path):
    qs = read_pool(tiny_pool)
    out = tmp_path / "out.jsonl.gz"
    assert write_pool(out, qs) == 2
    with gzip.open(out, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    assert rows[1]["custom"] == {"keep": 1}
    again = read_pool(out)
    assert [t.to_dict() for t in again[0].traces] == [t.to_dict() for t in qs[0].traces]


@pytest.mark.parametrize(
    "content,reason",
    [
        (b'{"id": "a", "traces": [{"text": "x"}]}\n{not json\n', "invalid JSON"),
        (b'{"id": "a"}\n', "missing required field 'traces'"),
        (b'{"id": "a", "traces": [{"num_tokens": 3}]}\n', "neither 'text' nor 'answer'"),
        (b'{"id": "a", "traces": [{"text": 5}]}\n', "field 'text' must be str"),
        (
            b'{"id": "a", "traces": [{"text": "x", "num_tokens": "9"}]}\n',
            "field 'num_tokens' must be int",
        ),
        (b'{"id": "a", "traces": [{"text": "\xff\xfe"}]}\n', "not valid UTF-8"),
        (b"", "empty pool"),
    ],
)
def test_bad_input_names_file_line_reason(tmp_path, content, reason):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    with pytest.raises(PoolError) as e:
        read_pool(p)
    assert str(p) in str(e.value) and reason in str(e.value)
    if content:
        assert f"{p}:" in str(e.value)  # a line number follows the file name


def test_skip_invalid_counts_every_skipped_line(tmp_path):
    p = tmp_path / "mixed.jsonl"
    p.write_text(
        '{"id": "a", "traces": [{"text": "x"}]}\nnope\n{"id": "b"}\n{"id": "c", "traces": [{"answer": "1"}]}\n'
    )
    report = ReadReport()
    qs = read_pool(p, skip_invalid=True, report=report)
    assert [q.id for q in qs] == ["a", "c"]
    assert report.skipped == 2 and ":2:" in report.errors[0] and ":3:" in report.errors[1]


def test_duplicate_ids_and_missing_file(tmp_path):
    p = tmp_path / "dup.jsonl"
    p.write_text('{"id": "a", "traces": [{"text": "x"}]}\n{"id": "a", "traces": [{"text": "y"}]}\n')
    with pytest.raises(PoolError, match="duplicate"):
        read_pool(p)
    with pytest.raises(PoolError, match="no such file"):
        read_pool(tmp_path / "missing.jsonl")


@pytest.mark.parametrize(
    "change,reason",
    [
        ({"num_tokens": -3}, "'num_tokens' must be in"),
        ({"num_tokens": 10**12}, "'num_tokens' must be in"),
        ({"num_tokens": 0}, "0 for a non-empty text"),
        ({"num_tokens": 3, "confs": [0.5, -1.0, 0.2]}, "finite confidences"),
        ({"num_tokens": 3, "confs": [0.5, 0.1]}, None),  # one short: the stop token may lack one
        ({"num_tokens": 5, "confs": [0.5, 0.1]}, "2 values for 5 tokens"),
        ({"num_tokens": 10, "probes": ["1", "2", "3"]}, "allow at most 2"),
        ({"num_tokens": 10, "probes": ["1", "2"]}, None),
    ],
)
def test_validation_checks_the_numbers(tmp_path, change, reason):
    q = {
        "id": "q",
        "probe_every": 5,
        "traces": [{"text": "so the answer is 4", "answer": "4", **change}],
    }
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(q) + "\n")
    if reason is None:
        read_pool(path)
        return
    with pytest.raises(PoolError, match=reason) as e:
        read_pool(path)
    assert str(e.value).startswith(f"{path}:1")


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_literals_are_errors_not_strings(tmp_path, literal):
    """json reads NaN as a float and a gold of NaN then grades every trace wrong: refuse it."""
    path = tmp_path / "p.jsonl"
    path.write_text(
        '{"id": "q", "gold": GOLD, "traces": [{"answer": "1"}]}\n'.replace("GOLD", literal)
    )
    with pytest.raises(PoolError, match=f"{path}:1: .*{literal} is not valid JSON"):
        read_pool(path)
    path.write_text('{"id": "q", "probe_every": 10000000000, "traces": [{"answer": "1"}]}\n')
    with pytest.raises(PoolError, match="probe_every"):
        read_pool(path)
    probs = tmp_path / "probs.jsonl"
    probs.write_text('{"id": "a", "question": "?", "gold": GOLD}\n'.replace("GOLD", literal))
    with pytest.raises(DeepPruneError, match=f"{probs}:1: .*{literal}"):
        load_problems(probs)

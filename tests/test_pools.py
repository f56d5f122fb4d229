import gzip
import json

import pytest

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

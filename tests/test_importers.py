"""`deepprune pools import`: users' dumps become pools that prune reads."""

import json
import re

import pytest

from deepprune.cli import main
from deepprune.errors import ConfigError
from deepprune.importers import import_pool, parse_map
from deepprune.pools import read_pool

BOXED = "so the answer is \\boxed{{{}}}"


def test_openai_batch_output_with_golds_from_a_problems_file(tmp_path, capsys):
    rows = []
    for q, answers in (("q1", ["4", "4", "5"]), ("q2", ["7", "7", "7"])):
        choices = [{"index": i, "text": BOXED.format(a), "finish_reason": "stop" if i else "length"}
                   for i, a in enumerate(answers)]  # fmt: skip
        rows.append({"id": f"batch_{q}", "custom_id": q, "response": {"status_code": 200, "body": {
            "id": "cmpl-1", "object": "text_completion", "choices": choices,
            "usage": {"prompt_tokens": 10, "completion_tokens": 30, "total_tokens": 40}}}})  # fmt: skip
    src = tmp_path / "batch_output.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    probs = tmp_path / "problems.jsonl"
    probs.write_text(
        '{"id": "q1", "question": "2+2?", "gold": "4"}\n{"id": "q2", "question": "3+4?", "gold": 7}\n'
    )
    out = tmp_path / "pool.jsonl"
    assert (
        main(
            [
                "pools",
                "import",
                str(src),
                "--format",
                "openai",
                "--gold",
                str(probs),
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "2 questions, 6 traces, 2 with a gold answer" in capsys.readouterr().out
    qs = read_pool(out)
    assert [q.id for q in qs] == ["q1", "q2"] and [q.gold for q in qs] == ["4", "7"]
    assert [t.answer for t in qs[0].traces] == ["4", "4", "5"] and qs[0].question == "2+2?"
    assert [t.finished for t in qs[0].traces] == [False, True, True]
    assert main(["prune", "--pool", str(out), "--repeats", "1", "--judge", "lexical:jaccard", "--trunc", "words:2",
                 "--out", str(tmp_path / "r")]) == 0  # fmt: skip


def test_vllm_offline_outputs_and_chat_choices(tmp_path):
    src = tmp_path / "v.jsonl"
    src.write_text(json.dumps({"prompt": "Q?", "outputs": [{"text": BOXED.format(1), "finish_reason": "stop"}]}) + "\n"
                   + json.dumps({"id": "c", "choices": [{"message": {"role": "assistant", "content": BOXED.format(2)},
                                                         "finish_reason": "stop"}],
                                 "usage": {"completion_tokens": 9}}) + "\n")  # fmt: skip
    qs = import_pool(src, "openai")
    assert [q.id for q in qs] == ["1", "c"] and qs[0].question == "Q?"
    assert (
        qs[1].traces[0].answer == "2" and qs[1].traces[0].num_tokens == 9
    )  # one choice: its usage


def test_lm_eval_log_samples(tmp_path):
    rows = [{"doc_id": 0, "doc": {"question": "1+1?"}, "target": "2", "arguments": [["1+1?", {}]],
             "resps": [[BOXED.format(2)], [BOXED.format(3)]], "filtered_resps": ["2"], "exact_match": 1.0}]  # fmt: skip
    src = tmp_path / "samples_task.jsonl"
    src.write_text(json.dumps(rows[0]) + "\n")
    (q,) = import_pool(src, "lm-eval")
    assert q.id == "0" and q.gold == "2" and [t.answer for t in q.traces] == ["2", "3"]


def test_mapped_jsonl_and_a_saved_hf_dataset(tmp_path):
    from datasets import Dataset

    rows = [
        {
            "qid": "a",
            "problem": "?",
            "answer": "9",
            "samples": [{"content": BOXED.format(9)}, {"content": "no"}],
        }
    ]
    src = tmp_path / "mine.jsonl"
    src.write_text(json.dumps(rows[0]) + "\n")
    m = parse_map("id=qid,question=problem,gold=answer,traces=samples,text=content")
    (q,) = import_pool(src, "jsonl", m)
    assert (q.id, q.gold, [t.answer for t in q.traces]) == ("a", "9", ["9", None])
    Dataset.from_list([{"qid": "b", "answer": "1", "responses": [BOXED.format(1), BOXED.format(1)]},
                       {"qid": "c", "answer": "2", "responses": [BOXED.format(3)]}]).save_to_disk(str(tmp_path / "ds"))  # fmt: skip
    qs = import_pool(
        tmp_path / "ds", "hf-disk", parse_map("id=qid,gold=answer,traces=responses"), limit=1
    )
    assert [q.id for q in qs] == ["b"] and len(qs[0].traces) == 2


def test_bad_dumps_are_one_line_errors(tmp_path, capsys):
    src = tmp_path / "x.jsonl"
    src.write_text('{"id": "a", "choices": []}\n')
    assert main(["pools", "import", str(src), "--out", str(tmp_path / "p.jsonl")]) == 2
    assert f"{src}:1: no 'choices'" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="is not KEY=FIELD"):
        parse_map("idx=qid")
    with pytest.raises(ConfigError, match="name the traces field"):
        import_pool(src, "jsonl", {})
    assert main(["pools", "import", str(tmp_path / "nodir"), "--format", "hf-disk", "--map", "traces=t",
                 "--out", str(tmp_path / "p.jsonl")]) == 2  # fmt: skip
    assert "no dataset saved with save_to_disk" in capsys.readouterr().err
    assert not (tmp_path / "p.jsonl").exists()


def test_limit_on_the_commands_that_read_pools_or_problems(tmp_path, capsys):
    from tests.conftest import DEMO_POOL

    for argv in (["prune", "--repeats", "1"], ["compare", "--repeats", "1", "--methods", "esc", "--bootstrap", "0"],
                 ["headroom", "--repeats", "2", "--n-boot", "10"]):  # fmt: skip
        assert (
            main(
                [*argv, "--pool", str(DEMO_POOL), "--limit", "3", "--json", "--out", str(tmp_path)]
            )
            == 0
        )
        res = json.loads(capsys.readouterr().out)
        assert (res[0] if isinstance(res, list) else res)["questions"] == 3, argv
    assert main(["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--judge", "lexical:jaccard",
                 "--trunc", "tokens:8", "--limit", "2", "--json", "--no-progress", "--out", str(tmp_path / "s")]) == 0  # fmt: skip
    assert {r["problems"] for r in json.loads(capsys.readouterr().out)} == {2}
    assert main(["prune", "--limit", "-1"]) == 2


def _lines(path, rows):
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def _batch(cid, text, tokens=5, status=200):
    body = {
        "id": cid,
        "choices": [{"text": text, "finish_reason": "stop"}],
        "usage": {"completion_tokens": tokens},
    }
    return {"custom_id": cid, "response": {"status_code": status, "body": body}, "error": None}


def test_one_request_per_sample_is_refused_without_grouping_and_merged_with_it(tmp_path, capsys):
    rows = [
        _batch(f"gsm-{q:03d}-s{s}", BOXED.format(q + s % 2)) for q in range(3) for s in range(4)
    ]
    src = _lines(tmp_path / "b.jsonl", rows)
    with pytest.raises(ConfigError, match="--group-by"):
        import_pool(src, "openai")
    qs = import_pool(src, "openai", group_by=r"^(.*)-s\d+$")
    assert [q.id for q in qs] == ["gsm-000", "gsm-001", "gsm-002"] and [
        len(q.traces) for q in qs
    ] == [4, 4, 4]
    # vLLM outputs carry the prompt: samples of one prompt are one question without any flag
    v = _lines(tmp_path / "v.jsonl", [{"prompt": f"Q{q}?", "outputs": [{"text": BOXED.format(s)}]}
                                      for q in range(2) for s in range(3)])  # fmt: skip
    assert [len(q.traces) for q in import_pool(v, "openai")] == [3, 3]


def test_a_failed_batch_line_is_skipped_counted_and_said(tmp_path, capsys):
    rows = [{"custom_id": "a", "response": {"status_code": 200, "body": {"choices": [
        {"text": BOXED.format(1)}, {"text": BOXED.format(1)}]}}},
        {"custom_id": "b", "response": {"status_code": 500, "body": {}}, "error": {"message": "boom"}}]  # fmt: skip
    src = _lines(tmp_path / "b.jsonl", rows)
    assert (
        main(
            ["pools", "import", str(src), "--format", "openai", "--out", str(tmp_path / "p.jsonl")]
        )
        == 0
    )
    assert "1 failed request line(s)" in capsys.readouterr().err
    assert [q.id for q in read_pool(tmp_path / "p.jsonl")] == ["a"]


def test_lm_eval_with_two_filters_reads_one(tmp_path, capsys):
    rows = [{"doc_id": d, "target": "2", "filter": f, "resps": [[BOXED.format(2)], [BOXED.format(3)]]}
            for d in range(2) for f in ("strict-match", "flexible-extract")]  # fmt: skip
    src = _lines(tmp_path / "s.jsonl", rows)
    assert len(import_pool(src, "lm-eval")) == 2
    assert len(import_pool(src, "lm-eval", filter="flexible-extract")) == 2
    with pytest.raises(ConfigError, match="--filter 'nope'"):
        import_pool(src, "lm-eval", filter="nope")


@pytest.mark.parametrize("row, says", [
    (_batch("a", BOXED.format(1), tokens=-7), "usage.completion_tokens"), (_batch("a", "x", tokens=12.5), "token count"),
    (_batch("a", "x", tokens="12"), "token count"), (_batch("a", "x", tokens=True), "token count"),
    (_batch("a", "x", tokens=10**30), "token count"), ('{"custom_id": "a", "response": {"body": "x"}}', "response.body"),
    ('{"outputs": null}', "'outputs' must be a list"), ("1" * 5001, "refuses"),
])  # fmt: skip
def test_bad_openai_rows_are_one_line(tmp_path, row, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        import_pool(_lines(tmp_path / "x.jsonl", [row]), "openai")


@pytest.mark.parametrize("row, says", [
    ({"doc_id": 0, "target": "1", "resps": "hello"}, "'resps' must be a list"),
    ({"doc_id": 0, "target": "1", "resps": None}, "'resps' must be a list"),
    ({"doc_id": 0, "target": [1], "resps": [["a"]]}, "gold answer must be a string or a number"),
    ({"doc_id": 0, "target": True, "resps": [["a"]]}, "gold answer must be a string or a number"),
    ({"doc_id": 0, "target": {"a": 1}, "resps": [["a"]]}, "gold answer must be a string or a number"),
])  # fmt: skip
def test_bad_lm_eval_rows_are_one_line(tmp_path, row, says):
    with pytest.raises(ConfigError, match=re.escape(says)):
        import_pool(_lines(tmp_path / "x.jsonl", [row]), "lm-eval")


def test_empty_inputs_bad_outs_and_a_lone_surrogate_are_one_line(tmp_path, capsys):
    failed = _lines(
        tmp_path / "f.jsonl", [{"custom_id": "b", "response": {"status_code": 500, "body": {}}}]
    )
    with pytest.raises(ConfigError, match="no question to import"):
        import_pool(failed, "openai")
    src = _lines(
        tmp_path / "s.jsonl", ['{"doc_id": 0, "target": "1", "resps": [["ok \\ud800"]]}']
    )  # a lone surrogate
    for out, says in ((str(tmp_path / "p.jsonl"), "not valid Unicode"), (str(tmp_path), "is a directory"),
                      ("", "an empty path")):  # fmt: skip
        rc = main(["pools", "import", str(src), "--format", "lm-eval", "--out", out])
        err = capsys.readouterr().err.strip()
        assert rc == 2 and says in err and "\n" not in err, err
    assert not (tmp_path / "p.jsonl").exists()

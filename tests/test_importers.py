"""`deepprune pools import`: users' dumps become pools that prune reads."""

import json

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

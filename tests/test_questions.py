import json

from deepprune.pairs import PairConfig, build_pairs
from deepprune.questions import labelled_questions, prepare_pool, question_key
from tests.conftest import DEMO_POOL


def test_pairs_are_built_from_the_answered_view_and_keep_pool_indices(tmp_path):
    pool = tmp_path / "p.jsonl"
    rows = [json.loads(line) for line in DEMO_POOL.read_text().splitlines()][:3]
    rows[0]["traces"][1]["text"] = ""  # no prefix to read
    rows[0]["traces"][2]["answer"], rows[0]["traces"][2]["text"] = None, "no final answer here"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    full = prepare_pool(pool, "words:8")
    assert full[0].n == 32 and not full[0].readable[1] and full[0].labels[2] == -1
    answered = labelled_questions([pool], "words:8")
    assert [q.n for q in answered] == [30, 32, 32] and [q.key for q in answered] == [
        question_key(pool, r["id"]) for r in rows
    ]
    assert answered[0].index.tolist() == [0] + list(range(3, 32))  # pool indices of the kept traces
    built = build_pairs([pool], PairConfig(trunc="words:8", test_fraction=0.0, oversample=1.0))
    first = [p for p in built["train"] if f"{p.source}/{p.qid}" == answered[0].key]
    assert (first[0].i, first[0].j) == (0, 3) and len(
        first
    ) == 30 * 29 // 2  # pool indices in the pair file
    assert all(
        p.prefix_a == full[0].prefixes[p.i] and p.prefix_b == full[0].prefixes[p.j] for p in first
    )


def test_drop_textless_leaves_traces_out_and_says_so(tmp_path, capsys):
    pool = tmp_path / "p.jsonl"
    row = json.loads(DEMO_POOL.read_text().splitlines()[0])
    row["traces"][0]["text"] = None
    row["traces"][0]["num_tokens"] = 40
    pool.write_text(json.dumps(row) + "\n")
    (q,) = prepare_pool(pool, "tokens:8")
    assert (
        q.n == 32 and q.text_missing == 1 and q.prefix_tokens[0] == 8
    )  # tokens:K is known from num_tokens
    (q,) = prepare_pool(pool, "words:8")
    assert not q.prefix_known  # words:K needs the text
    (q,) = prepare_pool(pool, "words:8", drop_textless=True)
    assert q.n == 31 and q.prefix_known and "dropped 1 traces" in capsys.readouterr().err

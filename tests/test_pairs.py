import json
import random

from hypothesis import given
from hypothesis import strategies as st

from deepprune.pairs import (
    Pair,
    PairConfig,
    build_pairs,
    oversample,
    read_pair_file,
    split_questions,
    write_pairs,
)
from tests.conftest import DEMO_POOL


def test_labels_and_exclusion(tiny_pool):
    built = build_pairs([tiny_pool], PairConfig(test_fraction=0, oversample=1, trunc="full"))
    q1 = [p for p in built["train"] if p.qid == "q1"]
    # traces 0,1,2 have answers (5,5,7); trace 3 has none and is excluded
    assert {(p.i, p.j): p.label for p in q1} == {(0, 1): 1, (0, 2): 0, (1, 2): 0}
    # q2: trace 2 has no text -> excluded from text pairs
    assert [(p.i, p.j, p.label) for p in built["train"] if p.qid == "q2"] == [(0, 1, 1)]
    assert built["manifest"]["skipped"]["traces_without_answer_or_text"] == 2


def test_split_by_question_never_overlaps():
    built = build_pairs([DEMO_POOL], PairConfig(max_pairs_per_question=50, seed=3))
    train_q = {p.qid for p in built["train"]}
    test_q = {p.qid for p in built["test"]}
    assert train_q and test_q and not train_q & test_q


@given(
    st.lists(st.text(min_size=1, max_size=5), min_size=2, max_size=40, unique=True),
    st.floats(0.05, 0.9),
    st.integers(0, 100),
)
def test_split_property(keys, frac, seed):
    train, test = split_questions(keys, frac, seed)
    assert not train & test and train | test == set(keys) and train and test


def test_oversample_doubles_minority_only():
    pairs = [Pair("s", str(i), 0, 1, "a", "b", int(i < 3)) for i in range(10)]
    out = oversample(pairs, 2.0, random.Random(0))
    assert sum(p.label for p in out) == 6 and sum(1 - p.label for p in out) == 7


def test_write_outputs_for_llamafactory(tmp_path):
    cfg = PairConfig(max_pairs_per_question=20, trunc="words:10", both_orders=True)
    manifest = write_pairs(tmp_path, build_pairs([DEMO_POOL], cfg), cfg)
    info = json.loads((tmp_path / "dataset_info.json").read_text())
    assert set(info) == {"deepprune_pairs_train", "deepprune_pairs_test"}
    train = json.loads((tmp_path / "train.json").read_text())
    assert {r["output"] for r in train} == {"yes", "no"} and "### Trace A" in train[0]["input"]
    assert len(train) == sum(manifest["train_labels"].values())
    rows = read_pair_file(tmp_path / "test.jsonl", need_labels=True)
    assert len(rows) == sum(manifest["test_labels"].values())
    assert manifest["config"]["trunc"] == "words:10"


def test_a_rebuild_replaces_the_whole_directory(tmp_path):
    from deepprune.cli import main

    out = tmp_path / "pairs"
    out.mkdir()
    (out / "manifest.json").write_text("{}")  # an old build of ours (its manifest marks it)
    (out / "train.jsonl").write_text("stale\n")
    (out / "extra-from-an-old-build.json").write_text("{}")
    assert (
        main(
            [
                "pairs",
                "build",
                str(DEMO_POOL),
                "--out",
                str(out),
                "--trunc",
                "words:10",
                "--max-pairs",
                "5",
            ]
        )
        == 0
    )
    assert not (out / "extra-from-an-old-build.json").exists()  # no file of the old build survives
    assert (out / "train.jsonl").read_text() != "stale\n" and (out / "manifest.json").exists()
    assert not list(tmp_path.glob(".pairs.*"))  # no temporary directory left behind

"""Pools without trace text (answers and token counts only): text judges refuse, costs stay exact."""

import json

from deepprune.cli import main
from deepprune.judges import get_judge
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions, run_method
from deepprune.replay.methods import DeepPrune
from tests.conftest import write_jsonl


def _pool(tmp_path):
    rows = [{"id": f"q{k}", "gold": "1", "traces": [{"answer": a, "num_tokens": n}
             for a, n in zip(["1", "1", "2", "1"], [300, 50, 400, 700])]} for k in range(3)]  # fmt: skip
    return write_jsonl(tmp_path / "answers_only.jsonl", rows)


def test_a_text_judge_refuses_a_pool_without_text(tmp_path, capsys):
    pool = _pool(tmp_path)
    rc = main(["prune", "--pool", str(pool), "--judge", "lexical:tfidf", "--trunc", "tokens:100"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and "12 of 12 traces have no text" in err and "'lexical:tfidf'" in err
    rc = main(["prune", "--pool", str(pool), "--judge", "oracle", "--trunc", "words:25"])
    assert rc == 2 and "no words:25 prefix" in capsys.readouterr().err


def test_compare_skips_text_methods_with_the_reason_and_names_its_token_counts(tmp_path, capsys):
    pool = _pool(tmp_path)
    assert main(["compare", "--pool", str(pool), "--trunc", "tokens:100", "--repeats", "2", "--json",
                 "--out", str(tmp_path / "c")]) == 0  # fmt: skip
    res = json.loads(capsys.readouterr().out)
    assert res["token_counter"] == "shipped num_tokens"
    skipped = res["skipped"]
    assert "no text" in skipped["deepprune"] and "no text" in skipped["polr"]


def test_the_oracle_on_token_prefixes_costs_min_k_and_the_trace(tmp_path):
    cfg = OnlineConfig(trunc="tokens:100", repeats=1, shuffle=False)
    qs = load_questions(_pool(tmp_path), cfg)
    assert list(qs[0].prefix_tokens) == [100, 50, 100, 100]
    attach_judge(qs, get_judge("oracle"))
    row = run_method(DeepPrune("oracle", cfg.cluster), qs, cfg)
    # one cluster of the three "1" traces is completed: all prefixes + the rest of traces 0, 1, 3
    assert row["tokens"] == 350 + (300 - 100) + 0 + (700 - 100)


def test_compare_on_a_pool_without_text_casts_no_nan_and_skips_the_judge(tmp_path, capsys):
    """The default words:25 prefix of a trace without text has no token count (NaN): the judge's
    cost is never cast from it (numpy's "invalid value encountered in cast"), its families are
    skipped, and a NaN count given to a judge's cost is refused."""
    import warnings

    import numpy as np
    import pytest

    from deepprune.errors import ConfigError

    pool = _pool(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        assert (
            main(
                [
                    "compare",
                    "--pool",
                    str(pool),
                    "--repeats",
                    "2",
                    "--json",
                    "--out",
                    str(tmp_path / "c"),
                ]
            )
            == 0
        )
    assert "needs trace text" in json.loads(capsys.readouterr().out)["skipped"]["deepprune"]
    with pytest.raises(ConfigError, match="NaN token count"):
        get_judge("lexical:tfidf").cost(["a", "b"], np.array([3.0, np.nan]))

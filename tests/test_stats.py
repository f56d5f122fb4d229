import pytest

from deepprune.stats import agreement_by_question, pool_stats


def test_agreement_by_question(tiny_pool):
    agree = agreement_by_question(tiny_pool)
    # q1 answers 5, 5, 7 (one unanswered): 1 of 3 pairs agree; q2 answers B, B, C: 1 of 3
    assert agree == {"q1": pytest.approx(1 / 3), "q2": pytest.approx(1 / 3)}
    assert pool_stats(tiny_pool)["pairwise_agreement"] == pytest.approx(2 / 6)


def test_stats_text_reports_skipped_lines(tmp_path, capsys):
    from deepprune.cli import main
    from tests.conftest import DEMO_POOL

    pool = tmp_path / "p.jsonl"
    pool.write_text("{bad\n" + DEMO_POOL.read_text().splitlines()[0] + "\n")
    assert main(["pools", "stats", str(pool), "--skip-invalid"]) == 0
    assert "1 invalid lines skipped" in capsys.readouterr().out

"""Calibrated judges: isotonic maps fitted on train questions; `calib=FILE` on any judge spec."""

import json

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.errors import ConfigError, MissingInputError
from deepprune.judgelab.calibrate import fit_isotonic, reliability
from deepprune.judges import JudgePair, get_judge
from tests.conftest import DEMO_POOL


def test_isotonic_fit_maps_scores_to_observed_rates():
    fit = fit_isotonic([0.1, 0.2, 0.8, 0.9], [0, 0, 1, 1])
    assert np.interp(0.15, fit["x"], fit["y"]) == 0.0 and np.interp(0.85, fit["x"], fit["y"]) == 1.0
    rel = reliability([0.05, 0.05, 0.95, 0.95], [0, 1, 1, 1], bins=2)
    assert [(r["pairs"], r["observed"]) for r in rel] == [(2, 0.5), (2, 1.0)]


def test_calibrate_cli_writes_a_file_every_spec_can_use(tmp_path, capsys):
    out = tmp_path / "jaccard.json"
    assert main(["judge", "calibrate", "--pool", str(DEMO_POOL), "--judge", "lexical:jaccard", "--trunc", "words:10",
                 "--out", str(out)]) == 0  # fmt: skip
    cal = json.loads(out.read_text())
    assert (
        cal["judge"] == "lexical:jaccard"
        and cal["train_pairs"] > 0
        and cal["reliability_calibrated"]
    )
    raw, calibrated = get_judge("lexical:jaccard"), get_judge(f"lexical:jaccard,calib={out}")
    pairs = [JudgePair("first add two", "first add three"), JudgePair("alpha", "omega")]
    np.testing.assert_allclose(
        calibrated.score(pairs), np.interp(raw.score(pairs), cal["x"], cal["y"])
    )
    assert calibrated.id.startswith("lexical:jaccard|calib=")  # keyed by the file's content
    with pytest.raises(ConfigError, match="calibrated for judge 'lexical:jaccard'"):
        get_judge(f"lexical:tfidf,calib={out}")
    with pytest.raises(ConfigError, match="oracles are not calibrated"):
        get_judge(f"oracle:calib={out}")
    with pytest.raises(MissingInputError, match="no such calibration file"):
        get_judge(f"lexical:jaccard,calib={tmp_path / 'none.json'}")

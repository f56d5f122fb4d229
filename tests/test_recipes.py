"""Recipes and ``--config``: every committed recipe resolves; YAML < flags; bad keys are one line."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from deepprune.cli import main
from deepprune.configs import load_config
from deepprune.replay.harness import OnlineConfig
from deepprune.synth import DEMO_POOL

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted(ROOT.glob("*/recipes/*.yaml"))


def test_recipes_exist_for_each_experiment_stage():
    names = {p.relative_to(ROOT).as_posix() for p in RECIPES}
    assert {"Online/recipes/results-long.yaml", "Online/recipes/comparison-long.yaml",
            "Offline/recipes/ablation.yaml", "Offline/recipes/crossfit.yaml"} <= names  # fmt: skip
    make = (ROOT / "Makefile").read_text()
    for p in RECIPES:  # each recipe is what a make target runs
        assert f"--config {p.relative_to(ROOT).as_posix()}" in make, p


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_recipe_resolves_with_the_command_in_its_header(recipe, capsys):
    cmd = re.search(r"#\s+(deepprune [^(\n]+--config \S+)", recipe.read_text()).group(1)
    argv = shlex.split(cmd)[1:]
    assert argv[argv.index("--config") + 1] == recipe.relative_to(ROOT).as_posix()
    argv[argv.index("--config") + 1] = str(recipe)
    with pytest.raises(SystemExit) as e:
        main([*argv, "--print-config"])
    assert e.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    yaml_keys = set(__import__("yaml").safe_load(recipe.read_text()))
    flat = json.dumps(printed)
    for key in yaml_keys:  # every key of the recipe reached the config or an option
        assert f'"{key}"' in flat, key


def test_config_file_equals_flags_and_flags_override(tmp_path, capsys):
    cfg = tmp_path / "prune.yaml"
    cfg.write_text(f"pool: [{DEMO_POOL}]\nrepeats: 2\ntau: 0.7\njudge: ['lexical:jaccard']\n")
    assert main(["prune", "--config", str(cfg), "--json", "--out", str(tmp_path / "a")]) == 0
    from_yaml = json.loads(capsys.readouterr().out)
    assert main(["prune", "--pool", str(DEMO_POOL), "--repeats", "2", "--tau", "0.7",
                 "--judge", "lexical:jaccard", "--json", "--out", str(tmp_path / "b")]) == 0  # fmt: skip
    from_flags = json.loads(capsys.readouterr().out)
    assert from_yaml["rows"] == from_flags["rows"] and from_yaml["config"]["cluster"]["tau"] == 0.7
    with pytest.raises(SystemExit):
        main(["prune", "--config", str(cfg), "--repeats", "3", "--print-config"])
    assert (
        json.loads(capsys.readouterr().out)["repeats"] == 3
    )  # the flag wins (flat keys, as --config reads them)


@pytest.mark.parametrize(
    ("yaml_text", "message"),
    [("repeat: 2\n", "unknown config key(s) ['repeat']"), ("repeats: two\n", "repeats: expected int"),
     ("tau: 1.5\n", "tau must be in [0, 1]"), ("- a\n", "must be a mapping"), ("a: [\n", "not valid YAML")],
)  # fmt: skip
def test_bad_config_is_one_line(tmp_path, capsys, yaml_text, message):
    cfg = tmp_path / "bad.yaml"
    cfg.write_text(yaml_text)
    assert main(["prune", "--pool", str(DEMO_POOL), "--config", str(cfg)]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_library_loads_the_same_recipe():
    cfg = load_config(OnlineConfig, {"repeats": 8, "tau": 0.7, "trunc": "frac:0.3"})
    assert (cfg.repeats, cfg.cluster.tau, cfg.cluster.K, cfg.trunc) == (8, 0.7, 32, "frac:0.3")

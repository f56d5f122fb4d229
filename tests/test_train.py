"""The LLaMA-Factory path: recipes parse with its own parser; real CPU training runs on a tiny model."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from deepprune.cli import main
from deepprune.pairs import PairConfig, build_pairs, write_pairs
from deepprune.train.extension import install, parse_recipe
from tests.conftest import DEMO_POOL, ROOT

pytestmark = (
    pytest.mark.slow
)  # model training / notebooks / LLaMA-Factory: `make test-fast` skips them

RECIPES = sorted((ROOT / "Offline").glob("*.yaml"))
# hardware keys overridden on machines without CUDA / deepspeed; everything else parses as written
CPU_OVERRIDES = (
    [] if torch.cuda.is_available() else ["bf16=false", "deepspeed=null", "use_cpu=true"]
)


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: p.name)
def test_every_recipe_parses(recipe):
    model, data, training, finetuning, _ = parse_recipe(str(recipe), CPU_OVERRIDES)
    template = "gemma" if recipe.name.startswith("gemma") else "qwen3_nothink"
    assert finetuning.stage == "sft" and data.template == template
    assert isinstance(finetuning.focal_loss, bool)


def test_paper_recipe_values():
    _, data, training, ft, _ = parse_recipe(
        str(ROOT / "Offline" / "Qwen3_full_sft.yaml"), CPU_OVERRIDES
    )
    assert (
        ft.focal_loss
        and ft.finetuning_type == "full"
        and json.loads(ft.focal_alpha_labels) == {"yes": 0.25, "no": 0.75}
    )
    assert (ROOT / "Offline" / "ds_z3_config.json").exists()
    assert (
        json.loads((ROOT / "Offline" / "ds_z3_config.json").read_text())["zero_optimization"][
            "stage"
        ]
        == 3
    )


def test_typo_rejected_by_llamafactory_parser():
    with pytest.raises(ValueError, match="focal_gama"):
        parse_recipe(str(ROOT / "Offline" / "tiny_cpu_sft.yaml"), ["focal_gama=1"])


def test_help_lists_focal_keys(capsys):
    assert main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    for key in ("focal_loss", "focal_gamma", "focal_alpha", "focal_alpha_labels", "focal_detach"):
        assert f"--{key}" in out


@pytest.fixture(scope="module")
def setup_dirs(tmp_path_factory):
    from deepprune.dev.tiny_model import build_tiny_model

    root = tmp_path_factory.mktemp("train")
    model = build_tiny_model(root / "tiny")
    cfg = PairConfig(trunc="words:10", max_pairs_per_question=40)
    write_pairs(root / "pairs", build_pairs([DEMO_POOL], cfg), cfg)
    return root, model


def _train(root, model, name, *overrides):
    out = root / name
    rc = main(["train", str(ROOT / "Offline" / "tiny_cpu_sft.yaml"), f"model_name_or_path={model}",
               f"dataset_dir={root / 'pairs'}", f"output_dir={out}", *overrides])  # fmt: skip
    assert rc == 0
    hist = json.loads((out / "trainer_state.json").read_text())["log_history"]
    return out, [h["loss"] for h in hist if "loss" in h]


def test_training_run_loss_decreases_and_checkpoint_loads(setup_dirs):
    root, model = setup_dirs
    out, losses = _train(root, model, "focal")
    assert len(losses) == 12 and losses[-1] < 0.6 * losses[0]
    from deepprune.judges import JudgePair, get_judge

    judge = get_judge(f"llm:{out},batch=4")  # the trained checkpoint loads back as a judge
    s = judge.score([JudgePair("First, a.", "Then, b."), JudgePair("x", "y")])
    assert s.shape == (2,) and ((s >= 0) & (s <= 1)).all()


def test_focal_gamma0_equals_cross_entropy_under_accumulation(setup_dirs):
    root, model = setup_dirs
    common = ["gradient_accumulation_steps=2", "max_steps=4", "focal_alpha_labels=null"]
    _, ce = _train(root, model, "ce", "focal_loss=false", *common)
    _, fl = _train(root, model, "g0", "focal_loss=true", "focal_gamma=0", "focal_alpha=1", *common)
    _, half = _train(
        root, model, "half", "focal_loss=true", "focal_gamma=0", "focal_alpha=0.5", *common
    )
    _, g2 = _train(root, model, "g2", "focal_loss=true", "focal_gamma=2", *common)
    assert fl == pytest.approx(ce, rel=1e-4)
    assert half[0] == pytest.approx(ce[0] / 2, rel=1e-4)  # same weights at step 1
    assert g2[0] < ce[0] * 0.999  # the focal factor is really applied


def test_install_is_idempotent():
    install()
    install()
    import llamafactory.hparams.parser as p

    assert sum(c.__name__ == "FocalFinetuningArguments" for c in p._TRAIN_ARGS) == 1


def test_plain_llamafactory_cli_train_with_focal_keys(setup_dirs):
    # the command the paper's users know, through the import hook that `make install` installs
    root, model = setup_dirs
    out = root / "lf-cli"
    beside = (
        Path(sys.executable).parent / "llamafactory-cli"
    )  # this environment's, not another on PATH
    cli = str(beside) if beside.exists() else shutil.which("llamafactory-cli") or "llamafactory-cli"
    args = [cli, "train",
            str(ROOT / "Offline" / "tiny_cpu_sft.yaml"), f"model_name_or_path={model}",
            f"dataset_dir={root / 'pairs'}", f"output_dir={out}", "max_steps=3"]  # fmt: skip
    run = subprocess.run(args, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr[-3000:]
    hist = json.loads((out / "trainer_state.json").read_text())["log_history"]
    assert len([h for h in hist if "loss" in h]) == 3
    typo = subprocess.run(args + ["focal_gama=1"], capture_output=True, text=True)
    assert typo.returncode != 0 and "focal_gama" in typo.stderr


def test_a_gpu_recipe_on_a_cpu_machine_is_one_line(capsys):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU: the paper recipe can run")
    rc = main(["train", str(ROOT / "Offline" / "Qwen3_full_sft.yaml")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and "deepspeed and bf16 need a CUDA GPU" in err

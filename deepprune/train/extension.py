"""Judge training through LLaMA-Factory, extended with focal loss.

    deepprune train Offline/Qwen3_full_sft.yaml [key=value ...]

Behaves like ``llamafactory-cli train`` (same YAML, same ``key=value`` overrides) with
five extra keys validated by LLaMA-Factory's own parser: ``focal_loss``,
``focal_gamma``, ``focal_alpha``, ``focal_alpha_labels``, ``focal_detach``. With
several GPUs (or ``FORCE_TORCHRUN=1``) it launches ``torchrun`` itself, each worker
running this module so every worker gets the extension.

The extension swaps two private names of llamafactory 0.9.x, checked at startup:
``llamafactory.hparams.parser._TRAIN_ARGS`` (the FinetuningArguments entry becomes a
subclass with the focal keys) and ``llamafactory.train.sft.workflow.CustomSeq2SeqTrainer``
(a subclass that sets the transformers ``compute_loss_func`` hook).
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import types
from dataclasses import dataclass, field

from deepprune.errors import ConfigError, DeepPruneError, MissingInputError

SUPPORTED = ">=0.9.5,<0.10"
_INSTALLED = False


class ExtensionError(DeepPruneError, RuntimeError):
    """llamafactory is missing or its internals are not those of a supported version."""


def torchaudio_placeholder() -> None:
    """llamafactory's multimodal plugin imports torchaudio at top level; only audio data uses it."""
    if "torchaudio" in sys.modules or importlib.util.find_spec("torchaudio") is not None:
        return
    mod = types.ModuleType("torchaudio")

    def _missing(name):
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(
            "torchaudio is not installed (no CPU build exists); audio datasets need it"
        )

    mod.__getattr__ = _missing  # type: ignore[attr-defined]
    mod.__spec__ = importlib.machinery.ModuleSpec("torchaudio", None)
    sys.modules["torchaudio"] = mod


def _check_version() -> None:
    from importlib.metadata import PackageNotFoundError, version

    from packaging.specifiers import SpecifierSet

    try:
        v = version("llamafactory")
    except PackageNotFoundError:
        raise ExtensionError(
            "llamafactory is not installed: pip install -e '.[train]' (see the README)"
        ) from None
    if v not in SpecifierSet(SUPPORTED):
        raise ExtensionError(
            f"llamafactory {v} is not supported by the focal-loss extension; supported: {SUPPORTED}"
        )


def install() -> None:
    """Patch llamafactory (idempotent): focal keys in the parser, focal loss in the SFT trainer."""
    global _INSTALLED
    if _INSTALLED:
        return
    _check_version()
    torchaudio_placeholder()
    try:
        import llamafactory.hparams.parser as parser_mod
        import llamafactory.train.sft.workflow as workflow_mod
        from llamafactory.hparams import FinetuningArguments
    except ImportError as e:
        raise ExtensionError(
            f"cannot import llamafactory ({e}); supported versions: {SUPPORTED}"
        ) from None
    train_args = getattr(parser_mod, "_TRAIN_ARGS", None)
    base_trainer = getattr(workflow_mod, "CustomSeq2SeqTrainer", None)
    if (
        not isinstance(train_args, list)
        or FinetuningArguments not in train_args
        or base_trainer is None
    ):
        raise ExtensionError(
            "llamafactory internals changed (_TRAIN_ARGS / CustomSeq2SeqTrainer not found); "
            f"the focal-loss extension supports llamafactory {SUPPORTED}"
        )

    @dataclass
    class FocalFinetuningArguments(FinetuningArguments):
        focal_loss: bool = field(
            default=False, metadata={"help": "Use focal loss on response tokens (deepprune)."}
        )
        focal_gamma: float = field(
            default=2.0, metadata={"help": "Focal gamma (Lin et al. default 2; 0 = cross-entropy)."}
        )
        focal_alpha: float = field(
            default=1.0, metadata={"help": "Scalar focal alpha for tokens without a class weight."}
        )
        focal_alpha_labels: str | None = field(
            default=None,
            metadata={"help": 'Class-aware alpha as JSON, e.g. {"yes": 0.25, "no": 0.75}.'},
        )
        focal_detach: bool = field(
            default=False,
            metadata={"help": "Detach (1-p)^gamma (PR #9077) instead of differentiating it."},
        )

        def __post_init__(self):
            super().__post_init__()
            if isinstance(self.focal_alpha_labels, dict):
                self.focal_alpha_labels = json.dumps(self.focal_alpha_labels)
            if self.focal_alpha_labels:
                try:
                    weights = json.loads(self.focal_alpha_labels)
                except json.JSONDecodeError as e:
                    raise ConfigError(f"focal_alpha_labels is not valid JSON: {e.msg}") from None
                if not isinstance(weights, dict) or not all(
                    isinstance(v, int | float) for v in weights.values()
                ):
                    raise ConfigError(
                        'focal_alpha_labels must map label words to numbers, e.g. {"yes": 0.25, "no": 0.75}'
                    )
            if self.focal_gamma < 0:
                raise ConfigError(f"focal_gamma must be >= 0, got {self.focal_gamma}")

    class FocalSeq2SeqTrainer(base_trainer):
        def __init__(self, *args, finetuning_args=None, **kwargs):
            tokenizer = kwargs.get("tokenizer") or kwargs.get("processing_class")
            super().__init__(*args, finetuning_args=finetuning_args, **kwargs)
            if getattr(finetuning_args, "focal_loss", False):
                from deepprune.focal import FocalLoss, alpha_vector

                alpha_vec = None
                if finetuning_args.focal_alpha_labels:
                    weights = json.loads(finetuning_args.focal_alpha_labels)
                    vocab = self.model.get_output_embeddings().weight.shape[0]
                    alpha_vec = alpha_vector(tokenizer, weights, finetuning_args.focal_alpha, vocab)
                self.compute_loss_func = FocalLoss(
                    gamma=finetuning_args.focal_gamma,
                    alpha=finetuning_args.focal_alpha,
                    alpha_vec=alpha_vec,
                    detach=finetuning_args.focal_detach,
                )

    idx = train_args.index(FinetuningArguments)
    parser_mod._TRAIN_ARGS[idx] = FocalFinetuningArguments
    workflow_mod.CustomSeq2SeqTrainer = FocalSeq2SeqTrainer
    _INSTALLED = True


def _device_count() -> int:
    try:
        import torch

        return torch.cuda.device_count()
    except ImportError:
        return 0


def run(config: str, overrides: list[str]) -> int:
    """Train from a LLaMA-Factory YAML plus ``key=value`` overrides (in this process or via torchrun)."""
    if not os.path.isfile(config):
        raise MissingInputError(f"training config {config}: no such file")
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise ConfigError(f"overrides must be key=value, got {bad[0]!r}")
    _check_runnable_here(config, overrides)
    force = os.environ.get("FORCE_TORCHRUN", "0").lower() in ("1", "true", "y")
    if force or _device_count() > 1:
        nproc = os.environ.get("NPROC_PER_NODE", str(max(_device_count(), 1)))
        cmd = ["torchrun", "--nproc_per_node", nproc,
               "--master_addr", os.environ.get("MASTER_ADDR", "127.0.0.1"),
               "--master_port", os.environ.get("MASTER_PORT", "29517"),
               "-m", "deepprune.train.extension", config, *overrides]  # fmt: skip
        return subprocess.run(cmd, check=False).returncode
    return _train_here(config, overrides)


def _check_runnable_here(config: str, overrides: list[str]) -> None:
    """A recipe that needs a GPU (DeepSpeed, bf16) fails with one line on a machine without one."""
    import yaml

    try:
        with open(config, encoding="utf-8") as fh:
            recipe = yaml.safe_load(fh) or {}
    except yaml.YAMLError as e:
        raise ConfigError(
            f"training config {config}: not valid YAML ({getattr(e, 'problem', e)})"
        ) from None
    if not isinstance(recipe, dict):
        raise ConfigError(f"training config {config}: must be a mapping of keys to values")
    recipe.update(dict(o.split("=", 1) for o in overrides))
    needs = [
        k for k in ("deepspeed", "bf16") if recipe.get(k) not in (None, False, "false", "False", "")
    ]
    if needs and _device_count() == 0:
        raise ConfigError(f"training config {config}: {' and '.join(needs)} need a CUDA GPU and this machine has none "
                          "(on a CPU: Offline/tiny_cpu_sft.yaml or Offline/gemma3_270m_lora_cpu.yaml)")  # fmt: skip


def _train_here(config: str, overrides: list[str]) -> int:
    install()
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(
        OmegaConf.load(os.path.abspath(config)), OmegaConf.from_cli(list(overrides))
    )
    args = OmegaConf.to_container(merged)
    from llamafactory.train.tuner import run_exp

    run_exp(args)
    return 0


def print_help() -> None:
    """LLaMA-Factory's own train --help, with the focal keys."""
    install()
    from llamafactory.hparams.parser import _TRAIN_ARGS
    from transformers import HfArgumentParser

    print("usage: deepprune train CONFIG.yaml [key=value ...]\n")
    HfArgumentParser(_TRAIN_ARGS).print_help()


def parse_recipe(config: str, overrides: list[str] | None = None):
    """Parse a recipe with LLaMA-Factory's own argument parser (no model load)."""
    install()
    from llamafactory.hparams.parser import _parse_train_args
    from omegaconf import OmegaConf

    merged = OmegaConf.merge(
        OmegaConf.load(os.path.abspath(config)), OmegaConf.from_cli(list(overrides or []))
    )
    return _parse_train_args(OmegaConf.to_container(merged))


if (
    __name__ == "__main__"
):  # torchrun worker entry: python -m deepprune.train.extension CONFIG [k=v ...]
    sys.exit(_train_here(sys.argv[1], sys.argv[2:]))

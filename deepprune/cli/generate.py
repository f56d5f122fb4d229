"""``deepprune generate``: sample a trace pool from a model server (see :mod:`deepprune.engine.generate`)."""

from __future__ import annotations

import argparse
import json

from deepprune.cli.config import add_config_args, config_from_args, load_yaml
from deepprune.engine.backends import BACKENDS
from deepprune.engine.generate import GenerateConfig, generate


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample a trace pool from a model server (OpenAI-compatible, vLLM, or a replayed pool)",
    )
    p.add_argument(
        "--problems",
        help="problems JSONL (id, question, gold, answer_type); with --backend replay: the pool's own",
    )
    p.add_argument(
        "--out", required=True, help="the pool to write (resumes from OUT.partial / OUT)"
    )
    p.add_argument("--backend", default="openai", choices=list(BACKENDS))
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="served model name (openai) or local model path (vllm)")
    p.add_argument("--pool", help="the pool to stream (--backend replay)")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="replay speed, tokens/s per trace (0: as fast as possible)",
    )
    p.add_argument(
        "--abort-url",
        help="SGLang: POST here to abort a stopped request (e.g. http://HOST:PORT/abort_request)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_config_args(p, GenerateConfig, {"prompt": "prompt template with {question}, or @FILE", "n": "traces per problem",
                                        "logprobs": "top-k logprobs per token -> confs (DeepConf: 20)",
                                        "probe_every": "answer probe every P generated tokens"})  # fmt: skip
    p.set_defaults(func=run)


def run(args) -> int:
    from pathlib import Path

    from deepprune.errors import MissingInputError

    section = load_yaml(args.config) if args.config else {}
    if isinstance(args.prompt, str) and args.prompt.startswith("@"):
        path = Path(args.prompt[1:])
        if not path.is_file():
            raise MissingInputError(f"{path}: no such prompt file")
        args.prompt = path.read_text(encoding="utf-8")
    cfg = config_from_args(args, GenerateConfig, section)
    if args.problems is None and args.backend != "replay":
        from deepprune.errors import ConfigError

        raise ConfigError("--problems is required (except with --backend replay)")
    res = generate(args.problems, args.out, cfg, backend=args.backend, progress=args.progress,
                   base_url=args.base_url, model=args.model, pool=args.pool, rate=args.rate,
                   abort_url=args.abort_url)  # fmt: skip
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        rate = f", {res['tokens_per_s']:.1f} tokens/s" if res["tokens_per_s"] else ""
        print(f"{res['out']}: {res['problems']} problems ({res['generated_problems']} generated now), "
              f"{res['tokens_generated']} tokens in {res['seconds']:.1f} s{rate}")  # fmt: skip
    return 0

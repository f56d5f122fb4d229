"""``deepprune generate``: sample a trace pool from a model server (see :mod:`deepprune.engine.generate`)."""

from __future__ import annotations

import json

from deepprune.cli.config import add_backend_args, add_config_args, backend_args, engine_config
from deepprune.engine.generate import GenerateConfig, generate


def register(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="sample a trace pool from a model server (OpenAI-compatible, vLLM, or a replayed pool)",
    )
    add_backend_args(p)
    p.add_argument(
        "--out", required=True, help="the pool to write (resumes from OUT.partial / OUT)"
    )
    add_config_args(p, GenerateConfig, helps={"prompt": "prompt template with {question}, or @FILE", "n": "traces per problem",
                                        "logprobs": "top-k logprobs per token -> confs (DeepConf: 20)",
                                        "probe_every": "answer probe every P generated tokens"})  # fmt: skip
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = engine_config(args, GenerateConfig)
    res = generate(
        args.problems,
        args.out,
        cfg,
        backend=args.backend,
        progress=args.progress,
        **backend_args(args),
    )
    if args.json:
        print(json.dumps(res, indent=2))
    else:
        rate = f", {res['tokens_per_s']:.1f} tokens/s" if res["tokens_per_s"] else ""
        print(f"{res['out']}: {res['problems']} problems ({res['generated_problems']} generated now), "
              f"{res['tokens_generated']} tokens in {res['seconds']:.1f} s{rate}")  # fmt: skip
    return 0

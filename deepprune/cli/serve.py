"""``deepprune serve``: the local llama.cpp server with the packaged Gemma 3 270M (see :mod:`deepprune.engine.server`)."""

from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser(
        "serve",
        help="run the local OpenAI-compatible llama.cpp server (Gemma 3 270M GGUF) until Ctrl-C",
    )
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--n-ctx", type=int, default=4096, help="context length in tokens")
    p.add_argument("--threads", type=int, help="CPU threads (default: all)")
    p.set_defaults(func=run)


def run(args) -> int:
    import subprocess

    from deepprune.engine.server import server_command

    cmd = server_command(args.port, n_ctx=args.n_ctx, threads=args.threads)
    print(f"serving gemma3-270m at http://127.0.0.1:{args.port}/v1 (Ctrl-C stops)", flush=True)
    try:
        return subprocess.call(cmd)
    except KeyboardInterrupt:
        return 0

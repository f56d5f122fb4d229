"""Throughput of `deepprune generate` against the local llama.cpp server vs the server's own.

    python bench/bench_generate.py [--problems 4] [--n 4] [--max-tokens 48]

Starts the local server (Gemma 3 270M, CPU), then: (1) the server's own throughput, the same
requests sent one after another with the bare `openai` client, non-streamed (no client work
beyond HTTP); (2) `generate` at concurrency 1, 4 and 8 (plain requests as the server's own,
answers extracted, the pool written and resumable). Prints tokens/s of each and the ratio generate / server (the client should not be
the bottleneck: >= 0.9). The server runs one request at a time, so concurrency cannot raise
its throughput here; on vLLM/SGLang it does.
"""

import argparse
import asyncio
import socket
import tempfile
import time
from pathlib import Path

from deepprune.engine.generate import GenerateConfig, generate
from deepprune.engine.problems import load_problems, trace_seed
from deepprune.engine.server import MODEL_ALIAS, LocalServer

ROOT = Path(__file__).resolve().parents[1]
ap = argparse.ArgumentParser()
ap.add_argument("--problems", type=int, default=4)
ap.add_argument("--n", type=int, default=4)
ap.add_argument("--max-tokens", type=int, default=48)
a = ap.parse_args()

problems = load_problems(ROOT / "DeepPrune_data" / "problems" / "arith24.jsonl")[: a.problems]
prompt = (ROOT / "DeepPrune_data" / "prompts" / "fewshot_math.txt").read_text()
with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]


async def server_own(base_url: str, cfg: GenerateConfig) -> tuple[int, float]:
    import openai

    c = openai.AsyncOpenAI(base_url=base_url, api_key="x")
    tokens, t0 = 0, time.perf_counter()
    for p in problems:
        for i in range(cfg.n):
            r = await c.completions.create(model=MODEL_ALIAS, prompt=prompt.replace("{question}", p.question),
                                           max_tokens=cfg.max_tokens, seed=trace_seed(cfg, p.id, i),
                                           temperature=cfg.temperature, top_p=cfg.top_p, stop=list(cfg.stop))  # fmt: skip
            tokens += r.usage.completion_tokens
    await c.close()
    return tokens, time.perf_counter() - t0


with LocalServer(port=port, n_ctx=2048) as server, tempfile.TemporaryDirectory() as tmp:
    base = GenerateConfig(n=a.n, max_tokens=a.max_tokens, prompt=prompt, stop=("\nQuestion:",))
    asyncio.run(server_own(server.base_url, base))  # warm-up: load the weights into the page cache
    tok, sec = asyncio.run(server_own(server.base_url, base))
    own = tok / sec
    print(f"server's own: {tok} tokens in {sec:.1f} s = {own:.1f} tokens/s")
    for conc in (1, 4, 8):
        cfg = GenerateConfig(**{**base.__dict__, "concurrency": conc})
        res = generate(problems, Path(tmp) / f"c{conc}.jsonl", cfg, base_url=server.base_url, model=MODEL_ALIAS,
                       progress=False)  # fmt: skip
        rate = res["tokens_generated"] / res["seconds"]
        print(f"generate --concurrency {conc}: {res['tokens_generated']} tokens in {res['seconds']:.1f} s = "
              f"{rate:.1f} tokens/s, ratio to the server's own {rate / own:.2f}")  # fmt: skip

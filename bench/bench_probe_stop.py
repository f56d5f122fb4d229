"""What an answer probe costs when it stops at the answer's closing brace, on the real local server.

    python bench/bench_probe_stop.py            # prints two Markdown tables
    python bench/bench_probe_stop.py --json

Starts `deepprune serve` (llama.cpp, the packaged Gemma 3 270M) on a free port. Part 1, the probe
itself: one trace per problem of `DeepPrune_data/problems/add24.jsonl` (the few-shot prompt `solve`
uses, seeded, temperature 0.8, 48 tokens), cut at a third and two thirds of its text, and each
partial probed twice, greedy, 16 tokens at most: as probes were sent before (no stop string: the
request runs to its 16 tokens or an end of text) and as `Run.probe` sends them now (stop at `}`,
continued past an inner brace). Reported: generated tokens per probe, requests per probe, and
how often the two answers agree (llama.cpp's numerics follow its prompt cache, so an answer may
differ for that reason alone). Part 2, end to end: `deepprune solve` on the same 24 problems,
n = 4, cons@N against DeepPrune with answer probes every 8 tokens (the README's lm-eval settings:
`--judge probe --trunc probe:1 --K2 2 --K3 2`) and short-1@4 (the SDK example's method), net
tokens (traces + probes) per problem.
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBLEMS = ROOT / "DeepPrune_data" / "problems" / "add24.jsonl"
PROMPT = ROOT / "DeepPrune_data" / "prompts" / "fewshot_add.txt"
STOP = ("\nQuestion:",)
MAX_TOKENS, PROBE_TOKENS, N = 48, 16, 4  # our choices (the README's lm-eval example's)


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def probes(base_url: str) -> dict:
    from deepprune.engine.backends import Request
    from deepprune.engine.backends.openai_compat import OpenAIBackend
    from deepprune.engine.ledger import LiveLedger
    from deepprune.engine.problems import load_problems
    from deepprune.engine.run import Run
    from deepprune.engine.solve import SolveConfig
    from deepprune.probes import probe_answer

    cfg = SolveConfig(
        prompt=PROMPT.read_text(), stop=STOP, probe_tokens=PROBE_TOKENS, temperature=0.8
    )
    backend = OpenAIBackend(base_url, "gemma3-270m")
    rows = []
    try:
        for p in load_problems(PROBLEMS):
            run = Run(backend, p, cfg)
            text, _ = await backend.complete(run.request(0, MAX_TOKENS))
            for cut in (len(text) // 3, 2 * len(text) // 3):
                partial = text[:cut]
                old = Request(f"{p.id}/old{cut}", run.prompt, 0, PROBE_TOKENS, 0.0, 1.0,
                              continuation=partial + cfg.answer_cue)  # fmt: skip
                said, fin = await backend.complete(old)
                led = LiveLedger()
                new = await run.probe(0, cut, partial, led)
                rows.append({"old_tokens": fin.completion_tokens, "old": probe_answer(cfg.answer_cue, said),
                             "new_tokens": led.probe_tokens, "new": new, "requests": led.probe_calls})  # fmt: skip
    finally:
        await backend.close()
    k = len(rows)
    return {"probes": k, "old_tokens_per_probe": sum(r["old_tokens"] for r in rows) / k,
            "new_tokens_per_probe": sum(r["new_tokens"] for r in rows) / k,
            "requests_per_probe": sum(r["requests"] for r in rows) / k,
            "answers_agree": sum(r["old"] == r["new"] for r in rows) / k,
            "old_answered": sum(r["old"] is not None for r in rows), "new_answered": sum(r["new"] is not None for r in rows)}  # fmt: skip


def end_to_end(base_url: str, out: Path) -> dict:
    from deepprune.engine.problems import load_problems
    from deepprune.engine.solve import SolveConfig, solve
    from deepprune.greedy import ClusterConfig

    cfg = SolveConfig(n=N, methods=("cons@N", "deepprune", "short-m@k"), judge="probe", trunc="probe:1", probe_every=8,
                      probe_tokens=PROBE_TOKENS, cluster=ClusterConfig(K2=2, K3=2), deterministic=True,
                      max_tokens=MAX_TOKENS, temperature=0.8, top_p=0.95, prompt=PROMPT.read_text(), stop=STOP,
                      concurrent_problems=1)  # fmt: skip
    res = solve(
        load_problems(PROBLEMS),
        cfg,
        base_url=base_url,
        model="gemma3-270m",
        out=out,
        progress=False,
    )
    rows = {r["method"]: r for r in res["rows"]}
    dp, cn = rows["deepprune"], rows["cons@N"]
    return {"problems": dp["problems"], "consN_tokens": cn["tokens"], "consN_accuracy": cn["accuracy"],
            "deepprune_tokens": dp["tokens"], "deepprune_probe_tokens": dp["probe_tokens"],
            "deepprune_net_tokens": dp["net_tokens"], "deepprune_accuracy": dp["accuracy"],
            "net_reduction_vs_consN": dp["net_reduction_vs_consN"], "short_tokens": rows["short-m@k"]["tokens"],
            "short_accuracy": rows["short-m@k"]["accuracy"],
            "short_reduction_vs_consN": rows["short-m@k"]["net_reduction_vs_consN"]}  # fmt: skip


def main(argv: list[str]) -> None:
    import tempfile

    from deepprune.engine.server import LocalServer

    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp, LocalServer(port=_port(), n_ctx=2048) as server:
        p = asyncio.run(probes(server.base_url))
        e = end_to_end(server.base_url, Path(tmp) / "run")
    if "--json" in argv:
        print(json.dumps({"probes": p, "end_to_end": e, "seconds": round(time.time() - t0, 1)}))
        return
    print(f"| probes | tokens per probe, no stop | tokens per probe, stop at `}}` | requests per probe | "
          f"answers agree | answered (no stop / stop) |\n|---|---|---|---|---|---|\n"
          f"| {p['probes']} | {p['old_tokens_per_probe']:.2f} | {p['new_tokens_per_probe']:.2f} | "
          f"{p['requests_per_probe']:.2f} | {100 * p['answers_agree']:.1f}% | {p['old_answered']} / {p['new_answered']} |\n")  # fmt: skip
    print(f"| problems | cons@N tokens / problem | DeepPrune traces + probes = net / problem | net saving vs cons@N | "
          f"accuracy cons@N / DeepPrune |\n|---|---|---|---|---|\n"
          f"| {e['problems']} | {e['consN_tokens']:.1f} | {e['deepprune_tokens']:.1f} + {e['deepprune_probe_tokens']:.1f} = "
          f"{e['deepprune_net_tokens']:.1f} | {100 * e['net_reduction_vs_consN']:.1f}% | "
          f"{100 * e['consN_accuracy']:.1f}% / {100 * e['deepprune_accuracy']:.1f}% |")  # fmt: skip
    print(f"\n| short-1@4 tokens / problem | net saving vs cons@N | accuracy |\n|---|---|---|\n"
          f"| {e['short_tokens']:.1f} | {100 * e['short_reduction_vs_consN']:.1f}% | {100 * e['short_accuracy']:.1f}% |")  # fmt: skip
    print(f"\n({time.time() - t0:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1:])

"""The live orchestrator's own cost: CPU seconds per 1,000 traces of `solve` against the replay
backend at rate 0 (no server time: everything measured is the client's asyncio, parsing, judge,
clusterer and ledger), to size one orchestrator for a deployment.

    python bench/bench_solve_orchestrator.py          # prints a Markdown table

Rows: the 128-trace Qwen3-8B AIME24 probe pool (30 problems; DeepPrune with the answer-probe judge,
probe:1, and cons@N), then synthetic pools with text (12 problems; DeepPrune with the Jaccard judge,
tokens:200) at N = 16, 64, 128, 512. Sizes are our choice.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from deepprune.engine.solve import SolveConfig, solve
from deepprune.pools import write_pool
from deepprune.synth import SynthConfig, synth_pool

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "pools"


def measure(pool: str, n: int, methods: tuple[str, ...], judge: str, trunc: str, **kw) -> dict:
    cfg = SolveConfig(
        n=n, methods=methods, judge=judge, trunc=trunc, deterministic=True, max_tokens=10**7, **kw
    )
    cpu0, t0 = time.process_time(), time.perf_counter()
    res = solve(None, cfg, backend="replay", pool=pool, progress=False)
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
    traces = len(res["records"]) * n  # every method starts n traces per problem
    return {
        "problems": len(res["records"]) // len(methods),
        "traces": traces,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_per_1000": 1000 * cpu / traces,
    }


rows = []
probe = SHARED / "probe-qwen3-8b-aime24-n128.jsonl"
if probe.exists():
    r = measure(str(probe), 128, ("cons@N", "deepprune"), "probe", "probe:1", probe_every=500)
    rows.append(("probe-qwen3-8b-aime24-n128 (probe judge, probe:1)", 128, r))
else:
    print(f"skipped the probe pool: {probe} not found (../shared/data beside the project)")
with tempfile.TemporaryDirectory() as tmp:
    for n in (16, 64, 128, 512):
        path = Path(tmp) / f"synth{n}.jsonl"
        write_pool(
            path, synth_pool(SynthConfig(questions=12, traces=n, median_tokens=1500, seed=0))
        )
        r = measure(str(path), n, ("cons@N", "deepprune"), "lexical:jaccard", "tokens:200")
        rows.append(("synthetic (Jaccard judge, tokens:200)", n, r))
print(
    "| pool | N | problems | traces (both methods) | client CPU s | wall s | CPU s per 1,000 traces |"
)
print("|---|---|---|---|---|---|---|")
for name, n, r in rows:
    print(
        f"| {name} | {n} | {r['problems']} | {r['traces']:,} | {r['cpu_s']:.1f} | {r['wall_s']:.1f} | {r['cpu_per_1000']:.2f} |"
    )

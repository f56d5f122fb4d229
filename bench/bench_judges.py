"""Judge throughput on CPU: the embedding judge on every pair of a 512-trace question, and
the LLM judge (transformers backend, tiny Qwen3 built locally) at batch 1 vs batch 32.

    python bench/bench_judges.py [--traces 512] [--llm-pairs 128]

Prints pairs/s for each; the embedding judge embeds each of the 512 prefixes once.
"""

import argparse
import tempfile
import time
from itertools import combinations
from pathlib import Path

import numpy as np

from deepprune.dev.tiny_model import build_tiny_model
from deepprune.judges import JudgePair, get_judge
from deepprune.synth import SynthConfig, synth_pool
from deepprune.truncate import parse_spec, truncate

ap = argparse.ArgumentParser()
ap.add_argument("--traces", type=int, default=512)
ap.add_argument("--llm-pairs", type=int, default=128)
a = ap.parse_args()

q = synth_pool(SynthConfig(questions=1, traces=a.traces, steps=30, seed=3))[0]
spec = parse_spec("words:25")
prefixes = [truncate(t.text, spec) for t in q.traces]
i, j = (np.array(x) for x in zip(*combinations(range(a.traces), 2), strict=True))

t0 = time.perf_counter()
judge = get_judge("sbert")
t_load = time.perf_counter() - t0
t0 = time.perf_counter()
scores = judge.score_indexed(prefixes, i, j)
dt = time.perf_counter() - t0
print(f"sbert (all-MiniLM-L6-v2, CPU): {len(i):,} pairs of a {a.traces}-trace question in {dt:.2f} s "
      f"= {len(i) / dt:,.0f} pairs/s ({a.traces} embeddings; model load {t_load:.1f} s)")  # fmt: skip
pairs = [JudgePair(prefixes[x], prefixes[y]) for x, y in zip(i[:20000], j[:20000], strict=True)]
judge2 = get_judge("sbert")
t0 = time.perf_counter()
s2 = judge2.score(pairs)
dt2 = time.perf_counter() - t0
assert np.allclose(s2, scores[:20000], atol=1e-5)
print(f"sbert via score(JudgePair list): 20,000 pairs in {dt2:.2f} s = {20000 / dt2:,.0f} pairs/s")

with tempfile.TemporaryDirectory() as d:
    model = build_tiny_model(Path(d) / "tiny")
    sample = pairs[: a.llm_pairs]
    for batch in (1, 32):
        llm = get_judge(f"llm:{model},batch={batch}")
        llm.score(sample[:batch])  # warm-up
        t0 = time.perf_counter()
        llm.score(sample)
        dt = time.perf_counter() - t0
        print(
            f"llm judge (tiny Qwen3, transformers, CPU) batch {batch:2d}: {len(sample) / dt:,.1f} pairs/s"
        )

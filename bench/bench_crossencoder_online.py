"""A trained cross-encoder judge inside DeepPrune's online loop on a 512-trace question (CPU).

    python bench/bench_crossencoder_online.py [--model runs/ablation/words25-start-focal-x2]

Runs the greedy clustering (tau 0.5, K=32, K1=10) over one synthetic question of 512
traces with the cross-encoder as judge and reports the distinct pairs it had to score
(bounded by K*K1 per trace), the wall time and pairs/s. Target (issue): under a minute.
Without a trained model directory it says so and exits (train one with make ablation-real).
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from deepprune.cluster import ClusterConfig, PairScores, cluster_runs, run_key
from deepprune.judges import get_judge
from deepprune.synth import SynthConfig, synth_pool
from deepprune.truncate import parse_spec, truncate

ap = argparse.ArgumentParser()
ap.add_argument("--model", default="runs/ablation/words25-start-focal-x2")
ap.add_argument("--traces", type=int, default=512)
ap.add_argument("--batch", type=int, default=64)
a = ap.parse_args()
if not (Path(a.model) / "deepprune_crossencoder.json").exists():
    sys.exit(f"no trained cross-encoder at {a.model}: run `make ablation-real` (or pass --model)")

q = synth_pool(SynthConfig(questions=1, traces=a.traces, steps=30, seed=4))[0]
spec = parse_spec("words:25")
prefixes = [truncate(t.text, spec) for t in q.traces]
judge = get_judge(f"crossencoder:{a.model},batch={a.batch}")
memo = PairScores(a.traces, lambda i, j: judge.score_indexed(prefixes, i, j))
t0 = time.perf_counter()
runs = cluster_runs(np.arange(a.traces)[None], [0.5], [run_key(0)], memo, ClusterConfig())
dt = time.perf_counter() - t0
print(f"cross-encoder {a.model}: {a.traces} traces, {memo.calls:,} distinct pairs scored "
      f"({memo.calls / a.traces:.1f} per trace; bound K*K1 = 320), {runs.n_clusters[0]} clusters, "
      f"{dt:.1f} s = {memo.calls / dt:,.0f} pairs/s")  # fmt: skip

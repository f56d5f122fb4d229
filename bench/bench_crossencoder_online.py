"""A trained cross-encoder judge inside DeepPrune's online loop on a 512-trace question (CPU).

    python bench/bench_crossencoder_online.py [--model runs/ablation/words25-start-focal-x2]

Runs the greedy clustering (tau 0.5, K=32, K1=10) over one synthetic question of 512
traces to count the distinct pairs the online loop asks for (bounded by K*K1 per trace),
then measures the cross-encoder's pairs/s on a sample of exactly those pairs and reports
the time the whole question takes at that rate. Target (issue): under a minute.
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
ap.add_argument(
    "--sample", type=int, default=1024, help="pairs actually scored to measure throughput"
)
a = ap.parse_args()
if not (Path(a.model) / "deepprune_crossencoder.json").exists():
    sys.exit(f"no trained cross-encoder at {a.model}: run `make ablation-real` (or pass --model)")

q = synth_pool(SynthConfig(questions=1, traces=a.traces, steps=30, seed=4))[0]
spec = parse_spec("words:25")
prefixes = [truncate(t.text, spec) for t in q.traces]
labels = np.array([hash(t.answer) for t in q.traces])
# 1) which pairs does the online loop ask for? (a noisy oracle of similar quality stands in: cheap)
oracle = get_judge("noisy-oracle:auroc=0.6")
asked: list[np.ndarray] = []


def via_oracle(i, j):
    asked.append(np.stack([i, j], 1))
    return oracle.score_indexed(prefixes, i, j, (labels[i] == labels[j]).astype(int))


memo = PairScores(a.traces, via_oracle)
cluster_runs(np.arange(a.traces)[None], [0.5], [run_key(0)], memo, ClusterConfig())
pairs = np.concatenate(asked)
# 2) the trained cross-encoder's throughput on a sample of exactly those pairs
judge = get_judge(f"crossencoder:{a.model},batch={a.batch}")
sample = pairs[: a.sample]
t0 = time.perf_counter()
judge.score_indexed(prefixes, sample[:, 0], sample[:, 1])
dt = time.perf_counter() - t0
rate = len(sample) / dt
print(f"online loop on {a.traces} traces asks for {len(pairs):,} distinct pairs ({len(pairs) / a.traces:.1f} per trace; "
      f"bound K*K1 = 320); cross-encoder {a.model}: {rate:,.0f} pairs/s on {len(sample)} of them "
      f"-> {len(pairs) / rate:,.0f} s for the question (target < 60 s)")  # fmt: skip

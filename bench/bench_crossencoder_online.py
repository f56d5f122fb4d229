"""A trained judge inside DeepPrune's online loop on a 512-trace question (CPU).

    python bench/bench_crossencoder_online.py [--judge crossencoder:runs/ablation/words25-start-focal-x2]
    python bench/bench_crossencoder_online.py --judge features:runs/features/qwen3-all --sample 0

Builds a 512-trace question, by default from the real Qwen3-8B pool's `words:25` prefixes
(all of its questions' traces pooled, so prefix lengths are real: ~2,250 characters),
runs the greedy clustering (tau 0.5, K=32, K1=10) with a noisy oracle to find the distinct
pairs the online loop asks for (bounded by K*K1 per trace), then times the trained judge
on them: on a sample (``--sample N``: pairs/s, extrapolated) or on all of them
(``--sample 0``: wall time, per-trace embeddings included). Target (issue): under a minute.
Without a trained judge directory it says so and exits.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge, judge_scores_indexed, parse_judge_spec
from deepprune.replay.batched import PairScores, cluster_runs
from deepprune.rng import run_key
from deepprune.truncate import parse_spec, truncate

ap = argparse.ArgumentParser()
ap.add_argument("--judge", default="crossencoder:runs/ablation/words25-start-focal-x2")
ap.add_argument("--pool", default="../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl",
                help="real traces to take prefixes from; 'synth' for the synthetic generator")  # fmt: skip
ap.add_argument("--traces", type=int, default=512)
ap.add_argument("--sample", type=int, default=1024, help="pairs timed (0: all of them)")
a = ap.parse_args()
kind, path, _ = parse_judge_spec(a.judge)
if path and not Path(path).is_dir():
    sys.exit(
        f"no trained judge at {path}: run `make ablation-real` / `make features-real` (or pass --judge)"
    )

spec = parse_spec("words:25")
if a.pool == "synth":
    from deepprune.synth import SynthConfig, synth_pool

    traces = synth_pool(SynthConfig(questions=1, traces=a.traces, steps=30, seed=4))[0].traces
else:
    from deepprune.pools import read_pool

    traces = [t for q in read_pool(a.pool) for t in q.traces if t.text][: a.traces]
prefixes = [truncate(t.text, spec) for t in traces]
n = len(prefixes)
labels = np.array([hash(str(t.answer)) for t in traces])
# 1) which pairs does the online loop ask for? (a noisy oracle of similar quality stands in: cheap)
oracle = get_judge("noisy-oracle:auroc=0.6")
asked: list[np.ndarray] = []


def via_oracle(i, j):
    asked.append(np.stack([i, j], 1))
    return judge_scores_indexed(oracle, prefixes, i, j, (labels[i] == labels[j]).astype(int))


cluster_runs(np.arange(n)[None], [0.5], [run_key(0)], PairScores(n, via_oracle), ClusterConfig())
pairs = np.concatenate(asked)
# 2) the trained judge on exactly those pairs
t_load = time.perf_counter()
judge = get_judge(a.judge)
t_load = time.perf_counter() - t_load
sample = pairs if a.sample == 0 else pairs[: a.sample]
t0 = time.perf_counter()
judge.score_indexed(prefixes, sample[:, 0], sample[:, 1])
dt = time.perf_counter() - t0
total = dt if a.sample == 0 else len(pairs) / (len(sample) / dt)
how = (
    "measured on all of them"
    if a.sample == 0
    else f"{len(sample) / dt:,.0f} pairs/s on {len(sample)} of them, extrapolated"
)
print(f"{n} traces (mean prefix {np.mean([len(p) for p in prefixes]):,.0f} chars): the online loop asks for "
      f"{len(pairs):,} distinct pairs ({len(pairs) / n:.1f} per trace; bound K*K1 = 320); {a.judge}: "
      f"{total:,.1f} s for the question ({how}; model load {t_load:.1f} s not counted; target < 60 s)")  # fmt: skip

"""Score and evaluate a judge on a pair file, sharded over processes or GPUs (the paper's entry point).

    python Offline/test_model_performance_parallel.py PAIRS.jsonl --judge llm:saves/qwen3-4b-judge/full/sft \
        --cache runs/cache/judge                       # one shard per local GPU (or 1 on CPU), then metrics
    python Offline/test_model_performance_parallel.py PAIRS.jsonl --judge llm:J --cache C --procs 2   # 2 of the GPUs
    python Offline/test_model_performance_parallel.py PAIRS.jsonl --judge J --cache C --shards 4 --shard-id 1

Thin wrapper over the library (deepprune.judgelab.scoring, `deepprune judge score|eval`). A killed
run resumes from the cache; a rerun of a finished evaluation makes zero judge calls. Processes
are for GPUs (one each): on a CPU one process already uses every core (torch's threads), and a
second one only competes with it (issue 15 measured 91.5 s with 2 processes vs about 30 s with 1,
SBERT on 2 cores), so `--procs` above the GPU count is refused.
"""

import argparse
import sys

from deepprune.cli import main
from deepprune.judgelab.scoring import launch_shards, local_devices


def run() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("pairs")
    ap.add_argument("--judge", required=True)
    ap.add_argument("--cache", required=True, help="cache directory shared by the shards")
    ap.add_argument(
        "--procs", default="auto", help="parallel shard processes; auto: one per GPU (1 on CPU)"
    )
    ap.add_argument(
        "--shards", type=int, help="score only one shard of this many (with --shard-id)"
    )
    ap.add_argument("--shard-id", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=64)
    a = ap.parse_args()

    common = ["--judge", a.judge, "--cache", a.cache, "--batch-size", str(a.batch_size)]
    if a.shards:  # one shard, e.g. under a cluster scheduler
        shard = ["--shards", str(a.shards), "--shard-id", str(a.shard_id)]
        sys.exit(main(["judge", "score", a.pairs, *common, *shard]))
    devices = local_devices()
    procs = max(len(devices), 1) if a.procs == "auto" else int(a.procs)
    if procs > max(len(devices), 1):
        sys.exit(f"test_model_performance_parallel: error: --procs {procs}: {len(devices)} GPUs here; "
                 "shard processes are one per GPU (on a CPU one process already uses every core)")  # fmt: skip
    try:
        if procs > 1:
            launch_shards(a.pairs, a.judge, a.cache, procs, devices, a.batch_size)
    except (RuntimeError, ValueError) as e:
        sys.exit(f"test_model_performance_parallel: error: {e}")
    # every shard is cached now: evaluation reads the cache (no judge calls when procs > 1)
    sys.exit(main(["judge", "eval", a.pairs, *common, "--json"]))


if __name__ == "__main__":  # shard processes are spawned: they import this file
    run()

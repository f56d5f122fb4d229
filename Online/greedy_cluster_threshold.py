"""The paper's online entry point: greedy clustering with a judge over trace pools.

    python Online/greedy_cluster_threshold.py                       # demo pool, lexical:tfidf judge
    python Online/greedy_cluster_threshold.py --pool POOL --judge sbert --sweep tau=0.1:0.9:0.05

Same flags as `deepprune prune` (all logic lives in deepprune.replay.prune / deepprune.replay.batched).
"""

import sys

from deepprune.cli import main

if __name__ == "__main__":
    sys.exit(main(["prune", *sys.argv[1:]]))

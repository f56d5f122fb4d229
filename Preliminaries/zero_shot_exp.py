"""Zero-shot LLM judge on a pair set (the paper's preliminary: untuned Qwen3-4B-Instruct, AUROC 0.66).

    python Preliminaries/zero_shot_exp.py PAIRS.jsonl --model /path/to/Qwen3-4B-Instruct-2507
    python Preliminaries/zero_shot_exp.py PAIRS.jsonl --model runs/gemma3-270m --both-orders --json

The same LLMJudge as a fine-tuned judge, pointed at an untuned instruct model: P("yes")
/ (P("yes") + P("no")) after the judge prompt. Models come from local paths.
"""

import argparse
import sys

from deepprune.cli import main

ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
ap.add_argument("pairs", help="pair file (.jsonl from `deepprune pairs build`)")
ap.add_argument("--model", required=True, help="local model directory")
ap.add_argument("--backend", default="transformers", choices=["transformers", "vllm"])
ap.add_argument("--batch", type=int, default=16)
ap.add_argument("--both-orders", action="store_true", help="score (a, b) and (b, a) and average")
ap.add_argument("--cache", default=None, help="scoring cache directory (resumable)")
ap.add_argument("--json", action="store_true")
a = ap.parse_args()

spec = f"llm:{a.model},backend={a.backend},batch={a.batch},both_orders={int(a.both_orders)}"
argv = ["judge", "eval", a.pairs, "--judge", spec, "--no-progress"]
argv += ["--cache", a.cache] if a.cache else []
argv += ["--json"] if a.json else []
sys.exit(main(argv))

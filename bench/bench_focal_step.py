"""Training step time with focal loss vs cross-entropy on the tiny Qwen3 model (one run each, same data).

    python bench/bench_focal_step.py

Reports the mean train step time of each and their ratio (target <= 1.10).
"""

import json
import tempfile
import time
from pathlib import Path

from deepprune.cli import main
from deepprune.dev.tiny_model import build_tiny_model
from deepprune.pairs import PairConfig, build_pairs, write_pairs

ROOT = Path(__file__).resolve().parents[1]
with tempfile.TemporaryDirectory() as d:
    d = Path(d)
    model = build_tiny_model(d / "tiny", hidden=128, layers=4)
    cfg = PairConfig(trunc="words:10", max_pairs_per_question=60)
    write_pairs(d / "pairs", build_pairs([ROOT / "DeepPrune_data/demo/demo_pool.jsonl"], cfg), cfg)
    times = {}
    for name, extra in (
        ("ce", ["focal_loss=false"]),
        ("focal", ["focal_loss=true"]),
        ("ce2", ["focal_loss=false"]),
        ("focal2", ["focal_loss=true"]),
    ):
        out = d / name
        t = time.perf_counter()
        main(["train", str(ROOT / "Offline/tiny_cpu_sft.yaml"), f"model_name_or_path={model}",
              f"dataset_dir={d / 'pairs'}", f"output_dir={out}", "max_steps=40", "max_samples=200", "logging_steps=40", *extra])  # fmt: skip
        state = json.loads((out / "trainer_state.json").read_text())
        rt = next(h["train_runtime"] for h in state["log_history"] if "train_runtime" in h)
        times[name] = rt / 40
        print(
            f"{name}: {1000 * times[name]:.1f} ms/step (wall incl. setup {time.perf_counter() - t:.1f} s)"
        )
    ce = (times["ce"] + times["ce2"]) / 2
    fo = (times["focal"] + times["focal2"]) / 2
    print(f"focal / cross-entropy step time ratio: {fo / ce:.3f} (target <= 1.10)")

"""The live problem set of `make solve-local`: one-step additions the local Gemma 3 270M often gets
wrong (cons@16: 65.0% on the first 20, Online/SOLVE.md; no pass@1 is measured), so methods can differ.

    python DeepPrune_data/make_live_problems.py      # writes DeepPrune_data/problems/add24.jsonl

Seeded (our choice: seed 1, 24 problems, addends 2-9); prompt: DeepPrune_data/prompts/fewshot_add.txt.
"""

import json
import random
from pathlib import Path

NAMES = ["Tom", "Mia", "Sam", "Ana", "Leo", "Eva", "Max", "Zoe"]
ITEMS = ["apples", "pens", "books", "coins", "cards", "shells"]

rng = random.Random(1)
rows = []
for k in range(24):
    name, item, a, b = rng.choice(NAMES), rng.choice(ITEMS), rng.randint(2, 9), rng.randint(2, 9)
    rows.append(
        {
            "id": f"add-{k:02d}",
            "gold": str(a + b),
            "answer_type": "math",
            "question": f"{name} has {a} {item} and gets {b} more. How many {item} does {name} have now?",
        }
    )
out = Path(__file__).parent / "problems" / "add24.jsonl"
out.write_text("".join(json.dumps(r) + "\n" for r in rows))
print(f"{out}: {len(rows)} problems")

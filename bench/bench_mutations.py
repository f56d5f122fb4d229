"""Hand-made mutations of the code behind published numbers, each applied, tested and undone: the
table of issue 29 (every one must be killed by the fast suite).

    python bench/bench_mutations.py            # about 10 min on 2 cores; prints mutation | outcome | test

Each mutation replaces one exact snippet of one file, runs the test files named with it
(``-m "not slow"``, stop at the first failure) and restores the file, whatever happens. A
mutation whose snippet is no longer in the file is reported as ``stale`` (the code moved: update
the list), never as killed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MUTATIONS = json.loads(r"""
[
 {
  "name": "replay ledger: a missing answer graded correct when the gold matches no trace",
  "file": "deepprune/replay/ledger.py",
  "old": "o.correct = float(o.answer >= 0 and o.answer == q.gold_class)",
  "new": "o.correct = float(o.answer == q.gold_class)",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "replay ledger: a 90% interval labelled 95%",
  "file": "deepprune/metrics.py",
  "old": "[2.5, 97.5]",
  "new": "[5, 95]",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "replay ledger: NaN questions enter the paired CI as zero",
  "file": "deepprune/metrics.py",
  "old": "d = diff_q[~np.isnan(diff_q)]",
  "new": "d = np.nan_to_num(diff_q)",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "prune: net tokens drop the judge's tokens",
  "file": "deepprune/replay/prune.py",
  "old": "row[\"net_tokens\"] = net_tokens(row, cfg.judge_ratio(judge))",
  "new": "row[\"net_tokens\"] = row[\"tokens\"] + row[\"probe_tokens\"]",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "compare: net tokens drop the judge's tokens",
  "file": "deepprune/replay/compare.py",
  "old": "p[\"net_tokens\"] = net_tokens(p, oc.judge_ratio(judge_of.get(fam)))",
  "new": "p[\"net_tokens\"] = p[\"tokens\"] + p[\"probe_tokens\"]",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "net tokens (shared): the judge term dropped",
  "file": "deepprune/replay/ledger.py",
  "old": "return row[\"tokens\"] + row.get(\"probe_tokens\", 0.0) + row.get(\"aux_tokens\", 0.0) * judge_ratio",
  "new": "return row[\"tokens\"] + row.get(\"probe_tokens\", 0.0)",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "replay ledger: the sequential reduction's denominator",
  "file": "deepprune/replay/ledger.py",
  "old": "1 - seq / base",
  "new": "1 - seq / cons_n[\"tokens\"]",
  "tests": [
   "tests/replay/test_ledger.py"
  ]
 },
 {
  "name": "probe judge: one cache for every question",
  "file": "deepprune/judges/probe.py",
  "old": "if self._question is not None and self._question[0] is texts:",
  "new": "if self._question is not None:",
  "tests": [
   "tests/judges/test_probe.py"
  ]
 },
 {
  "name": "probe judge: the unknown-probe rule (0.5 -> 0)",
  "file": "deepprune/judges/probe.py",
  "old": "(a == b).astype(float), 0.5)",
  "new": "(a == b).astype(float), 0.0)",
  "tests": [
   "tests/judges/test_probe.py"
  ]
 },
 {
  "name": "grading: one-way math equality",
  "file": "deepprune/grading.py",
  "old": ") or bool(\n            verify(pb, pa, timeout_seconds=timeout)\n        )",
  "new": ")",
  "tests": [
   "tests/test_grading.py"
  ]
 },
 {
  "name": "grading: integers compared as strings",
  "file": "deepprune/grading.py",
  "old": "return int(na) == int(nb)",
  "new": "return na == nb",
  "tests": [
   "tests/test_grading.py"
  ]
 },
 {
  "name": "truncate: frac:1 rejected",
  "file": "deepprune/truncate.py",
  "old": "if not 0 < f <= 1:",
  "new": "if not 0 < f < 1:",
  "tests": [
   "tests/test_truncate.py"
  ]
 },
 {
  "name": "solve: sequential tokens without the prefix phase",
  "file": "deepprune/engine/methods.py",
  "old": "led.sequential_tokens = max(ptok) + max((c for _, c in outs), default=0)",
  "new": "led.sequential_tokens = max((c for _, c in outs), default=0)",
  "tests": [
   "tests/engine/test_accounting.py"
  ]
 },
 {
  "name": "solve: re-read tokens never counted",
  "file": "deepprune/engine/methods.py",
  "old": "led.reread_tokens += fin.prompt_tokens or 0",
  "new": "led.reread_tokens += 0",
  "tests": [
   "tests/engine/test_accounting.py"
  ]
 },
 {
  "name": "solve: cons@k's budget from cons@N's total",
  "file": "deepprune/engine/methods.py",
  "old": "mean = before[\"cons@N\"][\"tokens\"] / r.n",
  "new": "mean = before[\"cons@N\"][\"tokens\"]",
  "tests": [
   "tests/engine/test_accounting.py"
  ]
 },
 {
  "name": "solve: judge calls per cluster instead of per pair",
  "file": "deepprune/engine/methods.py",
  "old": "led.judge_calls += len(m)",
  "new": "led.judge_calls += 1",
  "tests": [
   "tests/engine/test_solve.py"
  ]
 },
 {
  "name": "solve: the summary's mean",
  "file": "deepprune/engine/ledger.py",
  "old": "\"tokens\": mean(rs, \"tokens\")",
  "new": "\"tokens\": sum(r[\"tokens\"] for r in rs)",
  "tests": [
   "tests/engine/test_accounting.py",
   "tests/engine/test_ledger.py"
  ]
 },
 {
  "name": "solve: the summary's reduction",
  "file": "deepprune/engine/ledger.py",
  "old": "\"reduction_vs_consN\": 1 - sum(r[\"tokens\"] for r in paired) / b",
  "new": "\"reduction_vs_consN\": 1 - sum(r[\"tokens\"] for r in rs) / sum(base.values())",
  "tests": [
   "tests/engine/test_accounting.py",
   "tests/engine/test_ledger.py"
  ]
 },
 {
  "name": "solve: continuation max_tokens ignores the prefix",
  "file": "deepprune/engine/methods.py",
  "old": "req = r.request(i, max(cfg.max_tokens - ptok[i], 1), partial[i], ptok[i])",
  "new": "req = r.request(i, cfg.max_tokens, partial[i], ptok[i])",
  "tests": [
   "tests/engine/test_accounting.py"
  ]
 },
 {
  "name": "solve: prompt tokens counted as generated",
  "file": "deepprune/engine/ledger.py",
  "old": "        self.tokens += fin.completion_tokens\n",
  "new": "        self.tokens += fin.completion_tokens + (fin.prompt_tokens or 0)\n",
  "tests": [
   "tests/engine/test_accounting.py"
  ]
 },
 {
  "name": "Parallel-Probe: the 'in a row' reset dropped",
  "file": "deepprune/replay/methods/probing.py",
  "old": "np.where(last != winner, off + 1, 0)",
  "new": "np.where(last != winner, off + 1, off)",
  "tests": [
   "tests/replay/test_probing.py",
   "-k",
   "published"
  ]
 }
]
""")


def main() -> int:
    rows = []
    for m in MUTATIONS:
        f = ROOT / m["file"]
        orig = f.read_text(encoding="utf-8")
        if m["old"] not in orig:
            rows.append((m["name"], "stale", ""))
            continue
        f.write_text(orig.replace(m["old"], m["new"], 1), encoding="utf-8")
        try:
            r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-m", "not slow", "-p", "no:cacheprovider",
                                *m["tests"]], cwd=ROOT, capture_output=True, text=True)  # fmt: skip
        finally:
            f.write_text(orig, encoding="utf-8")
        failed = [
            ln.split(" ")[1] for ln in r.stdout.splitlines() if ln.startswith(("FAILED", "ERROR"))
        ]
        rows.append(
            (m["name"], "killed" if r.returncode else "SURVIVED", failed[0] if failed else "")
        )
        print(f"{rows[-1][1]:9s} {m['name']}", file=sys.stderr, flush=True)
    print("| mutation | outcome | killed by |\n|---|---|---|")
    for name, outcome, test in rows:
        print(f"| {name} | {outcome} | {test} |")
    return int(any(o != "killed" for _, o, _ in rows))


if __name__ == "__main__":
    sys.exit(main())

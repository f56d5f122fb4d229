"""The mutation score per module from mutmut's results (``make mutation`` runs mutmut first).

    python bench/mutation_scores.py      # a Markdown table: killed / (killed + survived) per module

Mutants no test reaches ("no tests") are listed apart: the score counts only mutants some selected
test runs (pyproject.toml's ``[tool.mutmut] pytest_add_cli_args_test_selection``).
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys


def main() -> int:
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        m = re.match(r"\s*deepprune\.([\w.]+?)\.x\S*?__mutmut_\d+: (.+)$", line)
        if m:
            by_module[m.group(1)][m.group(2).strip()] += 1
    if not by_module:
        print("no mutmut results here: run `make mutation` first", file=sys.stderr)
        return 2
    print("| module | killed | survived | no test reaches | score |\n|---|---|---|---|---|")
    for mod, c in sorted(by_module.items()):
        k, s = c["killed"], c["survived"]
        print(f"| {mod} | {k} | {s} | {c['no tests']} | {100 * k / max(k + s, 1):.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The mutation score per module from mutmut's results (``make mutation`` runs mutmut first).

    python bench/mutation_scores.py      # a Markdown table: caught / (caught + survived) per module
                                         # (caught: killed, or timed out: the tests hung on it)
    python bench/mutation_scores.py --prepare   # before `mutmut run` (make mutation runs it)
    python bench/mutation_scores.py --survivors # the survivors' names, one a line: mutmut keeps a
                                         # verdict, so `make mutation-recheck` reruns these after new tests

Mutants no test reaches ("no tests") are listed apart: the score counts only mutants some selected
test runs (pyproject.toml's ``[tool.mutmut] pytest_add_cli_args_test_selection``).
"""

from __future__ import annotations

import collections
import re
import subprocess
import sys


def only_mutate() -> list[str]:
    """The modules ``[tool.mutmut] only_mutate`` names (pyproject.toml)."""
    import tomllib

    with open("pyproject.toml", "rb") as fh:
        return list(tomllib.load(fh)["tool"]["mutmut"]["only_mutate"])


def prepare() -> None:
    """Before ``mutmut run``: a module newly added to ``only_mutate`` whose plain copy an earlier
    run left in ``mutants/`` (no ``.meta`` beside it) is removed, so mutmut mutates it instead of
    keeping the copy as up to date, and then the stats of which test reaches which function are
    removed too (else its mutants read "no tests"); the cached results of every other module stay."""
    import pathlib

    stale = False
    for path in only_mutate():
        copy = pathlib.Path("mutants") / path
        if copy.exists() and not copy.with_name(copy.name + ".meta").exists():
            copy.unlink()
            stale = True
    if stale:
        pathlib.Path("mutants/mutmut-stats.json").unlink(missing_ok=True)


def main() -> int:
    if sys.argv[1:] == ["--prepare"]:
        prepare()
        return 0
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    if sys.argv[1:] == ["--survivors"]:
        for line in out.splitlines():
            name, _, status = line.strip().rpartition(": ")
            if status == "survived":
                print(name)
        return 0
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for line in out.splitlines():
        m = re.match(r"\s*deepprune\.([\w.]+?)\.x\S*?__mutmut_\d+: (.+)$", line)
        if m:
            by_module[m.group(1)][m.group(2).strip()] += 1
    if not by_module:
        print("no mutmut results here: run `make mutation` first", file=sys.stderr)
        return 2
    missing = [
        m
        for m in only_mutate()
        # a package's __init__.py: mutmut names its mutants after the package
        if m.removesuffix(".py")
        .replace("/", ".")
        .removeprefix("deepprune.")
        .removesuffix(".__init__")
        not in by_module
    ]
    if missing:
        print(f"no mutants of {', '.join(missing)}: run `make mutation` again", file=sys.stderr)
        return 2
    print("| module | caught | of which hung | survived | no test reaches | score |")
    print("|---|---|---|---|---|---|")
    total = collections.Counter()
    for mod, c in [*sorted(by_module.items()), ("**all**", None)]:
        if c is None:
            c = total
        else:
            total += c
        # a mutant the tests hang on is caught too (timeout; segfault or suspicious: a child that
        # looped forever, killed by hand: mutmut's own timeout does not always fire)
        hung = c["timeout"] + c["segfault"] + c["suspicious"]
        k, s = c["killed"] + hung, c["survived"]
        print(f"| {mod} | {k} | {hung} | {s} | {c['no tests']} | {100 * k / max(k + s, 1):.0f}% |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The mutation score per module from mutmut's results (``make mutation`` runs mutmut first).

    python bench/mutation_scores.py      # a Markdown table: caught / (caught + survived - equivalent) per
                                         # module (caught: killed, or timed out: the tests hung on it;
                                         # equivalent: a survivor bench/mutants_equivalent.toml says no test can kill)
    python bench/mutation_scores.py --prepare   # before `mutmut run` (make mutation runs it)
    python bench/mutation_scores.py --survivors # the survivors' names, one a line: mutmut keeps a
                                         # verdict, so `make mutation-recheck` reruns these after new tests
    python bench/mutation_scores.py --more-tree # refresh .mutation-more/, the tree where
                                         # `make mutation-more` runs mutmut over the modules of [tool.deepprune.mutation-more]

Mutants no test reaches ("no tests") are listed apart: the score counts only mutants some selected
test runs (pyproject.toml's ``[tool.mutmut] pytest_add_cli_args_test_selection``).
"""

from __future__ import annotations

import collections
import math
import os
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
    keeping the copy as up to date; and the stats of which test reaches which function are
    removed, so mutmut collects them again over every selected test: it otherwise collects them
    only for new tests, and an old test that calls a function added since would be no test of it
    (its mutants "survive" untested). The verdicts stay, kept beside each module."""
    import pathlib

    for path in only_mutate():
        copy = pathlib.Path("mutants") / path
        if copy.exists() and not copy.with_name(copy.name + ".meta").exists():
            copy.unlink()
    pathlib.Path("mutants/mutmut-stats.json").unlink(missing_ok=True)


MORE_TREE = "mutation-more"


def more_tree(root: str = "." + MORE_TREE) -> None:
    """Refresh ``root`` as a copy of the working tree (git's tracked and unignored files) whose
    ``[tool.mutmut]`` mutates and selects what ``[tool.deepprune.mutation-more]`` names, every other
    setting kept. Its ``mutants/`` (mutmut's verdicts) stays: a second run retests only what
    changed; the stats of which test reaches which function go, as :func:`prepare` says why."""
    import json
    import pathlib
    import shutil

    import tomllib

    dest = pathlib.Path(root)
    dest.mkdir(exist_ok=True)
    for old in dest.iterdir():  # a file deleted here must not linger there; the cache stays
        if old.name not in ("mutants", ".hypothesis"):
            shutil.rmtree(old) if old.is_dir() and not old.is_symlink() else old.unlink()
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True,
                           check=True).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, files):
        src = pathlib.Path(name)
        if src.is_file() and not name.startswith(root + "/"):
            (dest / src).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / src)
    text = pathlib.Path("pyproject.toml").read_text()
    live = tomllib.loads(text)["tool"]["deepprune"][MORE_TREE]
    out, section, skipping = [], "", False
    for line in (
        text.splitlines()
    ):  # [tool.mutmut]'s two lists give way to the second set's; the rest is kept
        if line.startswith("["):
            section = line.strip()
        if skipping and line[:1].isspace():
            continue  # the rest of a list being replaced
        key, skipping = line.split("=")[0].strip(), False
        if section == "[tool.mutmut]" and line[:1].isalpha() and key in live:
            out.append(f"{key} = {json.dumps(live[key])}")
            skipping = True
        else:
            out.append(line)
    (dest / "pyproject.toml").write_text("\n".join(out) + "\n")
    (dest / "mutants" / "mutmut-stats.json").unlink(missing_ok=True)
    got = tomllib.loads((dest / "pyproject.toml").read_text())["tool"]["mutmut"]
    assert all(got[k] == v for k, v in live.items()), (
        "the live tree's [tool.mutmut] did not take the live lists"
    )


def main() -> int:
    if sys.argv[1:] == ["--prepare"]:
        prepare()
        return 0
    if sys.argv[1:] == ["--more-tree"]:
        more_tree()
        return 0
    out = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], capture_output=True,
                         text=True, check=False).stdout  # fmt: skip
    if sys.argv[1:] == ["--survivors"]:
        for line in out.splitlines():
            name, _, status = line.strip().rpartition(": ")
            if status == "survived":
                print(name)
        return 0
    rows, stale = table(out, equivalent())
    if not rows:
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
        not in {r[0] for r in rows}
    ]
    if missing:
        print(f"no mutants of {', '.join(missing)}: run `make mutation` again", file=sys.stderr)
        return 2
    for name, status in stale:
        print(
            f"{EQUIVALENT_FILE}: {name} is listed as equivalent but is {status}: not counted",
            file=sys.stderr,
        )
    print(
        "| module | caught | of which hung | survived | of which equivalent | no test reaches | score |"
    )
    print("|---|---|---|---|---|---|---|")
    for mod, k, hung, s, eq, none, score in rows:
        print(f"| {mod} | {k} | {hung} | {s} | {eq} | {none} | {score} |")
    return 0


# the surviving mutants no test can kill, with the reason of each (a TOML file, read by table())
EQUIVALENT_FILE = "bench/mutants_equivalent.toml"


def equivalent(path: str = EQUIVALENT_FILE) -> dict[str, str]:
    """{mutant name: why no test can kill it} from ``path`` ({} where there is none): its
    ``[reasons]`` name each reason once, its ``[equivalent]`` give each mutant one of them."""
    import tomllib

    if not os.path.exists(path):
        return {}
    with open(path, "rb") as f:
        data = tomllib.load(f)
    reasons = data.get("reasons", {})
    bad = sorted(r for r in data.get("equivalent", {}).values() if r not in reasons)
    if bad:
        raise SystemExit(f"{path}: a reason not in [reasons]: {bad[0]!r}")
    return {name: reasons[r] for name, r in data.get("equivalent", {}).items()}


def table(results: str, equivalent: dict[str, str]):
    """Rows (module, caught, hung, survived, of which equivalent, no tests, score) from ``mutmut
    results --all true``, then the **all** row; and the (name, status) of each mutant listed as
    equivalent that did not survive (killed, or renamed after its function changed). Score:
    caught / (caught + survived - equivalent), in percent to one decimal, rounded down."""
    by_module: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    stale = []
    for line in results.splitlines():
        m = re.match(r"\s*(deepprune\.([\w.]+?)\.x\S*?__mutmut_\d+): (.+)$", line)
        if not m:
            continue
        name, mod, status = m.group(1), m.group(2), m.group(3).strip()
        by_module[mod][status] += 1
        if name in equivalent:
            if status == "survived":
                by_module[mod]["equivalent"] += 1
            else:
                stale.append((name, status))
    # a listed name of a module measured here that mutmut does not know (its numbering changed)
    known = {ln.strip().rpartition(": ")[0] for ln in results.splitlines()}
    mods = {n: re.match(r"deepprune\.([\w.]+?)\.x", n) for n in equivalent}
    stale += [(n, "not a mutant here") for n in sorted(set(equivalent) - known)
              if mods[n] and mods[n].group(1) in by_module]  # fmt: skip
    rows, total = [], collections.Counter()
    for mod, c in [*sorted(by_module.items()), ("**all**", None)]:
        if c is None:
            if not rows:
                break
            c = total
        else:
            total += c
        # a mutant the tests hang on is caught too (timeout; segfault or suspicious: a child that
        # looped forever, killed by hand: mutmut's own timeout does not always fire)
        hung = c["timeout"] + c["segfault"] + c["suspicious"]
        k, s, eq = c["killed"] + hung, c["survived"], c["equivalent"]
        # one decimal, rounded down: 100% only where no countable survivor is left
        score = math.floor(1000 * k / max(k + s - eq, 1)) / 10
        rows.append((mod, k, hung, s, eq, c["no tests"], f"{score:.1f}%"))
    return rows, stale


if __name__ == "__main__":
    sys.exit(main())

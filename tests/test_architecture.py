"""The package's shape: no import cycles (lazy imports count), no private names across
modules, and the library never launches its own CLI."""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "deepprune"


def _modules() -> dict[str, Path]:
    out = {}
    for p in PKG.rglob("*.py"):
        parts = list(p.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = p
    return out


def _imports(mods: dict[str, Path]):
    """(module, imported deepprune module, imported names) for every import statement."""
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        for node in ast.walk(
            ast.parse(path.read_text())
        ):  # function bodies too: lazy imports count
            if isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.startswith("deepprune"):
                        yield name, a.name, []
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    pkg = name if is_pkg else name.rpartition(".")[0]
                    for _ in range(node.level - 1):
                        pkg = pkg.rpartition(".")[0]
                    base = f"{pkg}.{base}".rstrip(".")
                if not base.startswith("deepprune"):
                    continue
                plain = []
                for a in node.names:
                    if f"{base}.{a.name}" in mods:  # `from pkg import module`
                        yield name, f"{base}.{a.name}", []
                    else:
                        plain.append(a.name)
                if plain:
                    yield name, base, plain


def _graph() -> dict[str, set[str]]:
    """Module -> the modules importing it executes: what it names, and every package
    ``__init__`` on the way to a named module (``import deepprune.judges.prompt`` runs
    ``deepprune/judges/__init__.py`` first), but not the root ``deepprune`` (the notebook API,
    the top layer, which runs before any submodule) nor a package the importer is inside of
    (it is already executing)."""
    mods = _modules()
    graph = {m: set() for m in mods}
    for src, dst, _ in _imports(mods):
        if dst not in mods:
            continue
        parts = dst.split(".")
        for k in range(2, len(parts) + 1):
            target = ".".join(parts[:k])
            inside = src == target or src.startswith(target + ".")
            if target in mods and target != src and not (inside and k < len(parts)):
                graph[src].add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return stack[stack.index(n) :] + [n]
            if n not in state:
                found = visit(n)
                if found:
                    return found
        stack.pop()
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            found = visit(m)
            if found:
                return found
    return None


def test_no_import_cycles():
    cycle = _cycle(_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_test_sees_package_inits():
    """A back-arrow through a package ``__init__`` is a cycle (the shape the review found)."""
    graph = {"a": {"p.m"}, "p": {"p.lazy"}, "p.m": set(), "p.lazy": {"a"}}
    mods = {"a": ["p.m"]}
    implied = {m: set(e) for m, e in graph.items()}
    for src, dsts in mods.items():
        for d in dsts:
            implied[src].add(d.rpartition(".")[0])  # importing p.m runs p/__init__
    assert _cycle(graph) is None and _cycle(implied) == ["a", "p", "p.lazy", "a"]


# The parts, lowest first: a module may import its own part or a lower one (the rules below forbid
# some of those too). A part is named by module prefixes; the longest prefix wins
# (deepprune.engine.backends is Backends, deepprune.engine.solve is Engine).
LAYERS = [
    ("Base", ("errors", "rng", "artifacts", "configs", "metrics", "redact", "version")),
    ("Data", ("answers", "pools", "problems", "grading", "tokens", "truncate", "questions", "probes",
              "confidence", "vote", "stopping", "splits", "synth", "stats", "focal")),
    ("Algorithm", ("greedy",)),
    ("Judges", ("judges",)),
    ("Dev", ("dev",)),
    ("Datasets", ("pairs", "importers")),
    ("Train", ("train",)),
    ("JudgeLab", ("judgelab",)),
    ("Replay", ("replay",)),
    ("Serve", ("engine.server", "engine.llama_app")),
    ("Backends", ("engine.backends",)),
    ("Engine", ("engine",)),
    ("Proxy", ("proxy",)),
    ("Face", ("cli", "")),  # "": the package face, deepprune/__init__.py (the notebook API)
]  # fmt: skip
PART = {name: k for k, (name, _) in enumerate(LAYERS)}


def _part(mod: str) -> str:
    rest = mod.removeprefix("deepprune").removeprefix(".")
    best = None
    for name, prefixes in LAYERS:
        for pre in prefixes:
            if (rest == pre or rest.startswith(pre + ".") or (pre == "" and rest == "")) and (
                best is None or len(pre) > len(best[1])
            ):
                best = (name, pre)
    assert best is not None, f"{mod}: not in any part of test_architecture.LAYERS"
    return best[0]


# (rule, parts it applies to, parts they never import)
RULES = [
    ("Engine never imports Replay", {"Engine"}, {"Replay"}),
    ("Replay never imports Engine", {"Replay"}, {"Engine", "Backends", "Serve"}),
    ("Proxy never imports Replay", {"Proxy"}, {"Replay"}),
    ("a Base or Data module never imports the package face", {"Base", "Data"}, {"Face"}),
    ("Backends never import Engine", {"Backends"}, {"Engine"}),
    ("Judges never import JudgeLab, Datasets, Replay or Engine", {"Judges"},
     {"JudgeLab", "Datasets", "Replay", "Engine", "Backends", "Serve", "Train"}),
]  # fmt: skip


def _back_arrows(graph) -> list[str]:
    return [f"{src} -> {dst}" for src, dsts in graph.items() for dst in dsts
            if PART[_part(dst)] > PART[_part(src)]]  # fmt: skip


def _broken(graph, rule) -> list[str]:
    _, src_parts, dst_parts = rule
    return [f"{src} -> {dst}" for src, dsts in graph.items() if _part(src) in src_parts
            for dst in dsts if _part(dst) in dst_parts]  # fmt: skip


def test_every_module_has_a_part_and_no_part_imports_a_higher_one():
    graph = _graph()
    for m in graph:
        _part(m)
    assert not _back_arrows(graph), _back_arrows(graph)


@pytest.mark.parametrize("rule", RULES, ids=[r[0] for r in RULES])
def test_the_rule_holds(rule):
    assert not _broken(_graph(), rule), _broken(_graph(), rule)


# the arrows the last review found in the old tree, each of which a rule (or the layering) forbids
OLD_ARROWS = [
    ("deepprune.engine.early_stop", "deepprune.replay.methods.probing", "Engine never imports Replay"),
    ("deepprune.engine.ledger", "deepprune.replay.ledger", "Engine never imports Replay"),
    ("deepprune.artifacts", "deepprune", "a Base or Data module never imports the package face"),
    ("deepprune.importers", "deepprune.engine.problems", None),  # Datasets -> Engine: a back arrow
    ("deepprune.judges.probe", "deepprune.replay.ledger", "Judges never import JudgeLab, Datasets, Replay or Engine"),
    ("deepprune.engine.backends.replay", "deepprune.engine.run", "Backends never import Engine"),
    ("deepprune.proxy.app", "deepprune.replay.methods", "Proxy never imports Replay"),
    ("deepprune.replay.harness", "deepprune.engine.run", "Replay never imports Engine"),
]  # fmt: skip


@pytest.mark.parametrize("src, dst, rule", OLD_ARROWS)
def test_each_rule_fails_on_the_arrow_it_forbids(src, dst, rule):
    graph = {src: {dst}, dst: set()}
    if rule is None:
        assert _back_arrows(graph) == [f"{src} -> {dst}"]
        return
    (r,) = [r for r in RULES if r[0] == rule]
    assert _broken(graph, r) == [f"{src} -> {dst}"]


def test_no_module_is_too_long():
    sizes = {p: len(p.read_text().splitlines()) for p in PKG.rglob("*.py")}
    assert all(n <= 450 for n in sizes.values()), {str(p): n for p, n in sizes.items() if n > 450}
    assert sizes[PKG / "engine" / "solve.py"] < 300


def test_no_private_name_is_imported_across_modules():
    bad = [(src, dst, n) for src, dst, names in _imports(_modules()) for n in names
           if n.startswith("_") and not n.startswith("__")]  # fmt: skip
    assert not bad, bad


def test_the_library_never_launches_its_own_cli():
    import re

    argv = re.compile(
        r"(?<![\w\]])\[\s*[\"']deepprune[\"']\s*,|[\"']-m[\"']\s*,\s*[\"']deepprune\.cli"
    )
    for path in PKG.rglob("*.py"):  # (torchrun workers run the training module, not the CLI)
        assert not argv.search(path.read_text()), path


def test_every_docstring_example_runs():
    import doctest
    import importlib

    failed = {}
    for name in sorted(_modules()):
        if name.endswith("__main__"):
            continue
        res = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
        if res.failed:
            failed[name] = res.failed
    assert not failed, failed


def test_the_install_leaves_the_base_python_alone():
    """`make install` works inside .venv: the interpreter it was made from cannot import deepprune."""
    import subprocess
    import sys

    if sys.prefix == sys.base_prefix:
        import pytest

        pytest.skip("not running inside a virtual environment (a GPU user's own install)")
    base = Path(sys.base_prefix) / "bin" / "python3"
    out = subprocess.run([str(base), "-c", "import deepprune"], cwd="/", capture_output=True, text=True,
                         env={"PATH": "/usr/bin:/bin"})  # fmt: skip
    assert out.returncode != 0 and "No module named 'deepprune'" in out.stderr


def test_the_cli_is_thin_and_its_flags_come_from_the_jobs():
    lines = sum(len(p.read_text().splitlines()) for p in (PKG / "cli").glob("*.py"))
    assert lines < 500, f"deepprune/cli/ has {lines} lines"
    import argparse

    from deepprune.cli import build_parser
    from deepprune.configs import config_fields
    from deepprune.replay.prune import PruneJob

    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    flags = {o for a in sub.choices["prune"]._actions for o in a.option_strings}
    fields = {"--" + f.name.replace("_", "-") for f, *_ in config_fields(PruneJob)}
    assert fields <= flags and flags - fields == {"-h", "--help", "--config", "--print-config", "--no-ceiling",
                                                   "--no-shuffle", "--no-drop-textless", "--no-json"}  # fmt: skip


def test_ci_fails_where_a_user_run_skips_without_the_shared_data(tmp_path):
    """Without ../shared/data a user's `make test` skips the real-data tests with the reason; CI
    (DEEPPRUNE_REQUIRE_SHARED=1, set by .ci/run) fails them."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    test = tmp_path / "test_needs_shared.py"
    test.write_text("from tests.conftest import shared_pool\n\n"
                    "def test_it():\n    shared_pool('no-such-pool-here.jsonl')\n")  # fmt: skip
    run = lambda env: subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],  # noqa: E731
                                     cwd=ROOT, capture_output=True, text=True, env={**os.environ, **env})  # fmt: skip
    user = run({"DEEPPRUNE_REQUIRE_SHARED": ""})
    assert (
        user.returncode == 0
        and "1 skipped" in user.stdout
        and "real data not available" in user.stdout
    )
    ci = run({"DEEPPRUNE_REQUIRE_SHARED": "1"})
    assert ci.returncode == 1 and "1 failed" in ci.stdout and "needs it" in ci.stdout
    assert "DEEPPRUNE_REQUIRE_SHARED=1 make test" in (ROOT / ".ci" / "run").read_text()


def test_the_live_side_has_one_front_door_and_short_functions():
    """The proxy reaches the engine through three modules only (its backends, its front door
    engine.live, its config), and no function of engine/ or proxy/ runs past 60 lines."""
    engine = {dst for src, dsts in _graph().items() if src.startswith("deepprune.proxy")
              for dst in dsts if dst.startswith("deepprune.engine.")}  # fmt: skip
    assert engine <= {
        "deepprune.engine.backends",
        "deepprune.engine.live",
        "deepprune.engine.solve_config",
    }, engine
    # solve and generate run problems through the same door; neither builds methods, judges or
    # requests of its own (generate's traces: live.sample_trace on engine.run.Run)
    g = _graph()
    for caller in ("deepprune.engine.solve", "deepprune.engine.generate"):
        assert "deepprune.engine.live" in g[caller], caller
        assert not g[caller] & {
            "deepprune.engine.methods",
            "deepprune.judges",
        }, (caller, g[caller])
    gen = (PKG / "engine" / "generate.py").read_text()
    assert "Request(" not in gen and ".stream(" not in gen and ".complete(" not in gen
    long = []
    for sub in ("engine", "proxy"):
        for path in (PKG / sub).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if (
                    isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and node.end_lineno - node.lineno >= 60
                ):
                    long.append(
                        f"{path.name}:{node.name} ({node.end_lineno - node.lineno + 1} lines)"
                    )
    assert not long, long

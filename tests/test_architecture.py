"""The package's shape: no import cycles (lazy imports count), no private names across
modules, and the library never launches its own CLI."""

import ast
from pathlib import Path

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


def test_no_import_cycles():
    mods = _modules()
    graph = {m: set() for m in mods}
    for src, dst, _ in _imports(mods):
        if dst in mods and dst != src:
            graph[src].add(dst)
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n) :] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


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

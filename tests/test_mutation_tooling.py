"""`make mutation-more`'s tree (bench/mutation_scores.py --more-tree): a copy of the working tree whose
``[tool.mutmut]`` takes ``[tool.deepprune.mutation-more]``'s lists and keeps every other setting, and
whose mutmut cache survives a refresh while a file deleted from the project goes."""

import importlib.util
import subprocess
from pathlib import Path

import tomllib

ROOT = Path(__file__).resolve().parents[1]

PYPROJECT = """\
[project]
name = "x"

[tool.mutmut]
source_paths = ["pkg/"]
only_mutate = ["pkg/a.py",
               "pkg/b.py"]
pytest_add_cli_args_test_selection = ["tests/test_a.py"]
pytest_add_cli_args = ["-q", "-x"]
timeout_multiplier = 5.0

[tool.deepprune.mutation-more]
only_mutate = ["pkg/c.py"]
pytest_add_cli_args_test_selection = ["tests/test_c.py",
                                      "tests/test_d.py"]
"""


def _scores():
    spec = importlib.util.spec_from_file_location(
        "mutation_scores", ROOT / "bench" / "mutation_scores.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _git(*args, cwd):
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def test_the_second_tree_takes_the_second_lists_and_keeps_its_verdicts(tmp_path, monkeypatch):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "pkg").mkdir()
    for name in "abc":
        (tmp_path / "pkg" / f"{name}.py").write_text(f"X = {name!r}\n")
    (tmp_path / ".gitignore").write_text("/.mutation-more/\nignored.txt\n")
    (tmp_path / "ignored.txt").write_text("not copied")
    _git("init", "-q", cwd=tmp_path)
    _git("add", ".", cwd=tmp_path)
    monkeypatch.chdir(tmp_path)
    scores = _scores()

    scores.more_tree()
    tree = tmp_path / ".mutation-more"
    got = tomllib.loads((tree / "pyproject.toml").read_text())["tool"]
    assert got["mutmut"]["only_mutate"] == ["pkg/c.py"]
    assert got["mutmut"]["pytest_add_cli_args_test_selection"] == [
        "tests/test_c.py",
        "tests/test_d.py",
    ]
    # every other setting kept, and the table itself
    assert got["mutmut"]["source_paths"] == ["pkg/"] and got["mutmut"]["timeout_multiplier"] == 5.0
    assert got["mutmut"]["pytest_add_cli_args"] == ["-q", "-x"]
    assert got["deepprune"]["mutation-more"]["only_mutate"] == ["pkg/c.py"]
    assert (tree / "pkg" / "c.py").read_text() == "X = 'c'\n"
    assert not (tree / "ignored.txt").exists()  # git's ignored files stay behind
    assert not (tree / ".mutation-more").exists()  # never a copy of itself

    # a refresh: the verdicts stay, the stats of which test reaches which function go (an old test
    # calling a function added since is otherwise no test of it); a file deleted from the project
    # goes, an untracked one comes
    (tree / "mutants" / "pkg").mkdir(parents=True)
    (tree / "mutants" / "mutmut-stats.json").write_text("{}")
    (tree / "mutants" / "pkg" / "c.py.meta").write_text('{"exit_code_by_key": {}}')
    _git("rm", "-q", "-f", "pkg/b.py", cwd=tmp_path)
    (tmp_path / "pkg" / "new.py").write_text("Y = 1\n")
    scores.more_tree()
    assert (tree / "mutants" / "pkg" / "c.py.meta").read_text() == '{"exit_code_by_key": {}}'
    assert not (tree / "mutants" / "mutmut-stats.json").exists()
    assert not (tree / "pkg" / "b.py").exists()
    assert (tree / "pkg" / "new.py").exists()
    # the project's own pyproject is untouched
    assert (tmp_path / "pyproject.toml").read_text() == PYPROJECT


def test_the_score_counts_equivalent_survivors_out_and_says_a_stale_listing():
    """caught / (caught + survived - equivalent) per module and in all, a hung mutant caught; a
    mutant listed as equivalent that did not survive, or that mutmut no longer names in a module
    measured here, is said and not counted; one of a module measured elsewhere is not said."""
    scores = _scores()
    results = "\n".join([
        "    deepprune.a.x_f__mutmut_1: killed",
        "    deepprune.a.x_f__mutmut_2: survived",
        "    deepprune.a.x_f__mutmut_3: survived",
        "    deepprune.a.x_f__mutmut_4: timeout",
        "    deepprune.a.x_f__mutmut_5: no tests",
        "    deepprune.b.xǁCǁm__mutmut_1: survived",
        "    deepprune.b.xǁCǁm__mutmut_2: killed",
    ])  # fmt: skip
    eq = {"deepprune.a.x_f__mutmut_3": "why", "deepprune.b.xǁCǁm__mutmut_2": "why",
          "deepprune.a.x_f__mutmut_9": "why", "deepprune.z.x_g__mutmut_1": "why"}  # fmt: skip
    rows, stale = scores.table(results, eq)
    assert rows == [("a", 2, 1, 2, 1, 1, "66.6%"), ("b", 1, 0, 1, 0, 0, "50.0%"),
                    ("**all**", 3, 1, 3, 1, 1, "60.0%")]  # fmt: skip
    assert stale == [
        ("deepprune.b.xǁCǁm__mutmut_2", "killed"),
        ("deepprune.a.x_f__mutmut_9", "not a mutant here"),
    ]
    assert scores.table(results, {})[0][-1] == ("**all**", 3, 1, 3, 0, 1, "50.0%")
    assert scores.table("", eq) == ([], [])
    # rounded down: 1,999 of 2,000 is 99.9%, never the 100% of no survivor
    many = [f"    deepprune.c.x_f__mutmut_{i}: killed" for i in range(1999)]
    assert (
        scores.table("\n".join([*many, "    deepprune.c.x_f__mutmut_1999: survived"]), {})[0][0][-1]
        == "99.9%"
    )
    assert scores.table("\n".join(many), {})[0][0][-1] == "100.0%"


def test_the_equivalent_list_gives_each_mutant_a_named_reason(tmp_path):
    """Each listed mutant names one of ``[reasons]``: its text is the reason; a name that is no
    reason is one line; the project's own list reads."""
    scores = _scores()
    f = tmp_path / "eq.toml"
    f.write_text(
        '[reasons]\nname = "a type name nothing reads"\n[equivalent]\n"deepprune.a.x_f__mutmut_3" = "name"\n'
    )
    assert scores.equivalent(str(f)) == {"deepprune.a.x_f__mutmut_3": "a type name nothing reads"}
    assert scores.equivalent(str(tmp_path / "none.toml")) == {}
    f.write_text('[reasons]\n[equivalent]\n"deepprune.a.x_f__mutmut_3" = "nam"\n')
    try:
        scores.equivalent(str(f))
        raise AssertionError("an unknown reason was read")
    except SystemExit as e:
        assert str(e) == f"{f}: a reason not in [reasons]: 'nam'"
    assert all(scores.equivalent(str(ROOT / "bench" / "mutants_equivalent.toml")).values())

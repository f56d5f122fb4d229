import json

import pytest

from deepprune.cli import build_parser, main
from tests.conftest import DEMO_POOL


def _subcommands(parser, prefix=()):
    for action in parser._actions:
        if action.__class__.__name__ == "_SubParsersAction":
            for name, sub in action.choices.items():
                yield (*prefix, name)
                yield from _subcommands(sub, (*prefix, name))


@pytest.mark.parametrize("cmd", list(_subcommands(build_parser())))
def test_every_help_exits_zero(cmd, capsys):
    try:
        rc = main([*cmd, "--help"])
    except SystemExit as e:
        rc = e.code
    assert rc == 0 and capsys.readouterr().out.strip()


def test_stats_json(capsys):
    assert main(["pools", "stats", str(DEMO_POOL), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (
        out["questions"] == 12
        and out["traces"] == 384
        and out["tokens"]["counter"] == "regex-4char"
    )
    assert 0 < out["majority_vote_accuracy"] <= 1


@pytest.mark.parametrize(
    "content",
    [
        b'{"id": "a", "traces": [{"text": "x"}]}\n{broken\n',
        b"",
        b"\xff\xfe\x00bad",
        b'{"id": "a", "traces": [{}]}\n',
    ],
)
def test_validate_bad_files_one_line_error(tmp_path, capsys, content):
    p = tmp_path / "bad.jsonl"
    p.write_bytes(content)
    assert main(["pools", "validate", str(p)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(p) in err[0]


def test_pairs_build_failure_leaves_no_manifest(tmp_path, capsys):
    out = tmp_path / "pairs"
    assert main(["pairs", "build", str(tmp_path / "nope.jsonl"), "--out", str(out)]) == 2
    assert not (out / "manifest.json").exists()
    assert main(["pairs", "build", str(DEMO_POOL), "--out", str(out), "--trunc", "wrods:3"]) == 2
    assert "bad truncation spec" in capsys.readouterr().err


def test_pairs_build_and_synth(tmp_path, capsys):
    pool = tmp_path / "p.jsonl"
    assert main(["synth", "--out", str(pool), "--questions", "4", "--traces", "6"]) == 0
    assert main(["pairs", "build", str(pool), "--out", str(tmp_path / "pairs"), "--json"]) == 0
    assert (tmp_path / "pairs" / "manifest.json").exists()

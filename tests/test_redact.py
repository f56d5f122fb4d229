"""Keys never written or printed: the redaction function by hand, and a real ``solve`` run (against
the fault server) whose every output is grepped for the key."""

import json
import sys

import pytest

from deepprune.cli import main
from deepprune.cli.config import flat_values
from deepprune.dev.fault_server import FaultServer
from deepprune.engine.server import KEY_ENV, child_env, server_command
from deepprune.redact import MASK, redact_argv, redact_config, redact_text

KEY = "sk-test-0123456789abcdef"


@pytest.mark.parametrize(
    "text, want",
    [
        ("http://user:pass@host:8000/v1", "http://***@host:8000/v1"),
        ("https://tok@h/v1 failed", "https://***@h/v1 failed"),
        (
            "llm:endpoint=http://h/v1,api_key=K1,model=m",
            "llm:endpoint=http://h/v1,api_key=***,model=m",
        ),
        ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
        ("no secret here: user@example.com", "no secret here: user@example.com"),
        (f"HTTP 401: key {KEY} refused", f"HTTP 401: key {MASK} refused"),
        ("--judge llm:api_key=K2: needs model=", "--judge llm:api_key=***: needs model="),
    ],
)
def test_redact_text(text, want):
    assert redact_text(text, [KEY]) == want


def test_redact_argv_masks_flag_values_in_both_spellings():
    argv = ["solve", "--api-key", KEY, f"--upstream-api-key={KEY}", "--n", "8", "--judge",
            f"llm:endpoint=http://h/v1,api_key={KEY}"]  # fmt: skip
    out = redact_argv(argv)
    assert KEY not in json.dumps(out)
    assert out[:3] == ["solve", "--api-key", MASK] and out[4:6] == ["--n", "8"]
    assert out[3] == "--upstream-api-key=" + MASK


def test_redact_config_masks_key_fields_at_any_depth_and_leaves_the_rest():
    cfg = {"api_key": KEY, "n": 8, "nested": [{"upstream_api_key": KEY, "base_url": f"http://u:{KEY}@h/v1"}],
           "empty_key": None, "api_key_unset": None}  # fmt: skip
    out = redact_config(cfg)
    assert KEY not in json.dumps(out)
    assert out["n"] == 8 and out["nested"][0]["base_url"] == "http://***@h/v1"
    assert redact_config({"api_key": None}) == {"api_key": None}  # unset stays unset


def test_serve_hands_its_key_to_the_child_in_the_environment_not_its_command_line():
    cmd = server_command(8765, model=sys.executable)  # any existing file stands for the GGUF
    assert not any("api_key" in a or "api-key" in a for a in cmd)
    assert child_env(KEY)[KEY_ENV] == KEY and KEY_ENV not in child_env(None)


def _grep_tree(root, key) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and key.encode() in p.read_bytes()]


def test_a_solve_run_writes_and_prints_no_key(tmp_path, capsys, monkeypatch):
    """Every file of the run (config.json, results.json, records, the Markdown), stdout and stderr,
    --print-config and an error line: none holds the key, given as a flag, in a judge spec and in
    the URL's user info."""
    probs = tmp_path / "p.jsonl"
    probs.write_text('{"id": "q1", "question": "1+1?", "gold": "2"}\n')
    out, md = tmp_path / "run", tmp_path / "t.md"
    with FaultServer() as fs:
        url = fs.url("ok").replace("http://", f"http://user:{KEY}@")
        argv = ["solve", "--problems", str(probs), "--base-url", url, "--model", "fault-model", "--api-key", KEY,
                "--n", "3", "--max-tokens", "12", "--methods", "cons@N", "--retries", "0", "--no-progress",
                "--judge", "lexical:jaccard", "--out", str(out), "--markdown", str(md)]  # fmt: skip
        monkeypatch.setattr(sys, "argv", ["deepprune", *argv])
        assert main(argv) == 0
        assert (out / "config.json").exists() and (out / "results.json").exists()
        with pytest.raises(SystemExit):
            main([*argv, "--print-config"])
        # an error that names the server: the URL's key is masked there too
        bad = [a if a != url else url.replace(f":{fs.port}/", ":1/") for a in argv]
        assert main([*bad, "--out", str(tmp_path / "run2")]) == 2
    printed = capsys.readouterr()
    assert KEY not in printed.out + printed.err, "a key was printed"
    assert "api_key not printed" in printed.err  # said, never shown
    assert _grep_tree(tmp_path, KEY) == [], "a key was written"
    saved = json.loads((out / "config.json").read_text())
    assert (
        saved["provenance"]["command"][saved["provenance"]["command"].index("--api-key") + 1]
        == MASK
    )


def test_print_config_masks_a_judge_specs_key(capsys):
    with pytest.raises(SystemExit):
        main(["solve", "--backend", "replay", "--pool", "x.jsonl", "--judge",
              f"llm:endpoint=http://h/v1,model=m,api_key={KEY}", "--trunc", "tokens:8", "--print-config"])  # fmt: skip
    got = capsys.readouterr().out
    assert KEY not in got and "api_key=***" in got


def test_flat_values_still_round_trip_unredacted():  # redaction is at printing, not in the config
    from deepprune.engine.solve_config import SolveConfig

    assert flat_values(
        SolveConfig(judge=f"llm:endpoint=http://h/v1,model=m,api_key={KEY}", trunc="tokens:8")
    )["judge"].endswith(KEY)

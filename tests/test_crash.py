"""kill -9 in the middle of a long command, then rerun it: the result equals an uninterrupted
run's, bit for bit (every computation here is deterministic on CPU)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from deepprune.judges.crossencoder import MANIFEST
from tests.conftest import DEMO_POOL

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "TQDM_DISABLE": "1"}


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "deepprune.cli", *map(str, args)]


def _run(*args) -> None:
    subprocess.run(_cli(*args), env=ENV, check=True, capture_output=True, text=True)


def _kill_when(args, ready, timeout: float = 300.0) -> None:
    """Start the command, SIGKILL it as soon as ``ready()``; it must still have been running."""
    proc = subprocess.Popen(_cli(*args), env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + timeout
    while not ready():
        if proc.poll() is not None:
            pytest.fail(
                f"finished before the kill (rc {proc.returncode}): {proc.stderr.read()[-500:]}"
            )
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("never became ready")
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    assert proc.wait() == -signal.SIGKILL


def _lines(path: Path) -> int:
    return (
        sum(f.read_text(errors="replace").count("\n") for f in path.glob("*.jsonl"))
        if path.exists()
        else 0
    )


def _tree(d: Path) -> dict[str, bytes]:
    return {
        p.relative_to(d).as_posix(): p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def big_pool(tmp_path_factory):
    d = tmp_path_factory.mktemp("crash")
    _run("synth", "--out", d / "pool.jsonl", "--questions", 120, "--traces", 24, "--seed", 3)
    return d / "pool.jsonl"


def test_judge_score_killed_then_rerun_equals_uninterrupted(tmp_path, big_pool):
    _run("pairs", "build", big_pool, "--out", tmp_path / "pairs", "--max-pairs", 40)
    pairs = tmp_path / "pairs" / "train.jsonl"
    args = ["judge", "score", pairs, "--judge", "lexical:tfidf", "--batch-size", 1, "--no-progress"]
    cache = tmp_path / "cache"
    _kill_when(
        [*args, "--cache", cache, "--out", tmp_path / "a.jsonl"], lambda: _lines(cache) >= 200
    )
    assert not (tmp_path / "a.jsonl").exists()  # nothing that looks complete
    _run(*args, "--cache", cache, "--out", tmp_path / "a.jsonl")
    _run(*args, "--out", tmp_path / "b.jsonl")
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_pairs_build_killed_keeps_the_old_build_and_rerun_equals_uninterrupted(tmp_path, big_pool):
    out = tmp_path / "pairs"
    _run("pairs", "build", DEMO_POOL, "--out", out)
    old = _tree(out)
    _kill_when(["pairs", "build", big_pool, "--out", out],
               lambda: any(tmp_path.glob(".pairs.building-*/train.json")))  # fmt: skip
    assert _tree(out) == old  # the old build, whole
    _run("pairs", "build", big_pool, "--out", out)
    _run("pairs", "build", big_pool, "--out", tmp_path / "clean")
    assert _tree(out) == _tree(tmp_path / "clean")
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no leftovers


@pytest.mark.slow
def test_crossencoder_train_killed_then_resumed_equals_uninterrupted(tmp_path):
    small = ["--pool", DEMO_POOL, "--layers", 1, "--max-train-pairs", 96, "--batch-size", 4,
             "--max-length", 32, "--save-every", 2, "--no-progress"]  # fmt: skip
    out = tmp_path / "killed"
    _kill_when(
        ["crossencoder", "train", *small, "--out", out], lambda: (out / "checkpoint.pt").exists()
    )
    assert not (out / MANIFEST).exists()
    _run("crossencoder", "train", *small, "--out", out)
    _run("crossencoder", "train", *small, "--out", tmp_path / "clean")
    a, b = (json.loads((d / MANIFEST).read_text()) for d in (out, tmp_path / "clean"))
    assert a["sha256"] == b["sha256"] and a["steps"] == b["steps"]


@pytest.mark.slow
def test_features_crossfit_killed_then_rerun_equals_uninterrupted(tmp_path):
    args = ["features", "crossfit", "--pool", DEMO_POOL, "--trunc", "words:8", "--folds", 2,
            "--steps", 30, "--bootstrap", 50, "--no-progress"]  # fmt: skip
    cache = tmp_path / "cache"
    _kill_when([*args, "--cache", cache, "--markdown", tmp_path / "a.md"],
               lambda: len(list(cache.glob("*.npy"))) >= 3)  # fmt: skip
    assert not (tmp_path / "a.md").exists()
    _run(*args, "--cache", cache, "--markdown", tmp_path / "a.md")
    _run(*args, "--markdown", tmp_path / "b.md")
    body = [
        (tmp_path / f).read_text().split("\n", 1)[1] for f in ("a.md", "b.md")
    ]  # past the header
    assert body[0] == body[1]

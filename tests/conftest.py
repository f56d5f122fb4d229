import json
import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED_POOLS = ROOT.parent / "shared" / "data" / "pools"
DEMO_POOL = ROOT / "DeepPrune_data" / "demo" / "demo_pool.jsonl"
# solve on the replayed demo pool with a text judge (shared by the command-line tests)
REPLAY_SOLVE = [
    "--backend",
    "replay",
    "--pool",
    str(DEMO_POOL),
    "--judge",
    "lexical:jaccard",
    "--trunc",
    "tokens:8",
]


# CI (.ci/run) sets this: there a missing ../shared/data is a failure, never a silent skip
REQUIRE_SHARED = os.environ.get("DEEPPRUNE_REQUIRE_SHARED") == "1"


def shared_pool(name: str) -> Path:
    """Path of a shared real pool; skips with the reason when ../shared/data is absent (a user's
    ``make test``), fails when DEEPPRUNE_REQUIRE_SHARED=1 (CI)."""
    p = SHARED_POOLS / name
    if not p.exists():
        why = f"real data not available: {p} (expected ../shared/data beside the project)"
        if REQUIRE_SHARED:
            pytest.fail(why + "; DEEPPRUNE_REQUIRE_SHARED=1 (CI) needs it", pytrace=False)
        pytest.skip(why)
    return p


def free_port() -> int:
    """A TCP port nothing listens on now (127.0.0.1)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture
def tiny_pool(tmp_path):
    """Two questions; q1 has answers 5,5,7,None; q2 is a choice question."""
    rows = [
        {"id": "q1", "question": "What?", "gold": "5", "answer_type": "math", "traces": [
            {"text": "First x. Then y. So \\boxed{5}", "answer": "5", "num_tokens": 100},
            {"text": "First x. Then z. So \\boxed{5}", "num_tokens": 120},
            {"text": "Wait no. Thus \\boxed{7}", "num_tokens": 80},
            {"text": "Hmm I ran out", "answer": None, "num_tokens": 300, "finished": False},
        ]},
        {"id": "q2", "gold": "B", "answer_type": "choice", "traces": [
            {"text": "so the answer is (B)."}, {"text": "Therefore, the best answer is: (B)."},
            {"answer": "C"},
        ], "custom": {"keep": 1}},
    ]  # fmt: skip
    return write_jsonl(tmp_path / "tiny.jsonl", rows)


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    _fastest_first_under_mutmut(items)
    _xdist_groups(config, items)


def _fastest_first_under_mutmut(items):
    """Under mutmut (``make mutation``: it runs a mutant's tests with ``-x``, in file order), the
    tests run fastest first by the durations mutmut recorded: a mutant is killed by its quickest
    failing test instead of after every slow one before it. No verdict changes; outside mutmut
    (no ``MUTANT_UNDER_TEST``) nothing does."""
    stats = Path("mutmut-stats.json")
    if not os.environ.get("MUTANT_UNDER_TEST") or not stats.is_file():
        return
    try:
        took = json.loads(stats.read_text())["duration_by_test"]
    except (OSError, ValueError, KeyError):
        return
    items.sort(key=lambda item: took.get(item.nodeid, 0.0))


def _xdist_groups(config, items):
    """``--dist loadgroup`` (make test): tests marked ``xdist_group(NAME)`` run on one worker (every
    llama.cpp server test on one, so no two servers compete for the 2 cores). pytest-xdist 3.8 tags
    the group onto ``item._nodeid``, which pytest 9 no longer reads; the same tag is set here on the
    node id pytest 9 keeps (a no-op where xdist's own tag took)."""
    if not getattr(config.option, "loadgroup", False):
        return
    from _pytest.nodeid import coerce_node_id

    for item in items:
        names = sorted({str(m.args[0] if m.args else m.kwargs.get("name", "default"))
                        for m in item.iter_markers("xdist_group")})  # fmt: skip
        if names and "@" not in item.nodeid:
            item._id = coerce_node_id(f"{item.nodeid}@{'_'.join(names)}")

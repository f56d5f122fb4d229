import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deepprune.judgelab.scoring import load_cache, score_pairs
from deepprune.judges import JaccardJudge, JudgePair


class CountingJudge(JaccardJudge):
    def __init__(self):
        self.calls = 0

    def score(self, pairs):
        self.calls += len(pairs)
        return super().score(pairs)


def _pairs(n):
    return [JudgePair(f"w{i} common words", f"w{i + 1} common text") for i in range(n)]


def test_rerun_makes_zero_calls_and_corrupt_lines_rescored(tmp_path):
    pairs = _pairs(50)
    j = CountingJudge()
    s1, info = score_pairs(j, pairs, cache_dir=tmp_path, batch_size=8, progress=False)
    assert info["judge_calls"] == 50 and j.calls == 50
    s2, info = score_pairs(j, pairs, cache_dir=tmp_path, progress=False)
    assert info["judge_calls"] == 0 and np.array_equal(s1, s2)
    f = next(tmp_path.glob("shard-*.jsonl"))
    lines = f.read_text().splitlines()
    bad = json.loads(lines[3])
    bad["s"] = 0.123456  # checksum no longer matches
    lines[3] = json.dumps(bad)
    f.write_text("\n".join(lines) + '\n{"k": "trunc')  # plus a partial last line
    cache, corrupt = load_cache(tmp_path)
    assert corrupt == 2 and len(cache) == 49
    s3, info = score_pairs(j, pairs, cache_dir=tmp_path, progress=False)
    assert info["judge_calls"] == 1 and np.array_equal(s1, s3)


def test_shards_cover_everything_once(tmp_path):
    pairs = _pairs(31)
    j = CountingJudge()
    for k in range(3):
        score_pairs(j, pairs, cache_dir=tmp_path, shards=3, shard_id=k, progress=False)
    assert j.calls == 31
    s, info = score_pairs(j, pairs, cache_dir=tmp_path, progress=False)
    assert info["judge_calls"] == 0 and not np.isnan(s).any()


SLOW_SCORER = """
import sys, time
from deepprune.judges import JaccardJudge, JudgePair
from deepprune.judgelab.scoring import score_pairs
class Slow(JaccardJudge):
    def score(self, pairs):
        time.sleep(0.05)
        return super().score(pairs)
pairs = [JudgePair(f"w{i} a", f"w{i+1} b") for i in range(400)]
_, info = score_pairs(Slow(), pairs, cache_dir=sys.argv[1], batch_size=4, progress=False)
print(info["judge_calls"])
"""


def test_kill_minus_9_then_resume_scores_each_pair_once(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_SCORER, str(tmp_path)], env=env, stdout=subprocess.PIPE
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        files = list(tmp_path.glob("shard-*.jsonl"))
        if files and files[0].read_text().count("\n") >= 40:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done_before = len(load_cache(tmp_path)[0])
    assert 0 < done_before < 400
    out = subprocess.run(
        [sys.executable, "-c", SLOW_SCORER, str(tmp_path)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert int(out.stdout.strip()) == 400 - done_before
    assert len(load_cache(tmp_path)[0]) == 400


def test_cache_keys_follow_a_batch_dependent_fit_and_duplicates_score_once(tmp_path):
    from deepprune.judgelab.scoring import score_pairs
    from deepprune.judges import JudgePair, get_judge

    shared = JudgePair("the cat sat on the mat", "the dog sat on the mat")
    file_a = [shared, JudgePair("alpha beta", "beta gamma")]
    file_b = [shared, JudgePair("the the the", "mat mat cat")]

    def scored(pairs, cache):
        judge = get_judge("lexical:tfidf")
        judge.prepare([t for p in pairs for t in (p.prefix_a, p.prefix_b)])  # the file's own IDF
        return score_pairs(judge, pairs, cache_dir=cache, progress=False)

    score_a, _ = scored(file_a, tmp_path / "c")
    alone_b, _ = scored(file_b, None)
    via_cache, info = scored(file_b, tmp_path / "c")  # file A's scores must not leak into B's
    assert via_cache[0] == alone_b[0] != score_a[0] and info["cached"] == 0
    dup = [shared, JudgePair("x", "y"), shared, shared]
    _, info = score_pairs(get_judge("lexical:jaccard"), dup, batch_size=1, progress=False)
    assert info["judge_calls"] == 2  # identical pairs in different batches are scored once


def test_embedding_cache_is_written_batch_by_batch(tmp_path, monkeypatch):
    from deepprune.judgelab.scoring import load_cache, score_pairs
    from deepprune.judges import JudgePair, get_judge
    from deepprune.judges.embedding import EmbeddingJudge

    judge = get_judge("sbert")
    pairs = [JudgePair(f"prefix {k} a", f"prefix {k} b") for k in range(6)]
    judge.prepare([t for p in pairs for t in (p.prefix_a, p.prefix_b)])  # embeds nothing up front
    assert not judge._cache
    real, calls = EmbeddingJudge.score, []

    def dies_on_third_batch(self, batch):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt  # the kill arrives mid-run
        return real(self, batch)

    monkeypatch.setattr(EmbeddingJudge, "score", dies_on_third_batch)
    with pytest.raises(KeyboardInterrupt):
        score_pairs(judge, pairs, cache_dir=tmp_path, batch_size=2, progress=False)
    assert len(load_cache(tmp_path)[0]) == 4  # the two finished batches survived

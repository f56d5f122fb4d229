import json
import os
import signal
import subprocess
import sys
import time

import numpy as np

from deepprune.judges import JaccardJudge, JudgePair
from deepprune.judges.scoring import load_cache, score_pairs


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
from deepprune.judges.scoring import score_pairs
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

from itertools import combinations

from deepprune.synth import SynthConfig, synth_pool
from deepprune.truncate import truncate


def test_deterministic():
    a = synth_pool(SynthConfig(questions=3, traces=8, seed=5))
    b = synth_pool(SynthConfig(questions=3, traces=8, seed=5))
    assert [t.to_dict() for q in a for t in q.traces] == [t.to_dict() for q in b for t in q.traces]


def test_redundancy_lengths_and_prefix_signal():
    qs = synth_pool(SynthConfig(questions=40, traces=32, seed=1))
    same = total = 0
    for q in qs:
        for a, b in combinations(q.traces, 2):
            total += 1
            same += a.answer == b.answer
    assert same / total >= 0.8
    toks = sorted(t.num_tokens for q in qs for t in q.traces)
    assert 2000 < toks[len(toks) // 2] < 4500
    # prefixes without the final answer
    assert all("boxed" not in truncate(t.text, "words:25") for q in qs for t in q.traces)


def test_confs_optional():
    q = synth_pool(SynthConfig(questions=1, traces=2, confs=True))[0]
    assert all(len(t.confs) == t.num_tokens for t in q.traces)

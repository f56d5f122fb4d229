"""Resumable, shardable judge scoring of pair files with an append-only on-disk cache (the judge lab).

    deepprune judge score DeepPrune_data/demo_pairs/test.jsonl --judge lexical:tfidf --cache runs/cache

The cache is a directory of JSONL files, one per shard (``shard-I-of-N.jsonl``), each
line ``{"k": key, "s": score, "c": check}`` where ``key`` hashes the judge's ``cache_id``
(its id, plus the fitted vocabulary for TF-IDF) and the two prefixes and ``check`` is a CRC of key and score. A killed run loses at most its
unflushed batch; a rerun scores only pairs not in the cache, and a corrupt or partial
line is ignored (its pair is re-scored), never trusted.
"""

from __future__ import annotations

import hashlib
import json
import os
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.errors import ConfigError
from deepprune.judges.base import Judge, JudgePair, judge_scores


def pair_key(judge_id: str, pair: JudgePair) -> str:
    h = hashlib.sha1()
    for part in (judge_id, pair.prefix_a, pair.prefix_b):
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


def _check(key: str, score: float) -> int:
    return zlib.crc32(f"{key}:{score!r}".encode())


def load_cache(cache_dir: str | os.PathLike) -> tuple[dict[str, float], int]:
    """All valid cached scores in a cache directory, and the count of corrupt lines ignored."""
    cache: dict[str, float] = {}
    bad = 0
    d = Path(cache_dir)
    if not d.is_dir():
        return cache, 0
    for f in sorted(d.glob("shard-*.jsonl")):
        with open(f, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                try:
                    r = json.loads(line)
                    k, s, c = r["k"], float(r["s"]), int(r["c"])
                    if _check(k, s) != c:
                        raise ValueError
                except (ValueError, KeyError, TypeError):
                    bad += 1
                    continue
                cache[k] = s
    return cache, bad


def score_pairs(
    judge: Judge,
    pairs: Sequence[JudgePair],
    cache_dir: str | os.PathLike | None = None,
    shards: int = 1,
    shard_id: int = 0,
    batch_size: int = 64,
    progress: bool = True,
    labels: Sequence[int | None] | None = None,
    loaded: tuple[dict[str, float], int] | None = None,
) -> tuple[np.ndarray, dict]:
    """Score pairs (this shard's share when sharded), reusing and extending the cache.

    ``loaded``: the cache as :func:`load_cache` read it (callers scoring question by question
    read it once; new scores are added to that dict).

    Returns:
        (scores, info): scores for *all* pairs where known (NaN for other shards' pairs
        not yet cached), and counts: judge_calls (pairs scored now), cached, corrupt_lines.
    """
    if batch_size < 1 or shards < 1:
        raise ConfigError(
            f"batch_size and shards must be >= 1, got batch_size={batch_size}, shards={shards}"
        )
    if not 0 <= shard_id < shards:
        raise ConfigError(f"--shard-id must be in [0, {shards}), got {shard_id}")
    keys = [pair_key(judge.cache_id, p) for p in pairs]
    cache, bad = loaded or (load_cache(cache_dir) if cache_dir else ({}, 0))
    first_of: dict[str, int] = {}  # identical pairs are scored once, whichever batch they fall in
    for i in range(len(pairs)):
        if i % shards == shard_id and keys[i] not in cache:
            first_of.setdefault(keys[i], i)
    mine = sorted(first_of.values())
    cached = sum(1 for i in range(len(pairs)) if i % shards == shard_id and keys[i] in cache)
    fh = None
    if cache_dir and mine:
        Path(cache_dir).mkdir(parents=True, exist_ok=True)
        fh = open(Path(cache_dir) / f"shard-{shard_id}-of-{shards}.jsonl", "a", encoding="utf-8")
    from tqdm import tqdm

    calls = 0
    bar = tqdm(total=len(mine), unit="pair", desc=f"scoring {judge.id}", disable=not progress)
    try:
        for start in range(0, len(mine), batch_size):
            idx = mine[start : start + batch_size]
            uniq = list(dict.fromkeys(keys[i] for i in idx))  # identical pairs are scored once
            first = {keys[i]: i for i in reversed(idx)}
            s = judge_scores(judge, [pairs[first[k]] for k in uniq],
                             None if labels is None else [labels[first[k]] for k in uniq])  # fmt: skip
            calls += len(uniq)
            for k, v in zip(uniq, s):
                cache[k] = float(v)
            if fh:
                fh.write(
                    "".join(
                        json.dumps({"k": k, "s": float(v), "c": _check(k, float(v))}) + "\n"
                        for k, v in zip(uniq, s)
                    )
                )
                fh.flush()
            bar.update(len(idx))
    finally:
        bar.close()
        if fh:
            fh.close()
    scores = np.array([cache.get(k, np.nan) for k in keys])
    return scores, {
        "judge_calls": calls,
        "cached": cached,
        "corrupt_lines": bad,
        "pairs": len(pairs),
    }


def device_spec(spec: str, device: str) -> str:
    """A judge spec pinned to one device: ``sbert`` -> ``sbert:device=cuda:0``."""
    return f"{spec},device={device}" if ":" in spec else f"{spec}:device={device}"


def local_devices() -> list[str]:
    """One entry per visible CUDA device (``cuda:0`` ...); empty without CUDA or torch."""
    try:
        import torch

        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    except ImportError:
        return []


def score_shard(
    pair_file: str | os.PathLike,
    judge_spec: str,
    cache_dir: str | os.PathLike,
    shards: int = 1,
    shard_id: int = 0,
    batch_size: int = 64,
    progress: bool = True,
) -> dict:
    """Score one shard of a pair file into the cache (what ``deepprune judge score --shard-id`` does)."""
    job = ScoreJob(pairs=str(pair_file), judge=judge_spec, cache=str(cache_dir), shards=shards, shard_id=shard_id,
                   batch_size=batch_size, progress=progress)  # fmt: skip
    return job.scored(need_labels=False)[2]


def launch_shards(
    pair_file: str | os.PathLike,
    judge_spec: str,
    cache_dir: str | os.PathLike,
    procs: int,
    devices: Sequence[str] = (),
    batch_size: int = 64,
) -> None:
    """Score a pair file in ``procs`` parallel processes, shard i on ``devices[i]`` when given.

    Each process runs :func:`score_shard` (spawned, so CUDA starts fresh in each), writing its
    own cache file; a failed shard raises with its exit code (its finished work stays cached,
    so rerunning resumes it).
    """
    import multiprocessing as mp

    if procs < 1:
        raise ConfigError(f"procs must be >= 1, got {procs}")
    ctx = mp.get_context("spawn")
    running = []
    for i in range(procs):
        spec = device_spec(judge_spec, devices[i]) if i < len(devices) else judge_spec
        proc = ctx.Process(
            target=score_shard, args=(str(pair_file), spec, str(cache_dir), procs, i, batch_size)
        )
        proc.start()
        running.append(proc)
    for proc in running:
        proc.join()
    failed = [(i, p.exitcode) for i, p in enumerate(running) if p.exitcode != 0]
    if failed:
        raise RuntimeError(
            f"shard(s) failed: {failed} (finished pairs are cached; rerun to resume)"
        )


@dataclass
class PairFileJob:
    """A judge over a pair file: what ``judge score`` and ``judge eval`` share."""

    pairs: str = field(
        default="", metadata={"nargs": None}
    )  # pair file (.jsonl from `deepprune pairs build`)
    judge: str = field(
        default="", metadata={"required": True}
    )  # judge spec, e.g. lexical:tfidf, sbert, llm:PATH
    cache: str | None = None  # cache directory: resumes a killed run, reruns make no judge calls
    shards: int = 1  # split the pairs into this many shards
    shard_id: int = 0  # the shard this process scores (0-based)
    batch_size: int = 64  # pairs (or examples) per batch
    progress: bool = True  # show a progress bar

    def scored(self, need_labels: bool):
        """(rows, scores, info, judge) of the pair file."""
        from deepprune.judges import get_judge
        from deepprune.pairs import read_pair_file

        rows = read_pair_file(self.pairs, need_labels=need_labels)
        pairs = [JudgePair(r["prefix_a"], r["prefix_b"], r.get("question")) for r in rows]
        judge = get_judge(self.judge)
        kinds = {r.get("reads", "text") for r in rows}
        if kinds != {judge.reads} and judge.reads != "labels":
            raise ConfigError(f"{self.pairs}: the prefixes are {'/'.join(sorted(kinds))}, and judge {judge.id!r} "
                              f"reads {judge.reads} (answer probes: --judge probe; text: any other judge)")  # fmt: skip
        kw = {"cache_dir": self.cache, "shards": self.shards, "shard_id": self.shard_id,
              "batch_size": self.batch_size}  # fmt: skip
        labels = [r.get("label") for r in rows]
        if not judge.fits_texts:
            scores, info = score_pairs(judge, pairs, progress=self.progress, labels=labels, **kw)
            return rows, scores, info, judge
        # a judge fitted on the texts (TF-IDF) is fitted on each question's prefixes, as online
        from tqdm import tqdm

        groups: dict = {}
        for n, r in enumerate(rows):
            groups.setdefault((r.get("source"), r.get("qid")), []).append(n)
        scores, info = np.full(len(pairs), np.nan), {}
        loaded = load_cache(self.cache) if self.cache else ({}, 0)  # read once, not per question
        for idx in tqdm(
            groups.values(), desc=f"scoring {judge.id}", unit="question", disable=not self.progress
        ):
            ps = [pairs[n] for n in idx]
            judge.prepare(list(dict.fromkeys(t for p in ps for t in (p.prefix_a, p.prefix_b))))
            s, part = score_pairs(
                judge, ps, progress=False, labels=[labels[n] for n in idx], loaded=loaded, **kw
            )
            scores[idx] = s
            info = {k: info.get(k, 0) + v for k, v in part.items()} | {
                "corrupt_lines": part["corrupt_lines"]
            }
        return rows, scores, info, judge


@dataclass
class ScoreJob(PairFileJob):
    """``deepprune judge score``: score a pair file (resumable, shardable)."""

    out: str | None = None  # write per-pair scores as JSONL

    def run(self) -> int:
        """Scores to ``out`` (only when every pair has one); the run's counts on stderr."""
        import math
        import sys

        from deepprune.artifacts import atomic_write

        rows, scores, info, judge = self.scored(need_labels=False)
        if self.out:
            missing = sum(math.isnan(s) for s in scores)
            if missing:  # never a file that looks complete but is not
                raise ConfigError(f"--out {self.out}: {missing} of {len(scores)} pairs have no score yet (other "
                                  "shards); run every shard with --cache, then rerun without --shards to write them all")  # fmt: skip
            keys = ("qid", "source", "i", "j", "label")
            lines = [
                json.dumps({**{k: r.get(k) for k in keys}, "score": float(s)})
                for r, s in zip(rows, scores)
            ]
            Path(self.out).parent.mkdir(parents=True, exist_ok=True)
            atomic_write(Path(self.out), "\n".join(lines) + "\n")
        print(json.dumps({"judge": judge.id, **info}), file=sys.stderr)
        return 0


@dataclass
class EvalJob(PairFileJob):
    """``deepprune judge eval``: AUROC, within-question AUROC, TNR@0.2, accuracy/F1, bootstrap CIs."""

    bootstrap: int = 1000  # resamples over questions (0: none)
    roc: bool = False  # include ROC curve points
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        from deepprune.metrics import judge_metrics

        rows, scores, info, judge = self.scored(need_labels=True)
        groups = [f"{r.get('source')}/{r.get('qid')}" for r in rows]
        m = judge_metrics(scores, [r["label"] for r in rows], groups=groups,
                          sources=[r.get("source") for r in rows], n_boot=self.bootstrap)  # fmt: skip
        if not self.roc:
            m.pop("roc", None)
        return [
            {
                "judge": judge.id,
                "pair_file": str(self.pairs),
                **info,
                **m,
                "questions": len(set(groups)),
            }
        ]

"""Pairwise judge datasets: pairs of truncated traces labelled "same final answer?".

    deepprune pairs build DeepPrune_data/demo/demo_pool.jsonl --out DeepPrune_data/demo_pairs --trunc words:25

From one or more pools: all trace pairs per question (or a seeded sample of at most
``max_pairs_per_question``), label 1 when the two final answers are equivalent
(:class:`deepprune.grading.AnswerClasses`), split train/test *by question*,
oversample the minority class of the train split (DeepPrune §3.2: 2x), and write

- ``train.json`` / ``test.json``: Alpaca records (``instruction``, ``input``, ``output``)
  for LLaMA-Factory, with ``dataset_info.json`` registering them;
- ``train.jsonl`` / ``test.jsonl``: the same pairs with metadata (question id, source
  pool, trace indices, label) for judge evaluation;
- ``manifest.json``: sources, truncation, seed, counts per label.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output, atomic_write, check_outputs, read_jsonl, umask
from deepprune.errors import ConfigError
from deepprune.judges.prompt import NEGATIVE, POSITIVE, judge_prompt
from deepprune.questions import PreparedQuestion, prepare_pool
from deepprune.splits import question_folds, split_questions  # noqa: F401 (their old home)
from deepprune.tokens import get_counter
from deepprune.truncate import PAPER_TRUNC, parse_spec


@dataclass
class PairConfig:
    """How pairs are built. Defaults marked "paper" follow DeepPrune §3; others are our choice."""

    trunc: str = PAPER_TRUNC  # prefix spec: tokens:K, words:K, frac:F, probe:J or full (DeepPrune §4: words:25)
    max_pairs_per_question: int | None = None  # None: all pairs (our choice)
    test_fraction: float = 0.2  # our choice
    oversample: float = 2.0  # paper: minority class oversampled 2x
    both_orders: bool = False  # each pair in both orders (a, b) and (b, a)
    include_question: bool = False  # put the question in the judge prompt
    seed: int = 0  # random seed (our choice: 0)
    tokenizer: str | None = (
        None  # local tokenizer path for token counts (default: the built-in counter)
    )

    def __post_init__(self):
        parse_spec(self.trunc)
        if not 0 <= self.test_fraction < 1:
            raise ConfigError(f"test_fraction must be in [0, 1), got {self.test_fraction}")
        if self.oversample < 1:
            raise ConfigError(f"oversample must be >= 1, got {self.oversample}")
        if self.max_pairs_per_question is not None and self.max_pairs_per_question <= 0:
            raise ConfigError("max_pairs_per_question must be positive")


@dataclass
class Pair:
    """One labelled pair of truncated traces of the same question."""

    source: str
    qid: str
    i: int
    j: int
    prefix_a: str
    prefix_b: str
    label: int
    question: str | None = None
    reads: str = "text"  # what the prefixes are: "text", or "probes" (probe:J)

    def alpaca(self, include_question: bool) -> dict:
        instruction, inp = judge_prompt(
            self.prefix_a, self.prefix_b, self.question if include_question else None
        )
        return {
            "instruction": instruction,
            "input": inp,
            "output": POSITIVE if self.label else NEGATIVE,
        }


def question_pairs(
    q: PreparedQuestion,
    cfg: PairConfig,
    rng: random.Random,
    skipped: dict[str, int] | None = None,
) -> list[Pair]:
    """All (or a sampled subset of) labelled pairs of one prepared question.

    ``q`` comes from :func:`deepprune.questions.prepare_pool` with ``cfg.trunc`` and
    ``cfg.tokenizer``: its :meth:`~deepprune.questions.PreparedQuestion.answered` view holds
    the traces that have an answer and a prefix, and its pairs are these traces'
    ``itertools.combinations`` (pool indices ``i``, ``j`` kept for the pair file).
    """
    a = q.answered()
    if skipped is not None:
        skipped["traces_without_answer_or_text"] = (
            skipped.get("traces_without_answer_or_text", 0) + q.n - a.n
        )
    idx_pairs = list(itertools.combinations(range(a.n), 2))
    if cfg.max_pairs_per_question is not None and len(idx_pairs) > cfg.max_pairs_per_question:
        idx_pairs = sorted(rng.sample(idx_pairs, cfg.max_pairs_per_question))
    reads = "probes" if parse_spec(cfg.trunc).kind == "probe" else "text"
    source, _, qid = a.key.rpartition("/")
    out = []
    for i, j in idx_pairs:
        for x, y in [(i, j), (j, i)] if cfg.both_orders else [(i, j)]:
            out.append(Pair(source, qid, int(a.index[x]), int(a.index[y]), a.prefixes[x], a.prefixes[y],
                            int(a.labels[x] == a.labels[y]), a.question, reads))  # fmt: skip
    return out


def pair_labels(labels, ij) -> np.ndarray:
    """1 where the two traces of each index pair (rows of ``ij``) share an answer class."""
    labels, ij = np.asarray(labels), np.asarray(ij, dtype=int).reshape(-1, 2)
    return (labels[ij[:, 0]] == labels[ij[:, 1]]).astype(np.int64)


def minority_repeats(labels: Sequence[int], factor: float, rng: random.Random) -> list[int]:
    """Indices to append so the minority label's count becomes ``factor`` times larger."""
    if factor == 1:
        return []
    pos = [k for k, y in enumerate(labels) if y == 1]
    neg = [k for k, y in enumerate(labels) if y == 0]
    minority = pos if len(pos) < len(neg) else neg
    if not minority:
        return []
    whole, frac = divmod(factor - 1, 1)
    return minority * int(whole) + rng.sample(minority, round(frac * len(minority)))


def oversample(pairs: list[Pair], factor: float, rng: random.Random) -> list[Pair]:
    """Repeat the minority-label pairs so their count becomes ``factor`` times larger."""
    labels = [p.label for p in pairs]
    if factor == 1 or not (0 < sum(labels) < len(labels)):  # nothing to repeat
        return list(pairs)
    out = pairs + [pairs[k] for k in minority_repeats(labels, factor, rng)]
    rng.shuffle(out)
    return out


def label_counts(pairs: Iterable[Pair]) -> dict[str, int]:
    counts = {POSITIVE: 0, NEGATIVE: 0}
    for p in pairs:
        counts[POSITIVE if p.label else NEGATIVE] += 1
    return counts


def build_pairs(pools: Sequence[str | os.PathLike], cfg: PairConfig) -> dict:
    """Build train/test pairs from pools. Returns {"train", "test", "manifest"}."""
    rng = random.Random(cfg.seed)
    skipped: dict[str, int] = {}
    by_question: dict[str, list[Pair]] = {}
    for path in pools:
        for q in prepare_pool(path, cfg.trunc, cfg.tokenizer):
            if q.key in by_question:  # two pools of one file name: never drop one silently
                raise ConfigError(f"{path}: question {q.qid!r} has the key {q.key!r} of a question already read "
                                  "(two pools with the same file name?); rename one")  # fmt: skip
            by_question[q.key] = question_pairs(q, cfg, rng, skipped)
    if not any(by_question.values()):
        raise ConfigError(f"{', '.join(map(str, pools))}: no pairs: no question has two traces with an "
                          f"answer and text (skipped: {skipped})")  # fmt: skip
    train_keys, test_keys = split_questions(list(by_question), cfg.test_fraction, cfg.seed)
    train = [p for k in sorted(train_keys) for p in by_question[k]]
    test = [p for k in sorted(test_keys) for p in by_question[k]]
    before = label_counts(train)
    train = oversample(train, cfg.oversample, rng)
    manifest = {
        "sources": [str(p) for p in pools],
        "config": asdict(cfg),
        "token_counter": get_counter(cfg.tokenizer).name,
        "questions": {"train": len(train_keys), "test": len(test_keys)},
        "train_labels_before_oversampling": before,
        "train_labels": label_counts(train),
        "test_labels": label_counts(test),
        "skipped": skipped,
    }
    return {"train": train, "test": test, "manifest": manifest,
            "keys": {"train": sorted(train_keys), "test": sorted(test_keys)}}  # fmt: skip


def pair_record(p: Pair) -> dict:
    return {"source": p.source, "qid": p.qid, "i": p.i, "j": p.j, "label": p.label,
            "question": p.question, "prefix_a": p.prefix_a, "prefix_b": p.prefix_b,
            **({"reads": p.reads} if p.reads != "text" else {})}  # fmt: skip


def _remove_stale(out: Path) -> None:
    """Remove what a killed build left beside ``out`` (its process is gone); a live build's
    directories are left alone. A killed swap's old directory is put back first."""
    import re
    import shutil

    for d in out.parent.glob(f".{out.name}.*-*"):
        m = re.fullmatch(rf"\.{re.escape(out.name)}\.(building|old)-(\d+)(-.*)?", d.name)
        if not m:
            continue
        try:
            os.kill(int(m.group(2)), 0)
            continue  # its process still runs
        except ProcessLookupError:
            pass
        except PermissionError:
            continue
        if m.group(1) == "old" and not out.exists():
            os.replace(d, out)
        else:
            shutil.rmtree(d, ignore_errors=True)


@dataclass
class PairsJob:
    """``deepprune pairs build``: build train/test pairs (split by question) for judge training."""

    pools: list[str] = field(default_factory=list, metadata={"nargs": "+"})  # trace pools
    out: str = field(default="", metadata={"required": True})  # output directory
    name: str = "deepprune_pairs"  # dataset name prefix in dataset_info.json
    config: PairConfig = field(default_factory=PairConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        check_outputs(self)
        check_pairs_out(self.out)  # before the build, not after it
        built = build_pairs(self.pools, self.config)
        return [{"out": self.out, **write_pairs(self.out, built, self.config, name=self.name)}]

    @staticmethod
    def summary(m: dict) -> str:
        return (f"wrote pairs to {m['out']}: train {m['train_labels']} (before oversampling "
                f"{m['train_labels_before_oversampling']}), test {m['test_labels']}")  # fmt: skip


def check_pairs_out(out_dir: str | os.PathLike) -> Path:
    """``out_dir`` may be replaced: absent, empty, or a pair directory we wrote (its manifest)."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: is a file; --out takes a directory")
    if out.is_dir() and any(out.iterdir()) and not (out / "manifest.json").is_file():
        raise ConfigError(f"{out}: holds files that `deepprune pairs build` did not write (no manifest.json); "
                          "it replaces only its own output: choose another --out")  # fmt: skip
    return out


def write_pairs(
    out_dir: str | os.PathLike, built: dict, cfg: PairConfig, name: str = "deepprune_pairs"
) -> dict:
    """Write Alpaca JSON, metadata JSONL, dataset_info.json and manifest.json.

    Everything is written into a fresh sibling directory that then replaces ``out_dir`` in
    two renames, so a killed build leaves the old directory whole (or none), never a mix.
    """
    import shutil
    import tempfile

    out = check_pairs_out(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(out)
    tmp = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}.building-{os.getpid()}-"))
    info = {}
    for split in ("train", "test"):
        pairs = built[split]
        alpaca = [p.alpaca(cfg.include_question) for p in pairs]
        atomic_write(tmp / f"{split}.json", json.dumps(alpaca, ensure_ascii=False, indent=1))
        records = "".join(json.dumps(pair_record(p), ensure_ascii=False) + "\n" for p in pairs)
        atomic_write(tmp / f"{split}.jsonl", records)
        info[f"{name}_{split}"] = {
            "file_name": f"{split}.json",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    atomic_write(tmp / "dataset_info.json", json.dumps(info, indent=2))
    atomic_write(tmp / "manifest.json", json.dumps(built["manifest"], indent=2))
    os.chmod(tmp, 0o777 & ~umask())
    if out.exists():
        old = out.parent / f".{out.name}.old-{os.getpid()}"
        os.replace(out, old)
        os.replace(tmp, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, out)
    return built["manifest"]


def read_pair_file(path: str | os.PathLike, need_labels: bool = False) -> list[dict]:
    """Read a ``.jsonl`` pair file; errors name the file, line and reason."""
    rows = []
    for n, r in read_jsonl(path, "pair file"):
        if not isinstance(r, dict) or not all(
            isinstance(r.get(k), str) for k in ("prefix_a", "prefix_b")
        ):
            raise ConfigError(f"{path}:{n}: a pair needs string 'prefix_a' and 'prefix_b'")
        if need_labels and r.get("label") not in (0, 1):
            raise ConfigError(f"{path}:{n}: pair has no 0/1 'label' (needed for evaluation)")
        rows.append(r)
    return rows

"""Deterministic synthetic trace pools, shaped like parallel reasoning-model samples.

    deepprune synth --questions 12 --traces 32 --seed 0 --out DeepPrune_data/demo/demo_pool.jsonl

Per question, a few solution *paths* each lead to an answer; one dominant path
gives heavy redundancy (default >= 80% pairwise agreement). A trace starts on a
path, states that path's intermediate values in reasoning-word steps ("First, ...
Then ... So ..."), with per-step noise, and may switch path part-way (so an early
prefix is a real but imperfect signal of the final answer). ``num_tokens`` is
lognormal in the thousands (the text is an abridged transcript of those tokens),
and ``--confs`` adds per-token confidences that are lower on traces that end on a
wrong path. All values below are our choice, not the paper's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepprune.errors import ConfigError
from deepprune.pools import Question, Trace

# the bundled demo pool (package data; DeepPrune_data/demo/demo_pool.jsonl links to it):
# `deepprune synth --seed 0` with the defaults below
DEMO_POOL = Path(__file__).resolve().parent / "data" / "demo_pool.jsonl"

_OPENERS = [
    "First",
    "Then",
    "So",
    "Now",
    "Thus",
    "Hence",
    "But",
    "Wait",
    "Hmm",
    "Therefore",
    "Since",
    "Let me",
]
_VERBS = ["compute", "check", "rewrite", "simplify", "combine", "substitute", "bound", "expand"]


@dataclass
class SynthConfig:
    """Shape of a synthetic pool (all values our choice)."""

    questions: int = 12  # questions in the pool
    traces: int = 32  # traces per question
    paths: int = 3  # solution paths per question
    dominant: float = 0.95  # probability mass of the most common path
    steps: int = 30  # reasoning steps written per trace
    step_noise: float = 0.25  # chance a step states a random value instead of its path's
    switch: float = 0.04  # chance a trace switches path (somewhere in its second half)
    median_tokens: int = 3000  # median trace length (tokens)
    sigma_tokens: float = 0.5  # log-normal spread of trace lengths
    majority_correct: float = 0.8  # chance the dominant path is the correct one
    confs: bool = False  # write per-token confidences (DeepConf's confs)
    seed: int = 0  # random seed (our choice: 0)

    def __post_init__(self):
        if self.questions <= 0 or self.traces <= 0 or self.paths <= 0 or self.steps <= 0:
            raise ConfigError("questions, traces, paths and steps must be positive")
        if not 0 < self.dominant <= 1:
            raise ConfigError("dominant must be in (0, 1]")


def _path_probs(rng: np.random.Generator, cfg: SynthConfig) -> np.ndarray:
    if cfg.paths == 1:
        return np.ones(1)
    rest = rng.dirichlet(np.ones(cfg.paths - 1)) * (1 - cfg.dominant)
    return np.concatenate([[cfg.dominant], rest])


def synth_question(qi: int, cfg: SynthConfig, rng: np.random.Generator) -> Question:
    """Generate one synthetic question with ``cfg.traces`` traces."""
    probs = _path_probs(rng, cfg)
    answers = [str(int(a)) for a in rng.choice(np.arange(10, 999), size=cfg.paths, replace=False)]
    values = rng.integers(2, 99, size=(cfg.paths, cfg.steps))
    correct_path = 0
    if cfg.paths > 1 and rng.random() >= cfg.majority_correct:
        correct_path = int(rng.integers(1, cfg.paths))
    traces = []
    for _ in range(cfg.traces):
        start = int(rng.choice(cfg.paths, p=probs))
        end = start
        switch_at = cfg.steps
        if cfg.paths > 1 and rng.random() < cfg.switch:
            end = int(rng.choice([p for p in range(cfg.paths) if p != start]))
            switch_at = int(rng.integers(cfg.steps // 2, cfg.steps))
        parts = [f"Let me work on problem {qi}."]
        for s in range(cfg.steps):
            path = start if s < switch_at else end
            v = int(values[path, s]) if rng.random() >= cfg.step_noise else int(rng.integers(2, 99))
            opener = _OPENERS[int(rng.integers(len(_OPENERS)))]
            verb = _VERBS[(s + path) % len(_VERBS)]
            parts.append(f"{opener}, {verb} x{s} = {v}.")
        parts.append(f"Therefore, the final answer is \\boxed{{{answers[end]}}}.")
        n_tok = max(200, int(rng.lognormal(math.log(cfg.median_tokens), cfg.sigma_tokens)))
        trace = Trace(
            text=" ".join(parts), num_tokens=n_tok, answer=answers[end], answer_given=True
        )
        if cfg.confs:
            level = 16.0 if end == correct_path else 12.0
            c = rng.normal(level, 2.5, size=n_tok).clip(0.5, None)
            trace.confs = [round(float(x), 2) for x in c]
        trace.correct = end == correct_path
        traces.append(trace)
    return Question(
        id=f"synth-{qi}",
        question=f"Synthetic problem {qi}: which value does the computation reach?",
        gold=answers[correct_path],
        answer_type="math",
        meta={
            "synthetic": True,
            "generator": "deepprune.synth",
            "seed": cfg.seed,
            "path_probs": [round(float(p), 3) for p in probs],
        },
        traces=traces,
    )


@dataclass
class SynthJob:
    """``deepprune synth``: generate a deterministic synthetic trace pool."""

    out: str = field(default="", metadata={"required": True})  # the pool to write
    config: SynthConfig = field(default_factory=SynthConfig)

    def run(self) -> list[str]:
        from deepprune.pools import write_pool

        n = write_pool(self.out, synth_pool(self.config))
        return [f"wrote {n} synthetic questions x {self.config.traces} traces to {self.out}"]


def synth_pool(cfg: SynthConfig) -> list[Question]:
    """Generate a pool; the same config always gives the same pool.

    Example:
        >>> len(synth_pool(SynthConfig(questions=2, traces=4)))
        2
    """
    rng = np.random.default_rng(cfg.seed)
    return [synth_question(qi, cfg, rng) for qi in range(cfg.questions)]

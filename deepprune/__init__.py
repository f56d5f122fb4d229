"""deepprune: judges that predict whether two unfinished reasoning traces will agree,
and online pruning of redundant parallel traces (DeepPrune, arXiv 2510.08483)."""

from deepprune.answers import extract_answer, question_answers, trace_answer
from deepprune.grading import AnswerClasses, answers_equal
from deepprune.pairs import PairConfig, build_pairs, judge_prompt, write_pairs
from deepprune.pools import PoolError, Question, Trace, iter_pool, read_pool, write_pool
from deepprune.stats import pool_stats
from deepprune.synth import SynthConfig, synth_pool
from deepprune.tokens import get_counter
from deepprune.truncate import parse_spec, truncate
from deepprune.vote import majority_class

__version__ = "0.1.0"

__all__ = [
    "AnswerClasses", "PairConfig", "PoolError", "Question", "SynthConfig", "Trace",
    "answers_equal", "build_pairs", "extract_answer", "get_counter", "iter_pool", "judge_prompt",
    "majority_class", "parse_spec", "pool_stats", "question_answers", "read_pool", "synth_pool",
    "trace_answer", "truncate", "write_pairs", "write_pool",
]  # fmt: skip

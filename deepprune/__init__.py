"""deepprune: judges that predict whether two unfinished reasoning traces will agree,
and online pruning of redundant parallel traces (DeepPrune, arXiv 2510.08483).

The notebook API (everything else lives in the subpackages: ``judges``, ``replay``,
``train``, ``dev``, ``cli``)::

    from deepprune import read_pool, get_judge, GreedyClusterer, ClusterConfig, prune
"""

from deepprune.answers import extract_answer, question_answers, trace_answer
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.focal import focal_loss
from deepprune.grading import AnswerClasses, answers_equal
from deepprune.greedy import ClusterConfig, GreedyClusterer
from deepprune.judges import get_judge
from deepprune.metrics import judge_metrics
from deepprune.pairs import PairConfig, build_pairs, write_pairs
from deepprune.pools import PoolError, Question, Trace, iter_pool, read_pool, write_pool
from deepprune.questions import PreparedQuestion, prepare_pool
from deepprune.replay.compare import compare_pool as compare
from deepprune.replay.prune import prune_pool as prune
from deepprune.stats import pool_stats
from deepprune.synth import SynthConfig, synth_pool
from deepprune.tokens import get_counter
from deepprune.truncate import parse_spec, truncate
from deepprune.version import __version__  # noqa: F401 - deepprune.__version__
from deepprune.vote import majority_class

__all__ = [
    "AnswerClasses", "ClusterConfig", "ConfigError", "DeepPruneError", "GreedyClusterer", "PairConfig",
    "PoolError", "PreparedQuestion", "Question", "SynthConfig", "Trace", "answers_equal", "build_pairs", "compare",
    "extract_answer", "focal_loss", "get_counter", "get_judge", "iter_pool", "judge_metrics",
    "majority_class", "parse_spec", "pool_stats", "prepare_pool", "prune", "question_answers", "read_pool",
    "synth_pool", "trace_answer", "truncate", "write_pairs", "write_pool",
]  # fmt: skip

"""The cross-encoder judge, trained for real on the real MiniLM weights (tiny sizes for CPU)."""

import itertools
import json

import numpy as np
import pytest
import torch

from deepprune.judgelab.crossencoder_training import train_crossencoder
from deepprune.judgelab.train_configs import CrossEncoderConfig
from deepprune.judges import JudgePair, get_judge
from deepprune.judges.crossencoder import MANIFEST
from tests.conftest import DEMO_POOL

pytestmark = (
    pytest.mark.slow
)  # model training / notebooks / LLaMA-Factory: `make test-fast` skips them

# a checkpoint only at the end (each one writes the whole model: seconds); the resume test saves every step
SMALL = dict(trunc="words:8", max_train_pairs=48, max_length=48, batch_size=8, save_every=1000)


def test_train_writes_a_judge_that_scores(tmp_path):
    man = train_crossencoder(
        [DEMO_POOL], tmp_path / "ce", CrossEncoderConfig(**SMALL), progress=False
    )
    assert (tmp_path / "ce" / MANIFEST).exists() and not (
        tmp_path / "ce" / "checkpoint.pt"
    ).exists()
    assert man["steps"] == int(np.ceil(sum(man["train_pairs"].values()) / 8))
    # 2x oversampling of the minority class ("no" on the demo pool)
    assert man["train_pairs"]["no"] == 2 * man["train_pairs_before_oversampling"]["no"]
    assert "model.safetensors" in man["sha256"]
    judge = get_judge(f"crossencoder:{tmp_path / 'ce'}")
    s = judge.score([JudgePair("First, a. Then b.", "First, a. Then c."), JudgePair("x", "y")])
    assert s.shape == (2,) and ((s > 0) & (s < 1)).all()


def test_resume_after_a_crash_redoes_no_step(tmp_path, monkeypatch):
    calls = {"n": 0}
    real_step = torch.optim.AdamW.step

    def failing_step(self, *a, **k):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("simulated crash")
        return real_step(self, *a, **k)

    monkeypatch.setattr(torch.optim.AdamW, "step", failing_step)
    cfg = CrossEncoderConfig(**{**SMALL, "save_every": 1, "max_train_pairs": 24})  # a few steps
    with pytest.raises(RuntimeError, match="simulated crash"):
        train_crossencoder([DEMO_POOL], tmp_path / "ce", cfg, progress=False)
    assert (tmp_path / "ce" / "checkpoint.pt").exists() and not (
        tmp_path / "ce" / MANIFEST
    ).exists()
    calls["n"] = -(10**9)  # no more crashes; count the steps of the resumed run
    man = train_crossencoder([DEMO_POOL], tmp_path / "ce", cfg, progress=False)
    assert calls["n"] + 10**9 == man["steps"] - 2  # resumed after the 2 saved steps
    # the resumed model is bit-identical to an uninterrupted run (RNG state restored too)
    whole = train_crossencoder([DEMO_POOL], tmp_path / "whole", cfg, progress=False)
    assert man["sha256"] == whole["sha256"]


def test_a_crafted_checkpoint_is_refused_not_executed(tmp_path):
    import pickle

    from deepprune.errors import DeepPruneError

    class Payload:
        def __reduce__(self):
            return (open, (str(tmp_path / "pwned"), "w"))

    out = tmp_path / "ce"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(pickle.dumps({"cfg_key": Payload()}))
    with pytest.raises(DeepPruneError, match="not a checkpoint written by deepprune"):
        train_crossencoder([DEMO_POOL], out, CrossEncoderConfig(**SMALL), progress=False)
    assert not (tmp_path / "pwned").exists()


def test_focal_vs_ce_and_bad_input(tmp_path):
    with pytest.raises(ValueError, match="loss must be focal or ce"):
        CrossEncoderConfig(loss="mse")
    with pytest.raises(ValueError, match="alpha keys"):
        CrossEncoderConfig(alpha={"maybe": 1.0})
    with pytest.raises(FileNotFoundError, match="no such directory"):
        get_judge(f"crossencoder:{tmp_path / 'missing'}")
    (tmp_path / "half").mkdir()
    with pytest.raises(ValueError, match="not a finished cross-encoder"):
        get_judge(f"crossencoder:{tmp_path / 'half'}")
    ce = train_crossencoder(
        [DEMO_POOL], tmp_path / "ce", CrossEncoderConfig(loss="ce", **SMALL), progress=False
    )
    fl = train_crossencoder(
        [DEMO_POOL], tmp_path / "fl", CrossEncoderConfig(loss="focal", **SMALL), progress=False
    )
    # same data, same init: focal (gamma 2, alpha .25/.75) shrinks the loss below cross-entropy
    assert fl["loss_first20"] < ce["loss_first20"]
    assert json.loads((tmp_path / "ce" / MANIFEST).read_text())["config"]["loss"] == "ce"


def test_ablation_grid_reuses_finished_cells(tmp_path, monkeypatch):
    from deepprune.judgelab.ablation import AblationConfig, ablation, ablation_table

    base = CrossEncoderConfig(**{**SMALL, "trunc": "words:8"}, test_fraction=0.4)
    cfg = AblationConfig(truncs=("words:8",), losses=("ce", "focal"), oversamples=(1.0,), max_eval_pairs=80,
                         joints=("last",), baselines=("lexical:jaccard",), bootstrap=0, base=base)  # fmt: skip
    rows = ablation([str(DEMO_POOL)], [str(DEMO_POOL)], tmp_path, cfg, progress=False)
    assert [r["judge"] for r in rows] == [
        "lexical:jaccard",
        "crossencoder late ce x1",
        "crossencoder late focal x1",
        "question agreement rate (oracle)",
    ]
    assert all(r["eval"] == "held-out questions" and r["pairs"] == 80 for r in rows)
    assert rows[-1]["within_question_auroc"] == 0.5 and "within_question_auroc" in rows[0]
    # held-out questions were never trained on: training uses the same split as the evaluation
    from deepprune.judgelab.grid import GridConfig, eval_pairs
    from deepprune.pairs import PairConfig, build_pairs

    trained = {
        p.qid
        for p in build_pairs([DEMO_POOL], PairConfig(trunc="words:8", test_fraction=0.4))["train"]
    }
    held, _ = eval_pairs(DEMO_POOL, "words:8", GridConfig(pairs=PairConfig(test_fraction=0.4)))
    assert trained and not trained & {p.qid for p in held}
    from deepprune.judgelab import ablation as ablation_module

    monkeypatch.setattr(
        ablation_module,
        "train_crossencoder",
        lambda *a, **k: pytest.fail("retrained a finished cell"),
    )
    again = ablation([str(DEMO_POOL)], [str(DEMO_POOL)], tmp_path, cfg, progress=False)
    assert [r["auroc"] for r in again] == [r["auroc"] for r in rows]
    table = ablation_table(rows, tmp_path)
    from deepprune.judgelab.ablation import cells_manifest

    man = cells_manifest(tmp_path, rows)
    # two cells (a loss each; joint="all" cells are trained by test_train_writes_a_judge_that_scores)
    assert set(man) == {"words8-start-late-ce-x1", "words8-start-late-focal-x1"}
    assert man["words8-start-late-ce-x1"]["config"]["joint"] == "last"
    assert len(man["words8-start-late-ce-x1"]["sha256"]["model.safetensors"]) == 64
    assert man["words8-start-late-ce-x1"]["eval"][0]["auroc"] == rows[1]["auroc"]
    assert "words8-start-late-ce-x1" in table and "crossencoder late focal x1" in table


def test_fewer_layers_and_int8_scoring(tmp_path):
    man = train_crossencoder(
        [DEMO_POOL], tmp_path / "ce2", CrossEncoderConfig(**SMALL, layers=2), progress=False
    )
    cfg = json.loads((tmp_path / "ce2" / "config.json").read_text())
    assert cfg["num_hidden_layers"] == 2 and man["config"]["layers"] == 2
    pairs = [JudgePair("First, a. Then b.", "First, a. Then c."), JudgePair("x y z", "y z w")]
    fp32 = get_judge(f"crossencoder:{tmp_path / 'ce2'}")
    assert len(fp32.model.base_model.encoder.layer) == 2
    q = get_judge(f"crossencoder:{tmp_path / 'ce2'},int8=1")
    assert "int8=1" in q.id and q.id != fp32.id  # cached scores never mix the two
    np.testing.assert_allclose(q.score(pairs), fp32.score(pairs), atol=0.05)
    with pytest.raises(ValueError, match="layers must be"):
        CrossEncoderConfig(layers=0)
    with pytest.raises(ValueError, match="only 6 layers"):
        train_crossencoder(
            [DEMO_POOL], tmp_path / "ce9", CrossEncoderConfig(**SMALL, layers=9), progress=False
        )


def test_late_interaction_layer_matches_bert_and_judge_caches_traces(tmp_path, monkeypatch):
    from transformers import AutoTokenizer

    import deepprune.judges.crossencoder as ce
    from deepprune.judges import default_sbert_path

    # our last-layer step equals the real BERT layer: a pair (t, t) duplicates every key, which
    # leaves attention unchanged, so its [CLS] output is the plain encoder's [CLS] output on t
    bert, _ = ce.late_parts(default_sbert_path())
    bert.eval()
    tok = AutoTokenizer.from_pretrained(default_sbert_path())
    texts = ["First, compute 3 + 4 = 7. Then", "The last letter of 'Ann' is 'n'."]
    with torch.no_grad():
        cls, k, v, mask = ce._late_traces(bert, tok, texts, 24, "start")
        idx = torch.arange(2)
        ca, cb = ce._late_cls(bert, cls, k, v, mask, idx, idx)
        ref = bert(**tok(texts, padding="max_length", max_length=24, return_tensors="pt"))
    assert torch.allclose(ca, ref.last_hidden_state[:, 0], atol=1e-4) and torch.equal(ca, cb)

    man = train_crossencoder(
        [DEMO_POOL], tmp_path / "late", CrossEncoderConfig(**SMALL, joint="last"), progress=False
    )
    assert ce.LATE_HEAD in man["sha256"] and man["config"]["joint"] == "last"
    judge = get_judge(f"crossencoder:{tmp_path / 'late'}")
    calls = []
    real = ce._late_traces
    monkeypatch.setattr(
        ce, "_late_traces", lambda *a, **kw: calls.append(len(a[2])) or real(*a, **kw)
    )
    prefixes = ["First, a. Then b.", "First, a. Then c.", "Let x = 2.", "x"]
    i, j = np.array([0, 0, 1, 2]), np.array([1, 2, 3, 3])
    s = judge.score_indexed(prefixes, i, j)
    assert s.shape == (4,) and ((s > 0) & (s < 1)).all() and sum(calls) == 4
    assert np.allclose(judge.score_indexed(prefixes, j, i), s, atol=1e-6)  # symmetric
    assert sum(calls) == 4  # every prefix encoded once, then cached
    pairs = [JudgePair(prefixes[a], prefixes[b]) for a, b in zip(i, j, strict=True)]
    assert np.allclose(judge.score(pairs), s, atol=1e-6)
    with pytest.raises(ValueError, match="joint must be"):
        CrossEncoderConfig(joint="middle")


def test_crossfit_trains_each_fold_without_its_questions_and_resumes(tmp_path, monkeypatch):
    from deepprune import pairs
    from deepprune.judgelab import crossfit as crossfit_module
    from deepprune.judgelab.crossfit import CrossEncoderFolds, crossfit
    from deepprune.judgelab.grid import PRIOR_ORACLE
    from deepprune.judges import crossencoder
    from deepprune.metrics import auroc
    from deepprune.questions import labelled_questions
    from deepprune.splits import question_folds

    seen = []  # the training pairs of each fold, as train_crossencoder hands them on
    real_oversample = pairs.oversample

    def spy(ps, factor, rng):  # build_pairs calls it with 1.0, train_crossencoder with 2.0
        if factor == 2.0:
            seen.append(ps)
        return real_oversample(ps, factor, rng)

    monkeypatch.setattr(pairs, "oversample", spy)
    cfg = CrossEncoderConfig(**SMALL, joint="last")
    rows = crossfit(DEMO_POOL, "words:8", CrossEncoderFolds(cfg, tmp_path), folds=2, baselines=("lexical:jaccard",),
                    n_boot=20, progress=False)  # fmt: skip
    keys = [q.key for q in labelled_questions([DEMO_POOL], "words:8")]
    fold_of = question_folds(keys, 2, cfg.seed)
    assert len(seen) == 2
    for f, ps in enumerate(seen):  # fold f's model never saw a question of fold f
        trained = {f"{p.source}/{p.qid}" for p in ps}
        assert trained and all(fold_of[k] != f for k in trained)
    assert [r["judge"] for r in rows] == [
        "lexical:jaccard",
        "crossencoder late focal x2",
        PRIOR_ORACLE,
    ]
    ys = [np.array([int(q.labels[i] == q.labels[j]) for i, j in itertools.combinations(range(q.n), 2)])
          for q in labelled_questions([DEMO_POOL], "words:8")]  # fmt: skip
    prior = np.concatenate([np.full(len(y), y.mean()) for y in ys])
    assert rows[2]["auroc"] == pytest.approx(auroc(prior, np.concatenate(ys)))
    assert rows[0]["pairs"] == rows[1]["pairs"] == 12 * 32 * 31 // 2  # every pair of every question
    assert rows[1]["questions"] == 12
    for r in rows[:2]:  # each AUROC is the area under its own (thinned) ROC curve
        roc = r["roc"]
        assert r["auroc"] == pytest.approx(np.trapezoid(roc["tpr"], roc["fpr"]), abs=0.01)
    assert (
        rows[0]["train_auroc"] is None and rows[1]["train_auroc"] != rows[1]["auroc"]
    )  # in-fold AUROC
    d = rows[1]["diff_vs_ref"]
    assert d["diff"] == pytest.approx(rows[1]["auroc"] - rows[0]["auroc"])
    man = json.loads(
        (tmp_path / "demo_pool" / "words8-late-focalx2" / "fold1" / MANIFEST).read_text()
    )
    assert man["config"]["fold"] == "1/2" and man["train_questions"] == 6
    # a rerun reuses the finished models and their cached held-out scores
    monkeypatch.setattr(
        crossfit_module, "train_crossencoder", lambda *a, **k: pytest.fail("retrained")
    )
    monkeypatch.setattr(
        crossencoder.CrossEncoderJudge, "score_indexed", lambda *a, **k: pytest.fail("rescored")
    )
    again = crossfit(DEMO_POOL, "words:8", CrossEncoderFolds(cfg, tmp_path), folds=2, baselines=("lexical:jaccard",),
                     n_boot=20, progress=False)  # fmt: skip
    assert [r["auroc"] for r in again] == [r["auroc"] for r in rows]
    with pytest.raises(ValueError, match="fold must look like F/K"):
        CrossEncoderConfig(fold="first")
    with pytest.raises(ValueError, match="need K >= 2"):
        CrossEncoderConfig(fold="2/2")


def test_cli_crossfit_writes_a_table_and_rejects_bad_input(tmp_path, capsys):
    from deepprune.cli import main

    md = tmp_path / "cf.md"
    argv = ["crossencoder", "crossfit", "--pool", str(DEMO_POOL), "--trunc", "words:8", "--folds", "2",
            "--joint", "last", "--max-train-pairs", "16", "--max-length", "32", "--bootstrap", "20",
            "--out", str(tmp_path / "cf"), "--markdown", str(md), "--manifest", str(tmp_path / "m.json"),
            "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    man = json.loads((tmp_path / "m.json").read_text())
    assert set(man["models"]) == {
        "demo_pool/words8-late-focalx2/fold0",
        "demo_pool/words8-late-focalx2/fold1",
    }
    assert (
        len(man["models"]["demo_pool/words8-late-focalx2/fold0"]["sha256"]["model.safetensors"])
        == 64
    )
    assert "crossencoder late focal x2" in [m["judge"] for m in man["metrics"]]
    table = md.read_text()
    assert "crossencoder late focal x2" in table and "| sbert |" in table
    bad = [
        "crossencoder",
        "crossfit",
        "--pool",
        str(tmp_path / "nope.jsonl"),
        "--out",
        str(tmp_path),
    ]
    assert main(bad) == 2
    assert "no such pool file" in capsys.readouterr().err
    assert main(argv[:6] + ["--folds", "1"] + argv[8:]) == 2  # fails before training
    assert "folds must be >= 2" in capsys.readouterr().err


def test_freeze_lower_trains_only_the_last_layer_and_head(tmp_path):
    from safetensors.torch import load_file

    from deepprune.judges.crossencoder import base_path

    cfg = CrossEncoderConfig(**SMALL, joint="last", freeze_lower=True)
    train_crossencoder([DEMO_POOL], tmp_path / "fz", cfg, progress=False)
    base = load_file(f"{base_path(None)}/model.safetensors")
    tuned = load_file(tmp_path / "fz" / "model.safetensors")
    last = "encoder.layer.5."
    lower = [k for k in tuned if not k.startswith(last) and k in base]
    assert lower and all(torch.equal(tuned[k], base[k]) for k in lower)
    assert any(not torch.equal(tuned[k], base[k]) for k in tuned if k.startswith(last))
    with pytest.raises(ValueError, match="freeze_lower needs joint='last'"):
        CrossEncoderConfig(freeze_lower=True)


def test_finished_models_predate_new_config_fields_and_scores_follow_the_weights(tmp_path):
    from dataclasses import asdict

    from deepprune.judgelab.crossfit import cached_fold_scores, fold_is_finished

    cfg = CrossEncoderConfig(**SMALL, joint="last")
    old = {
        k: v for k, v in asdict(cfg).items() if k != "freeze_lower"
    }  # trained before the field existed
    (tmp_path / MANIFEST).write_text(
        json.dumps({"config": old, "pools": ["p"], "sha256": {"w": "1"}})
    )
    assert fold_is_finished(tmp_path, cfg, ["p"]) and not fold_is_finished(tmp_path, cfg, ["q"])
    assert not fold_is_finished(
        tmp_path, CrossEncoderConfig(**SMALL, joint="last", freeze_lower=True), ["p"]
    )

    class Judge:
        def __init__(self, value):
            self.value = value

        def prepare(self, texts):
            pass

        def score_indexed(self, texts, i, j):
            return np.full(len(i), self.value)

    from deepprune.questions import PreparedQuestion

    qs = [
        PreparedQuestion(
            "q", np.array([0, 0, 1]), None, np.ones(3), np.ones(3), np.ones(3), ["a", "b", "c"]
        )
    ]
    s, y = cached_fold_scores(Judge(0.25), tmp_path, qs)
    assert s.tolist() == [0.25] * 3 and y.tolist() == [1, 0, 0]
    assert (
        cached_fold_scores(Judge(0.75), tmp_path, qs)[0].tolist() == [0.25] * 3
    )  # same weights: cached
    (tmp_path / MANIFEST).write_text(
        json.dumps({"config": old, "pools": ["p"], "sha256": {"w": "2"}})
    )
    assert (
        cached_fold_scores(Judge(0.75), tmp_path, qs)[0].tolist() == [0.75] * 3
    )  # retrained: rescored

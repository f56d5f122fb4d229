"""``deepprune crossencoder | features``: train judges on pools, ablate them, cross-fit them."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.judgelab import ablation as ab
    from deepprune.judgelab import crossencoder_training as ct
    from deepprune.judgelab import crossfit as cf
    from deepprune.judgelab import feature_training as ft

    ce = sub.add_parser(
        "crossencoder", help="a trained cross-encoder judge (MiniLM backbone, focal loss)"
    )
    fe = sub.add_parser(
        "features", help="a trained pair-feature judge (per-trace MiniLM embeddings, focal loss)"
    )
    ce, fe = ce.add_subparsers(required=True), fe.add_subparsers(required=True)
    command(ce, "train", ct.CrossEncoderTrainJob, str, exclude=ct.TRAIN_FIXED)
    command(fe, "train", ft.FeatureTrainJob, str, exclude=ct.TRAIN_FIXED)
    command(
        ce, "crossfit", cf.CrossEncoderCrossfitJob, cf.crossfit_table, exclude=ct.CROSSFIT_FIXED
    )
    command(fe, "crossfit", cf.FeatureCrossfitJob, cf.crossfit_table, exclude=ct.CROSSFIT_FIXED)
    command(ce, "ablation", ab.AblationJob, lambda r: ab.ablation_table(r["rows"], r["cells_dir"]),
            exclude=ct.ABLATED, aliases={"truncs": "--trunc", "joints": "--joint"})  # fmt: skip

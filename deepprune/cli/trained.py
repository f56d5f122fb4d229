"""``deepprune crossencoder | features``: train judges on pools, ablate them, cross-fit them."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.judges import evaluation as ev

    ce = sub.add_parser(
        "crossencoder", help="a trained cross-encoder judge (MiniLM backbone, focal loss)"
    )
    fe = sub.add_parser(
        "features", help="a trained pair-feature judge (per-trace MiniLM embeddings, focal loss)"
    )
    ce, fe = ce.add_subparsers(required=True), fe.add_subparsers(required=True)
    command(ce, "train", ev.CrossEncoderTrainJob, str, exclude=ev.TRAIN_FIXED)
    command(fe, "train", ev.FeatureTrainJob, str, exclude=ev.TRAIN_FIXED)
    command(
        ce, "crossfit", ev.CrossEncoderCrossfitJob, ev.crossfit_table, exclude=ev.CROSSFIT_FIXED
    )
    command(fe, "crossfit", ev.FeatureCrossfitJob, ev.crossfit_table, exclude=ev.CROSSFIT_FIXED)
    command(ce, "ablation", ev.AblationJob, lambda r: ev.ablation_table(r["rows"], r["cells_dir"]),
            exclude=ev.ABLATED, aliases={"truncs": "--trunc", "joints": "--joint"})  # fmt: skip

"""``deepprune prune | compare | reproduce | headroom | figures | transfer``: online pruning replayed over saved pools."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.replay.compare import COMPARE_EXCLUDE, CompareJob, comparison_markdown
    from deepprune.replay.figures import FiguresJob
    from deepprune.replay.headroom import HeadroomJob, headroom_markdown
    from deepprune.replay.prune import PruneJob, results_table
    from deepprune.replay.reproduce import ReproduceJob, reproduce_table
    from deepprune.replay.transfer import TransferJob, transfer_markdown

    def plot(r: dict) -> str:
        return (
            f"\n\nplot: {r['plot']}\n"
            if r.get("plot")
            else "\n\nno plot: the pool has no gold answers\n"
        )

    aliases = {"families": "--methods", "n_boot": "--bootstrap", "taus": "--tau"}
    command(sub, "prune", PruneJob, results_table, plot)
    command(
        sub,
        "compare",
        CompareJob,
        comparison_markdown,
        plot,
        exclude=COMPARE_EXCLUDE,
        aliases=aliases,
    )
    command(sub, "reproduce", ReproduceJob, reproduce_table)
    command(
        sub, "headroom", HeadroomJob, headroom_markdown, plot, aliases={"n_boot": "--bootstrap"}
    )
    command(sub, "figures", FiguresJob, str)
    command(sub, "transfer", TransferJob, transfer_markdown, aliases={"n_boot": "--bootstrap"})

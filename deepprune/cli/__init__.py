"""The ``deepprune`` command: ``main`` over a list of subcommand modules.

    deepprune --help

Each module registers its parser (flags derived from the library's config dataclasses, see
:mod:`deepprune.cli.config`) and calls the library. A :class:`~deepprune.errors.DeepPruneError`
(bad input) prints as one line, ``deepprune: error: <place>: <reason>``, with exit code 2; any
other exception is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from deepprune.errors import DeepPruneError

EXIT_BAD_INPUT = 2
COMMANDS = ["data", "judge", "prune", "engine", "trained", "tools"]


def build_parser() -> argparse.ArgumentParser:
    import importlib

    parser = argparse.ArgumentParser(
        prog="deepprune", description="DeepPrune: prune redundant parallel reasoning traces"
    )
    from deepprune.version import __version__

    parser.add_argument("--version", action="version", version=f"deepprune {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"deepprune.cli.{name}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code (0 ok, 2 bad input)."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and not getattr(args, "accepts_extra", False):
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    args.extra = extra
    try:
        return int(args.func(args) or 0)
    except (
        KeyboardInterrupt
    ):  # Ctrl-C: one line, never a traceback; runs append what finished as it finishes
        print("deepprune: interrupted (Ctrl-C); what finished is saved: rerun the same command to resume",
              file=sys.stderr)  # fmt: skip
        return 130
    except DeepPruneError as e:  # bad input; anything else is a bug and keeps its traceback
        from deepprune.redact import redact_argv, redact_text

        # a key given on this command line, or in a URL or spec, never reaches the terminal
        keys = [a for a, b in zip(sys.argv, redact_argv(sys.argv)) if a != b]
        print(f"deepprune: error: {redact_text(str(e), keys)}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())

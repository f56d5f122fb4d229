"""Flags and YAML derived from config dataclasses: one home for each default.

``add_config_args(parser, Config)`` adds ``--field-name`` for every field (nested config
dataclasses are flattened: ``OnlineConfig.cluster.tau`` is ``--tau``), with the type and
default of the dataclass and the field's own comment as its help. ``resolve(args, Config)``
builds the config from ``--config FILE.yaml`` (unknown keys raise; keys naming a command's
own options such as ``pool`` or ``markdown`` fill those) overridden by the flags given on
the command line, and validates it through ``__post_init__``.
"""

from __future__ import annotations

import argparse
import typing
from pathlib import Path

from deepprune.configs import config_fields, field_comments, load_config, load_yaml
from deepprune.errors import ConfigError, MissingInputError

_NOT_OPTIONS = {"func", "command", "extra", "accepts_extra", "config"}


def add_config_args(
    parser: argparse.ArgumentParser, cls, default=None, exclude=(), helps=None, aliases=None
) -> None:
    """``aliases``: field -> an extra flag (e.g. ``{"n_boot": "--bootstrap"}``)."""
    for f, hint, value, owner in config_fields(cls, default, exclude):
        flags = ["--" + f.name.replace("_", "-")] + (
            [aliases[f.name]] if f.name in (aliases or {}) else []
        )
        help_ = (helps or {}).get(f.name) or field_comments(owner).get(f.name, "")
        text = f"{help_} (default: {value!r})".strip().replace("%", "%%")
        kw = {"dest": f.name, "default": None, "help": text}
        if hint is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(hint) in (tuple, dict):
            kw["help"] += "; repeatable or comma-separated"
            parser.add_argument(*flags, action="append", **kw)
        else:
            parser.add_argument(*flags, type=hint if hint in (int, float, str) else str, **kw)
    parser.add_argument(
        "--config", help="YAML file of the values above (flags given here override it)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )


def config_from_args(
    args: argparse.Namespace, cls, section: dict | None = None, default=None, exclude=()
):
    """The config: dataclass defaults < ``section`` (e.g. a YAML file's values) < command-line flags."""
    names = {f.name for f, *_ in config_fields(cls, default, exclude)}
    values = dict(section or {})
    values.update({n: getattr(args, n) for n in names if getattr(args, n, None) is not None})
    return load_config(cls, values, default, exclude)


def resolve(args: argparse.Namespace, cls, default=None, exclude=(), options=None):
    """``--config`` YAML < flags. YAML keys naming the command's own options (``pool``, ``out``,
    ``markdown``, ...) fill those options when the command line left them unset. With
    ``--print-config``, print the resolved values and exit. ``options``: defaults of the
    command's own options (declared with ``default=None`` so the YAML can set them)."""
    import dataclasses
    import json

    from deepprune.artifacts import check_section

    section = load_yaml(args.config) if getattr(args, "config", None) else {}
    names = {f.name for f, *_ in config_fields(cls, default, exclude)}
    filled = {}
    for key in [
        k for k in section if k not in names and hasattr(args, k) and k not in _NOT_OPTIONS
    ]:
        value = section.pop(key)
        if getattr(args, key) in (None, False, []):
            as_list = isinstance(getattr(args, key), list) or key in ("pool", "judge", "trunc")
            filled[key] = [value] if as_list and not isinstance(value, list) else value
            setattr(args, key, filled[key])
    for key, value in (options or {}).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    cfg = config_from_args(args, cls, section, default, exclude)
    if getattr(args, "section", None):
        if not getattr(args, "markdown", None):
            raise ConfigError("--section needs --markdown FILE")
        check_section(args.markdown, args.section)  # before the run, not after it
    if getattr(args, "print_config", False):
        print(json.dumps({**filled, "config": dataclasses.asdict(cfg)}, default=str))
        raise SystemExit(0)
    return cfg


def require(args: argparse.Namespace, *names: str) -> None:
    """Options required on the command line or in ``--config``."""
    for n in names:
        if getattr(args, n, None) in (None, []):
            raise ConfigError(
                f"--{n.replace('_', '-')} is required (on the command line or as `{n}:` in --config)"
            )


def pools(args: argparse.Namespace, name: str = "pool") -> list[str]:
    """The pool files of ``--pool`` (or the YAML), every line of each read and checked before
    any work: a bad second pool fails before the first one's run, not after it."""
    from deepprune.pools import iter_pool

    require(args, name)
    paths = getattr(args, name)
    paths = [paths] if isinstance(paths, str) else list(paths)
    for p in paths:
        if Path(p).is_dir():
            raise MissingInputError(f"{p}: is a directory, not a pool file")
        if not Path(p).is_file():
            raise MissingInputError(f"{p}: no such pool file")
        for _ in iter_pool(p):
            pass
    return paths


def writable_dir(path: str | Path) -> Path:
    """Check before any work that ``path`` can be created and written (nothing is created here)."""
    import os

    p = Path(path)
    existing = next(a for a in [p, *p.parents] if a.exists() or a == Path(a.anchor))
    if not existing.is_dir():
        raise MissingInputError(f"{p}: cannot write here ({existing} is a file)")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise MissingInputError(f"{p}: cannot write here ({existing} is not writable)")
    return p


def add_backend_args(p: argparse.ArgumentParser) -> None:
    """The flags `generate` and `solve` share: problems, the backend and where it is."""
    from deepprune.engine.backends import BACKENDS

    p.add_argument(
        "--problems",
        help="problems JSONL (id, question, gold, answer_type); with --backend replay: the pool's own",
    )
    p.add_argument("--backend", default="openai", choices=list(BACKENDS))
    p.add_argument("--base-url", help="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1")
    p.add_argument("--model", help="served model name (openai) or local model path (vllm)")
    p.add_argument("--pool", help="the pool to stream (--backend replay)")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="replay speed, tokens/s per trace (0: as fast as possible)",
    )
    p.add_argument(
        "--abort-url",
        help="SGLang: POST here to abort a stopped request (http://HOST:PORT/abort_request)",
    )
    p.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="show a progress bar",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")


def engine_config(args: argparse.Namespace, cls):
    """The config of `generate`/`solve`: YAML < flags; ``--prompt @FILE`` read; problems required but on replay."""
    if isinstance(args.prompt, str) and args.prompt.startswith("@"):
        path = Path(args.prompt[1:])
        if not path.is_file():
            raise MissingInputError(f"{path}: no such prompt file")
        args.prompt = path.read_text(encoding="utf-8")
    cfg = resolve(args, cls)
    if args.problems is None and args.backend != "replay":
        raise ConfigError("--problems is required (except with --backend replay)")
    return cfg


def backend_args(args: argparse.Namespace) -> dict:
    return {k: getattr(args, k) for k in ("base_url", "model", "pool", "rate", "abort_url")}


def add_output_args(p: argparse.ArgumentParser, json: bool = True) -> None:
    """``--markdown`` / ``--section`` (a generated report) and ``--json``."""
    p.add_argument("--markdown", help="also write the report here")
    p.add_argument("--section", help="replace only this generated section of the --markdown file "
                   "(between <!-- begin generated: NAME --> and <!-- end generated: NAME -->)")  # fmt: skip
    if json:
        p.add_argument("--json", action="store_true", help="print the results as JSON")


def emit(args: argparse.Namespace, results: list, render, command: str, footer=None) -> int:
    """Write the ``--markdown`` report and print the results (text with each result's
    ``footer``, or JSON with ``--json``)."""
    import json

    from deepprune.artifacts import write_generated

    body = "\n\n".join(render(r) for r in results)
    if getattr(args, "markdown", None):
        write_generated(args.markdown, body, f"deepprune {command}", args.section)
    if getattr(args, "json", False):
        print(json.dumps(results[0] if len(results) == 1 else results, indent=1, default=str))
    else:
        print("\n\n".join(render(r) + (footer(r) if footer else "") for r in results))
    return 0

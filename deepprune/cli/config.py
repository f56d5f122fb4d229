"""Flags and YAML derived from a config dataclass: one home for each default.

``add_config_args(parser, Config)`` adds ``--field-name`` for every field (type, default and
``--flag/--no-flag`` for booleans from the dataclass); ``config_from_args(args, Config)``
builds the config from ``--config FILE.yaml`` (unknown keys raise) overridden by the flags
given on the command line, and validates it through ``__post_init__``.
"""

from __future__ import annotations

import argparse
import dataclasses
import typing
from pathlib import Path

from deepprune.errors import ConfigError, MissingInputError


def add_config_args(
    parser: argparse.ArgumentParser, cls, helps: dict[str, str] | None = None
) -> None:
    hints = typing.get_type_hints(cls)
    helps = helps or {}
    for f in dataclasses.fields(cls):
        if f.name.startswith("_"):
            continue
        flag = "--" + f.name.replace("_", "-")
        default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
        text = f"{helps.get(f.name, '')} (default: {default!r})".strip()
        hint = hints[f.name]
        if hint is bool:
            parser.add_argument(
                flag, action=argparse.BooleanOptionalAction, default=None, help=text
            )
        elif typing.get_origin(hint) is tuple:
            parser.add_argument(flag, action="append", default=None, help=text + "; repeatable")
        else:
            kind = hint if hint in (int, float, str) else str
            parser.add_argument(flag, type=kind, default=None, help=text)
    parser.add_argument(
        "--config", help="YAML file of config values (flags given here override it)"
    )


def load_yaml(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"{p}: no such file")
    try:
        data = yaml.safe_load(p.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{p}:{mark.line + 1}" if mark else str(p)
        raise ConfigError(f"{where}: not valid YAML ({getattr(e, 'problem', e)})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"{p}: a config file must be a mapping of keys to values, got a {type(data).__name__}"
        )
    return data


def config_from_args(args: argparse.Namespace, cls, section: dict | None = None):
    """The config: dataclass defaults < ``section`` (e.g. a YAML file's values) < command-line flags."""
    names = {f.name for f in dataclasses.fields(cls)}
    values = dict(section or {})
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown} for {cls.__name__}; known: {sorted(names)}"
        )
    for name in names:
        v = getattr(args, name, None)
        if v is not None:
            values[name] = v
    hints = typing.get_type_hints(cls)
    for name, v in list(values.items()):
        hint = hints[name]
        if typing.get_origin(hint) is tuple and isinstance(v, list | tuple):
            values[name] = tuple(v)
        elif hint in (int, float) and not isinstance(v, bool) and isinstance(v, int | float | str):
            try:
                values[name] = hint(v)
            except ValueError:
                raise ConfigError(f"{name}: expected {hint.__name__}, got {v!r}") from None
        elif hint in (int, float, str, bool) and not isinstance(v, hint):
            raise ConfigError(f"{name}: expected {hint.__name__}, got {v!r}")
    return cls(**values)


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
    section = load_yaml(args.config) if args.config else {}
    if isinstance(args.prompt, str) and args.prompt.startswith("@"):
        path = Path(args.prompt[1:])
        if not path.is_file():
            raise MissingInputError(f"{path}: no such prompt file")
        args.prompt = path.read_text(encoding="utf-8")
    cfg = config_from_args(args, cls, section)
    if args.problems is None and args.backend != "replay":
        raise ConfigError("--problems is required (except with --backend replay)")
    return cfg


def backend_args(args: argparse.Namespace) -> dict:
    return {"base_url": args.base_url, "model": args.model, "pool": args.pool, "rate": args.rate,
            "abort_url": args.abort_url}  # fmt: skip

"""Flags and YAML derived from config dataclasses: one home for each default.

``add_config_args(parser, Config)`` adds ``--field-name`` for every field (nested config
dataclasses are flattened: ``PruneJob.online.cluster.tau`` is ``--tau``), with the type and
default of the dataclass and the field's own comment as its help; a field with
``metadata={"nargs": "+"}`` is positional, one with ``metadata={"many": True}`` takes several
values after one flag, one with ``metadata={"required": True}`` must be given. ``resolve(args, Config)`` builds the config from ``--config FILE.yaml`` (unknown keys
raise) overridden by the flags given on the command line, and validates it through
``__post_init__``.
"""

from __future__ import annotations

import argparse
import typing

from deepprune.artifacts import check_outputs
from deepprune.configs import config_fields, field_comments, load_config, load_yaml
from deepprune.errors import ConfigError


def add_config_args(parser, cls, exclude=(), helps=None, aliases=None) -> None:
    """``aliases``: field -> an extra flag (e.g. ``{"n_boot": "--bootstrap"}``)."""
    aliases = aliases or {}
    for f, hint, value, owner in config_fields(cls, None, exclude):
        help_ = (helps or {}).get(f.name) or field_comments(owner).get(f.name, "")
        text = f"{help_} (default: {value!r})".strip().replace("%", "%%")
        if "nargs" in f.metadata:
            parser.add_argument(f.name, nargs=f.metadata["nargs"], help=help_, default=None)
            continue
        flags = ["--" + f.name.replace("_", "-")] + ([aliases[f.name]] if f.name in aliases else [])
        kw = {"dest": f.name, "default": None, "help": text}
        if f.metadata.get(
            "many"
        ):  # --pools A B C: several values after one flag (as pytest takes files)
            parser.add_argument(*flags, nargs="+", **kw)
        elif hint is bool:
            parser.add_argument(*flags, action=argparse.BooleanOptionalAction, **kw)
        elif typing.get_origin(hint) in (tuple, dict, list):
            kw["help"] += "; repeatable" + ", or comma-separated" * (
                typing.get_origin(hint) is not list
            )
            parser.add_argument(*flags, action="append", **kw)
        else:
            parser.add_argument(*flags, type=hint if hint in (int, float, str) else str, **kw)
    parser.add_argument(
        "--config", help="YAML file of the values above (flags given here override it)"
    )
    parser.add_argument(
        "--print-config", action="store_true", help="print the resolved config and exit"
    )


def resolve(args: argparse.Namespace, cls, exclude=()):
    """The config: dataclass defaults < ``--config`` YAML < command-line flags; required fields
    checked. With ``--print-config``, print the resolved values and exit."""
    import json

    values = load_yaml(args.config) if getattr(args, "config", None) else {}
    dashed = [
        k for k in values if isinstance(k, str) and "-" in k
    ]  # `base-url:` as `vllm serve` spells it
    for k in dashed:
        if k.replace("-", "_") in values:
            raise ConfigError(
                f"{args.config}: {k!r} and {k.replace('-', '_')!r} are one key, given twice"
            )
        values[k.replace("-", "_")] = values.pop(k)
    from_file = set(values)
    fields = config_fields(cls, None, exclude)
    values.update(
        {
            f.name: getattr(args, f.name)
            for f, *_ in fields
            if getattr(args, f.name, None) is not None
        }
    )
    for f, *_ in fields:
        if f.metadata.get("required") and values.get(f.name) in (None, [], ()):
            raise ConfigError(f"--{f.name.replace('_', '-')} is required (on the command line or as "
                              f"`{f.name}:` in --config)")  # fmt: skip
    try:
        cfg = load_config(cls, values, None, exclude)
    except ConfigError as e:  # a bad key or value of the YAML file: the file is named
        key = str(e).split(":", 1)[0]
        if from_file and (str(e).startswith("unknown config key") or key in from_file):
            raise ConfigError(f"{args.config}: {e}") from None
        raise
    if getattr(args, "print_config", False):  # flat, as --config reads it: a round trip
        import sys

        from deepprune.redact import SECRET_FIELDS, redact_config

        names = {
            f.name for f, *_ in fields
        }  # only the keys this command takes (--config reads them back)
        values = {k: v for k, v in flat_values(cfg).items() if k in names}
        held = sorted(k for k in SECRET_FIELDS if values.pop(k, None))  # a key is never printed
        print(json.dumps(redact_config(values), default=str, indent=1))
        if held:
            print(f"note: {', '.join(held)} not printed: give it again (its flag or its environment variable)",
                  file=sys.stderr)  # fmt: skip
        raise SystemExit(0)
    return cfg


def flat_values(cfg) -> dict:
    """The resolved values of a (nested) config dataclass under their flag names (nested configs
    flattened, as ``--config`` files and the flags name them)."""
    import dataclasses

    out = {}
    for f in dataclasses.fields(cfg):
        v = getattr(cfg, f.name)
        out |= flat_values(v) if dataclasses.is_dataclass(v) else {f.name: v}
    return out


def command(sub, name: str, cls, render=None, footer=None, **kw) -> argparse.ArgumentParser:
    """A subcommand whose options are the fields of ``cls`` and whose help is its docstring's
    first line: ``cls(...).run()``, its results rendered (``render``, and the job's ``output``:
    Markdown, JSON) or its exit code returned."""

    def run(args) -> int:
        job = resolve(args, cls, kw.get("exclude", ()))
        check_outputs(job, args.config)  # before any work: no output may overwrite an input
        results = job.run()
        if render is None:
            return int(results or 0)
        if not hasattr(job, "output"):
            return print("\n".join(map(render, results))) or 0
        return job.output.emit(
            results, render, " ".join(dict.fromkeys([args.command, name])), footer
        )

    help = cls.__doc__.split(": ", 1)[-1].split("\n")[0]
    p = sub.add_parser(name, help=help, description=help)
    add_config_args(p, cls, **kw)
    p.set_defaults(func=run)
    return p

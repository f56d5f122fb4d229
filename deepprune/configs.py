"""Config dataclasses from plain values: YAML recipes, flags, notebooks.

    >>> from deepprune.configs import load_config
    >>> from deepprune.replay.prune import OnlineConfig
    >>> load_config(OnlineConfig, {"repeats": 8, "tau": 0.7}).cluster.tau
    0.7

Nested configs are flattened (``OnlineConfig.cluster.tau`` is the key ``tau``); unknown keys
and values of the wrong type raise :class:`~deepprune.errors.ConfigError`, and the result is
validated by the dataclasses' own ``__post_init__``.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import io
import math
import os
import re
import textwrap
import tokenize
import types
import typing
from pathlib import Path

from deepprune.errors import ConfigError, MissingInputError


def _base(hint):
    """``int | None`` -> int."""
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return hint


@functools.cache
def field_comments(cls) -> dict[str, str]:
    """Each field's help: ``metadata={"help": ...}``, else its comment in the source of the class
    that defines it (the comments inside the field's statement, however ruff wrapped it, else the
    comment lines just above it); a field a subclass inherits keeps its base class's help."""
    own_help = out = {
        f.name: f.metadata["help"] for f in dataclasses.fields(cls) if "help" in f.metadata
    }
    for base in cls.__mro__[1:]:
        if dataclasses.is_dataclass(base):
            out = {**field_comments(base), **out}
    try:
        src = textwrap.dedent(inspect.getsource(cls))
        tree = ast.parse(src)
    except (OSError, TypeError, SyntaxError):
        return out
    comments = {t.start[0]: t.string.lstrip("#").strip()
                for t in tokenize.generate_tokens(io.StringIO(src).readline) if t.type == tokenize.COMMENT}  # fmt: skip
    lines = src.splitlines()
    for node in tree.body[0].body:
        if not (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)):
            continue
        name = node.target.id
        if name in own_help:
            continue
        text = [comments[n] for n in range(node.lineno, node.end_lineno + 1) if n in comments]
        if not text:
            n = node.lineno - 1
            while n >= 1 and lines[n - 1].strip().startswith("#"):
                text.insert(0, comments.get(n, ""))
                n -= 1
        text = [re.sub(r"^(type: ignore\S*|fmt: skip|noqa\S*)\s*#?\s*", "", t) for t in text]
        text = " ".join(t for t in text if t and t != "fmt: skip").strip()
        if text or name not in out:
            out[name] = text
    return out


def config_fields(
    cls, default=None, exclude=(), nested: bool = False
) -> list[tuple[dataclasses.Field, object, object, type]]:
    """(field, resolved type, default, owner class) of every leaf field, nested configs flattened.

    ``exclude`` names fields of the nested configs (a job sets them itself), never ``cls``'s own."""
    hints, out = typing.get_type_hints(cls), []
    for f in dataclasses.fields(cls):
        if f.name.startswith("_") or (nested and f.name in exclude):
            continue
        if default is not None:
            value = getattr(default, f.name)
        elif f.default is not dataclasses.MISSING:
            value = f.default
        else:
            value = f.default_factory()  # type: ignore[misc]
        hint = _base(hints[f.name])
        if dataclasses.is_dataclass(hint):
            out += config_fields(hint, value if value is not None else hint(), exclude, True)
        else:
            out.append((f, hint, value, cls))
    return out


def _strict_loader():
    """PyYAML's safe loader, refusing a key given twice in one mapping (safe_load keeps the last
    one silently: a typo'd override would win or lose unseen)."""
    import yaml

    class Strict(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=deep)
                if key in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key!r}", key_node.start_mark
                    )
                seen.add(key)
            return super().construct_mapping(node, deep)

    return Strict


def load_yaml(path: str | Path) -> dict:
    import yaml

    p = Path(path)
    if not p.is_file():
        raise MissingInputError(f"{p}: no such file")
    try:
        data = yaml.load(p.read_text(encoding="utf-8"), Loader=_strict_loader())
    except UnicodeDecodeError as e:
        raise ConfigError(f"{p}: not UTF-8 text ({e.reason} at byte {e.start})") from None
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


def convert_value(name: str, hint, v):
    origin = typing.get_origin(hint)
    if origin is list:  # repeatable, each value whole (judge specs and paths may hold commas)
        return [
            convert_value(name, typing.get_args(hint)[0], x)
            for x in (v if isinstance(v, list | tuple) else [v])
        ]
    if origin is tuple:
        items = v if isinstance(v, list | tuple) else [v]
        items = [
            x
            for item in items
            for x in (item.split(",") if isinstance(item, str) else [item])
            if x != ""
        ]
        kind = typing.get_args(hint)[0]
        return tuple(convert_value(name, kind, x) for x in items)
    if origin is dict:
        if isinstance(v, dict):
            return {k: float(x) for k, x in v.items()}
        pairs = [p for item in v for p in item.split(",")]
        try:
            return {k.strip(): float(x) for k, x in (p.split("=") for p in pairs)}
        except ValueError:
            raise ConfigError(f"{name}: expected key=value[,key=value], got {v!r}") from None
    if hint in (int, float) and not isinstance(v, bool) and isinstance(v, int | float | str):
        try:
            x = float(v) if hint is float or isinstance(v, float) else int(v)
        except (ValueError, OverflowError):
            raise ConfigError(f"{name}: expected {hint.__name__}, got {v!r}") from None
        if isinstance(x, float) and not math.isfinite(x):  # .inf, nan: never a count or a setting
            raise ConfigError(f"{name}: expected a finite {hint.__name__}, got {v!r}")
        if hint is int and isinstance(x, float):
            if not x.is_integer():  # 1.5 is not silently 1
                raise ConfigError(f"{name}: expected an integer, got {v!r}")
            x = int(x)
        return x
    if hint in (int, float, str, bool) and not isinstance(v, hint):
        raise ConfigError(f"{name}: expected {hint.__name__}, got {v!r}")
    return v


def build_config(cls, values: dict, default=None, exclude=(), nested: bool = False):
    hints, kw = typing.get_type_hints(cls), {}
    for f in dataclasses.fields(cls):
        hint = _base(hints[f.name])
        if nested and f.name in exclude:
            continue
        if dataclasses.is_dataclass(hint):
            inner = getattr(default, f.name, None) if default is not None else None
            if inner is None and f.default_factory is not dataclasses.MISSING:
                inner = f.default_factory()
            inner = inner if inner is not None else hint()
            kw[f.name] = build_config(hint, values, inner, exclude, True)
        elif f.name in values:
            kw[f.name] = (
                values[f.name]
                if values[f.name] is None
                else convert_value(f.name, hints[f.name] if hint is None else hint, values[f.name])
            )
    return dataclasses.replace(default, **kw) if default is not None else cls(**kw)


def load_config(cls, source: str | os.PathLike | dict, default=None, exclude=()):
    """``cls`` from a YAML file or a mapping of (flattened) keys; unknown keys raise."""
    values = dict(source) if isinstance(source, dict) else load_yaml(source)
    names = {f.name for f, *_ in config_fields(cls, default, exclude)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {unknown} for {cls.__name__}; known: {sorted(names)}"
        )
    return build_config(cls, values, default, exclude)

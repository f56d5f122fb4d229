"""Make plain ``llamafactory-cli train`` accept deepprune's focal-loss keys.

    deepprune hook install      # writes deepprune_llamafactory.pth into site-packages (make install does it)
    llamafactory-cli train Offline/Qwen3_full_sft.yaml     # focal_* keys now accepted
    deepprune hook status | uninstall

The ``.pth`` line runs at every interpreter start (torchrun workers included) and only
registers an import hook; it imports nothing heavy. The hook acts when llamafactory is
imported: before ``llamafactory`` runs it provides the torchaudio placeholder (CPU
machines have no torchaudio build), and once ``llamafactory.train.tuner`` has loaded it
applies :func:`deepprune.train.extension.install` (focal keys in the parser, focal loss in the SFT
trainer) before any training starts. Set ``DEEPPRUNE_LF_HOOK=0`` to switch it off.

If the installed llamafactory is not a supported version, the hook prints one warning
and leaves llamafactory untouched (the focal keys are then rejected as unknown keys).

This module imports only the standard library at top level: the ``.pth`` line loads it
by file path, without importing the deepprune package, to keep interpreter start cheap.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import os
import sys
import sysconfig
from pathlib import Path

PTH_NAME = "deepprune_llamafactory.pth"
# One line, executed by site.py at interpreter start: load this file by path (no package import).
PTH_LINE = (
    "import importlib.util as _u, os as _o; _s = _u.find_spec('deepprune'); "
    "_p = _s and _s.submodule_search_locations and _o.path.join(list(_s.submodule_search_locations)[0], 'train', 'lf_hook.py'); "
    "_m = _p and _o.path.isfile(_p) and _u.module_from_spec(_u.spec_from_file_location('_deepprune_lf_hook', _p)); "
    "_m and _m.__spec__.loader.exec_module(_m); _m and _m.activate()\n"
)
_WATCH = ("llamafactory", "llamafactory.train.tuner")


class _Loader(importlib.abc.Loader):
    """Wraps llamafactory's own loader: a callback before or after the module runs."""

    def __init__(self, loader, name: str):
        self._loader, self._name = loader, name

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        if self._name == "llamafactory":
            _before_llamafactory()
        self._loader.exec_module(module)
        if self._name == "llamafactory.train.tuner":
            _after_tuner()

    def __getattr__(self, attr):  # get_code, is_package, resource readers, ...
        return getattr(self._loader, attr)


class _Finder(importlib.abc.MetaPathFinder):
    deepprune_lf_hook = True  # marker: one hook per interpreter

    def find_spec(self, name, path=None, target=None):
        if name not in _WATCH:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "deepprune_lf_hook", False) or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loader(spec.loader, name)
                return spec
        return None


def _before_llamafactory() -> None:
    try:
        from deepprune.train.extension import torchaudio_placeholder

        torchaudio_placeholder()
    except Exception as e:  # never break llamafactory itself
        print(f"deepprune hook: torchaudio placeholder not installed ({e})", file=sys.stderr)


def _after_tuner() -> None:
    try:
        from deepprune.train.extension import install

        install()
    except Exception as e:
        print(f"deepprune hook: focal loss not available in llamafactory ({e})", file=sys.stderr)


def activate() -> bool:
    """Register the import hook (idempotent). Returns whether it is active."""
    if os.environ.get("DEEPPRUNE_LF_HOOK", "1").lower() in ("0", "false", "no"):
        return False
    if not any(getattr(f, "deepprune_lf_hook", False) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
    if "llamafactory.train.tuner" in sys.modules:  # imported before the hook: patch now
        _after_tuner()
    return True


def site_dir() -> Path:
    """Where ``install`` writes the .pth: this interpreter's purelib site-packages."""
    return Path(sysconfig.get_paths()["purelib"])


def install(directory: str | os.PathLike | None = None) -> Path:
    path = Path(directory or site_dir()) / PTH_NAME
    from deepprune.artifacts import (
        atomic_write,  # lazily: this module runs at every interpreter start
    )

    atomic_write(path, PTH_LINE)
    return path


def uninstall(directory: str | os.PathLike | None = None) -> bool:
    path = Path(directory or site_dir()) / PTH_NAME
    if path.exists():
        path.unlink()
        return True
    return False


def status(directory: str | os.PathLike | None = None) -> str:
    path = Path(directory or site_dir()) / PTH_NAME
    if not path.exists():
        return f"not installed ({path} missing): run `deepprune hook install`"
    if path.read_text() != PTH_LINE:
        return f"outdated ({path}): run `deepprune hook install`"
    return f"installed: {path}"

"""Generation backends behind one interface (:class:`Backend`); selection by name is a plain dict."""

from __future__ import annotations

from deepprune.engine.backends.base import Backend, Delta, Finish, Request, token_confidence
from deepprune.errors import ConfigError


def _openai(**kw):
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    return OpenAIBackend(
        kw["base_url"], kw["model"], extra_body=kw.get("extra_body"), abort_url=kw.get("abort_url")
    )


def _vllm(**kw):
    from deepprune.engine.backends.vllm_engine import VLLMBackend

    return VLLMBackend(kw["model"])


def _replay(**kw):
    from deepprune.engine.backends.replay import ReplayBackend

    return ReplayBackend(kw["pool"], rate=kw.get("rate", 0.0))


BACKENDS = {"openai": _openai, "vllm": _vllm, "replay": _replay}


def get_backend(name: str, **kw) -> Backend:
    """Build a backend by name (``openai``, ``vllm``, ``replay``)."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    need = {"openai": ("base_url", "model"), "vllm": ("model",), "replay": ("pool",)}[name]
    missing = [k for k in need if not kw.get(k)]
    if missing:
        raise ConfigError(
            f"backend {name!r} needs {', '.join('--' + k.replace('_', '-') for k in missing)}"
        )
    return BACKENDS[name](**kw)


__all__ = ["BACKENDS", "Backend", "Delta", "Finish", "Request", "get_backend", "token_confidence"]

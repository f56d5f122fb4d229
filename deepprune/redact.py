"""Keys out of everything written or printed: one redaction for configs, command lines, URLs and text.

A key reaches deepprune as a flag (``--api-key``, ``--upstream-api-key``), a config field
(``api_key``), a judge spec option (``llm:endpoint=URL,api_key=K``) or a URL's user info
(``http://user:pass@host``). Whatever is saved (``config.json``, ``results.json``, provenance),
printed (``--print-config``, errors) or logged passes through here first.

Example:
    >>> redact_argv(["solve", "--api-key", "sk-1", "--judge=llm:endpoint=http://u:p@h/v1,api_key=k"])
    ['solve', '--api-key', '***', '--judge=llm:endpoint=http://***@h/v1,api_key=***']
    >>> redact_config({"api_key": "sk-1", "n": 8, "judge": "probe"})
    {'api_key': '***', 'n': 8, 'judge': 'probe'}
"""

from __future__ import annotations

import re

MASK = "***"
# config fields and flags that hold a key (their values are never written or printed)
SECRET_FIELDS = ("api_key", "upstream_api_key")
_FLAGS = tuple("--" + f.replace("_", "-") for f in SECRET_FIELDS)
# a spec's key ends at the next option (","), a space or the end (a ":" before a space is the message's)
_SPEC_KEY = re.compile(r"((?:^|[,:])api_key=)[^,\s]*?(?=:?(?:[,\s]|$))")
_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_BEARER = re.compile(r"(Bearer\s+)\S+", re.IGNORECASE)


def redact_text(text: str, secrets=()) -> str:
    """``text`` with URL user info, ``api_key=`` spec options, bearer tokens and every value of
    ``secrets`` (the keys in force) masked."""
    text = _USERINFO.sub(rf"\1{MASK}@", text)
    text = _SPEC_KEY.sub(rf"\1{MASK}", text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    for s in secrets:
        if s and len(s) >= 4:  # a shorter "key" would mask ordinary words
            text = text.replace(s, MASK)
    return text


def redact_argv(argv: list[str]) -> list[str]:
    """A command line with the values of key flags (``--api-key K``, ``--api-key=K``) masked,
    and every argument passed through :func:`redact_text`."""
    out, hide = [], False
    for a in argv:
        if hide:
            out.append(MASK)
            hide = False
        elif a in _FLAGS:
            out.append(a)
            hide = True
        elif a.split("=", 1)[0] in _FLAGS:
            out.append(a.split("=", 1)[0] + "=" + MASK)
        else:
            out.append(redact_text(a))
    return out


def redact_config(obj):
    """A copy of a (nested) config dict or list with key fields masked (where set) and every
    string through :func:`redact_text`."""
    if isinstance(obj, dict):
        return {
            k: (MASK if v else v) if k in SECRET_FIELDS else redact_config(v)
            for k, v in obj.items()
        }
    if isinstance(obj, (list, tuple)):
        return type(obj)(redact_config(v) for v in obj)
    if isinstance(obj, str):
        return redact_text(obj)
    return obj

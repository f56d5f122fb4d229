"""The project's error types: what ``deepprune`` reports as bad input (one line, exit 2).

Everything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class DeepPruneError(Exception):
    """Bad input or configuration: a message naming the place and the reason."""


class ConfigError(DeepPruneError, ValueError):
    """An invalid configuration value, key or spec."""


class UpstreamRefused(DeepPruneError):
    """The server refused the credentials (HTTP 401 or 403): ``status``; retrying cannot help."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


class MissingInputError(DeepPruneError, FileNotFoundError):
    """A file, directory or model path that does not exist."""

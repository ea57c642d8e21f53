"""Errors the server's wings share: what stops a start, what a configuration refuses."""

from __future__ import annotations

__all__ = ["ServerStartError"]


class ServerStartError(RuntimeError):
    """The server could not start (the address is in use, the data dir is unusable, ...)."""

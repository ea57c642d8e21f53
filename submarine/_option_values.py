"""How the text of each server option is read: one function per kind of value, each raising
``ValueError`` with what would be valid (the option table adds the flag and the value).

Split from :mod:`submarine._server_options`, which declares the options and imports these.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Final

__all__ = [
    "ALLOW_ORIGINS_ENV",
    "BACKENDS",
    "DATA_DIR_ENV",
    "DEFAULT_MAX_REPLICAS",
    "DEFAULT_TRACKING_BYTES",
    "DEFAULT_TRACKING_RECORDS",
    "EVENT_LOOPS",
    "MIN_TOKEN_LENGTH",
    "PLACEMENTS",
    "TOKEN_ENV",
    "SettingsError",
    "read_directory",
    "read_file",
    "read_hosts",
    "read_items",
    "read_memory",
    "read_one_of",
    "read_origins",
    "read_port",
    "read_positive_float",
    "read_ray_address",
    "read_text",
    "read_token",
    "read_whole",
    "token_problem",
]

DATA_DIR_ENV: Final = "SUBMARINE_HOME"
TOKEN_ENV: Final = "SUBMARINE_TOKEN"
ALLOW_ORIGINS_ENV: Final = "SUBMARINE_ALLOW_ORIGINS"
DEFAULT_MAX_REPLICAS: Final = 512  # as many as one experiment may have
DEFAULT_TRACKING_RECORDS: Final = 50_000_000
"""Metrics and params one experiment may hold by default (at least ten million points)."""
DEFAULT_TRACKING_BYTES: Final = 2 << 30
"""Stored bytes of one experiment's metrics and params by default (ten million metrics
sent by :mod:`submarine.tracking` take about 370 MB)."""
MIN_TOKEN_LENGTH: Final = 16
"""The fewest characters a token may have."""
BACKENDS: Final = ("local", "ray")
"""Where replicas run: ``local`` processes of this machine, or a ``ray`` cluster."""
EVENT_LOOPS: Final = ("auto", "uvloop", "asyncio")
"""The server's event loop: ``uvloop`` when installed (``auto``), or the one named."""
PLACEMENTS: Final = ("SPREAD", "PACK", "STRICT_SPREAD")
"""How a Ray placement group lays an experiment's replicas over the cluster's nodes."""


class SettingsError(ValueError):
    """Settings the server refuses to start with; the message says what to change."""


def read_text(text: str) -> str:
    """Any text, as given."""
    return text


def token_problem(token: str) -> str | None:
    """What is wrong with a token given to the server, or None: at least
    :data:`MIN_TOKEN_LENGTH` characters, and no whitespace around it (a client strips it,
    so such a token could never match). Says nothing of the token itself.

    >>> token_problem("short")
    'has 5 characters: give at least 16 (like the output of: openssl rand -hex 16)'
    >>> token_problem(" a-token-of-more-than-16 ") is not None
    True
    """
    if token != token.strip():
        return "has whitespace around it, which no client sends: remove it"
    if len(token) < MIN_TOKEN_LENGTH:
        return (
            f"has {len(token)} characters: give at least {MIN_TOKEN_LENGTH} "
            "(like the output of: openssl rand -hex 16)"
        )
    return None


def read_token(text: str) -> str:
    """A token that :func:`token_problem` accepts."""
    problem = token_problem(text) if text else None  # an empty one: Settings says so
    if problem is not None:
        raise ValueError(problem)
    return text


def read_port(text: str) -> int:
    """A TCP port: digits, at most 65535 (0 picks a free one)."""
    if not text.strip().isdigit():
        raise ValueError("is not a port: give a whole number from 0 to 65535 (0 picks a free one)")
    return int(text)


def read_directory(text: str) -> Path:
    """A directory path (one that is not a file)."""
    if not text:
        raise ValueError("is not a path: give a directory")
    path = Path(text).expanduser().resolve()
    if path.exists() and not path.is_dir():
        raise ValueError("is a file: give a directory")
    return path


def read_file(text: str) -> Path:
    """The path of an existing, non-empty file (a secret's)."""
    if not text:
        raise ValueError("is not a path: give a file")
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError("is not a file: give a file that holds the secret on its first line")
    return path


def read_memory(text: str) -> int:
    """A size like ``16G`` or ``512M``, in bytes."""
    if text.isdigit():
        return int(text)
    # The one import not at the top: the models load only when a size is to be read.
    from submarine.models import ResourceError, Resources

    try:
        size = Resources.parse(f"memory={text}").memory_bytes
    except ResourceError:
        size = None
    if size is None:
        raise ValueError(
            "is not a size: write a number of bytes or a whole number followed by one of "
            "K, M, G, T, P, E (like 16G)"
        )
    return size


def read_positive_float(text: str) -> float:
    """A number above zero."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError("is not a positive number")
    return value


def read_whole(least: int) -> Callable[[str], int]:
    """A reader of whole numbers of at least ``least``."""

    def read(text: str) -> int:
        if not text.isdigit() or int(text) < least:
            raise ValueError(f"is not a whole number of {least} or more")
        return int(text)

    return read


def read_items(text: str) -> list[str]:
    """Comma-separated items, stripped, empty ones dropped."""
    return [item for item in (part.strip() for part in text.split(",")) if item]


def read_origins(text: str) -> tuple[str, ...]:
    """Origins like ``http://localhost:3000``, comma-separated; ``*`` allows every one."""
    for item in read_items(text):
        scheme, sep, rest = item.partition("://")
        if item != "*" and (
            not sep or scheme.lower() not in ("http", "https") or not rest or "/" in rest
        ):
            raise ValueError(
                "is not an origin: write scheme://host[:port] like http://localhost:3000 "
                "(no path), or * for any"
            )
    return tuple(item.lower().rstrip("/") for item in read_items(text))


def read_hosts(text: str) -> tuple[str, ...]:
    """Host names like ``myhost.lan``, comma-separated; ``*`` allows every one."""
    if any(c in item for item in read_items(text) for c in "/ @?#"):
        raise ValueError(
            "is not a host name: write the name or address a client puts in its Host "
            "header, like myhost.lan, 10.0.0.5 or [fd00::5], or * for any"
        )
    return tuple(item.lower() for item in read_items(text))


def read_one_of(
    what: str, choices: tuple[str, ...], fold: Callable[[str], str]
) -> Callable[[str], str]:
    """A reader of one of ``choices`` (named ``what`` in its error), folded by ``fold``."""

    def read(text: str) -> str:
        if fold(text) not in choices:
            raise ValueError(f"is not a {what}: use one of {', '.join(choices)}")
        return fold(text)

    return read


def read_ray_address(text: str) -> str:
    """A Ray address: ``auto``, ``local`` or ``host:port``."""
    if not text.strip() or any(c.isspace() for c in text):
        raise ValueError(
            "is not a Ray address: give host:port of the head node's GCS (like 10.0.0.5:6379), "
            "or auto"
        )
    return text.strip()

"""Where the server is, who we are, and how long to wait: arguments first, then the
environment.

Everything here is read when a client is created, never at import.

Host, in order: the ``host`` argument; ``SUBMARINE_HOST`` (a URL); the upstream pair
``SUBMARINE_SERVER_DNS_NAME`` + ``SUBMARINE_SERVER_PORT``; ``http://localhost:8080``.
Credentials: ``token`` or ``SUBMARINE_TOKEN``; ``username``/``password`` or
``SUBMARINE_USERNAME``/``SUBMARINE_PASSWORD``. Timeouts: a :class:`Timeout`.
"""

from __future__ import annotations

import ipaddress
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit

__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_MAX_ANSWER_BYTES",
    "DEFAULT_TIMEOUT",
    "Credentials",
    "Timeout",
    "is_loopback",
    "normalize_host",
    "redact_url",
    "resolve_credentials",
    "resolve_host",
]

DEFAULT_HOST = "http://localhost:8080"
"""Where a Submarine server run by hand listens."""


def normalize_host(host: str) -> str:
    """A base URL without trailing ``/`` or ``/api``; ``http://`` is added when no scheme is.

    >>> normalize_host("localhost:8080/api/")
    'http://localhost:8080'
    """
    text = host.strip()
    if not text:
        raise ValueError("the Submarine host is empty: give a URL like 'http://localhost:8080'")
    if "://" not in text:
        text = "http://" + text
    scheme = text.split("://", 1)[0].lower()
    if scheme not in ("http", "https"):
        raise ValueError(
            f"the Submarine host {host!r} has scheme {scheme!r}: use http:// or https://"
        )
    text = text.rstrip("/")
    while text.lower().endswith("/api"):
        text = text[: -len("/api")].rstrip("/")
    try:
        parts = urlsplit(text)
        hostname, _port = parts.hostname, parts.port  # reading the port checks its range
    except ValueError as exc:
        raise ValueError(
            f"the Submarine host {host!r} is not a valid URL ({exc}): "
            "give one like 'http://localhost:8080'"
        ) from None
    if not hostname or " " in parts.netloc or parts.query or parts.fragment:
        raise ValueError(
            f"the Submarine host {host!r} is not a valid URL: give one like "
            "'http://localhost:8080' (a scheme, a host name and an optional port)"
        )
    return text


_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/?#\s]*)@")


def _hidden(match: re.Match[str]) -> str:
    user, colon, _secret = match.group(2).partition(":")
    return f"{match.group(1)}{user}:***@" if colon else f"{match.group(1)}***@"


def redact_url(text: str) -> str:
    """``text`` with the credentials of every URL in it hidden, to show in a message or repr.

    >>> redact_url("GET http://user:secret@127.0.0.1:8080/api failed")
    'GET http://user:***@127.0.0.1:8080/api failed'
    >>> redact_url("https://token@host/")
    'https://***@host/'
    """
    if "@" not in text:
        return text
    return _USERINFO.sub(_hidden, text)


def is_loopback(url: str) -> bool:
    """Whether ``url`` names this machine only: ``localhost``, an address in
    ``127.0.0.0/8``, ``::1``, or ``::ffff:127.x.x.x``.

    >>> is_loopback("http://127.1.2.3:8080"), is_loopback("http://[::1]:80")
    (True, True)
    >>> is_loopback("http://localhost.example.com")
    False
    """
    try:
        hostname = urlsplit(url).hostname
    except ValueError:
        return False
    if not hostname:
        return False
    name = hostname.rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def resolve_host(host: str | None, environ: Mapping[str, str] | None = None) -> str:
    """The server's base URL from the argument, else the environment, else the default."""
    env = os.environ if environ is None else environ
    if host:
        return normalize_host(host)
    if env.get("SUBMARINE_HOST"):
        return normalize_host(env["SUBMARINE_HOST"])
    dns_name = env.get("SUBMARINE_SERVER_DNS_NAME")
    port = env.get("SUBMARINE_SERVER_PORT")
    if dns_name or port:
        return normalize_host(f"{dns_name or 'localhost'}:{port or '8080'}")
    return DEFAULT_HOST


@dataclass(frozen=True)
class Credentials:
    """How the client authenticates: a fixed token, or a username and password, or nothing."""

    token: str | None = None
    """Sent as ``Authorization: Bearer <token>``."""
    username: str | None = None
    """Exchanged with ``password`` for a token at ``POST /api/auth/token``."""
    password: str | None = None
    """The password of ``username``."""

    @property
    def can_login(self) -> bool:
        """Whether a token can be fetched (and fetched again after a 401)."""
        return self.username is not None and self.password is not None

    def __repr__(self) -> str:
        token = "***" if self.token else None
        password = "***" if self.password else None
        return f"Credentials(token={token!r}, username={self.username!r}, password={password!r})"


def resolve_credentials(
    token: str | None,
    username: str | None,
    password: str | None,
    environ: Mapping[str, str] | None = None,
) -> Credentials:
    """Credentials from the arguments, each missing one taken from the environment.

    A username without a password (or the reverse) is a ``ValueError`` that says so.
    """
    env = os.environ if environ is None else environ
    token = token or env.get("SUBMARINE_TOKEN") or None
    username = username or env.get("SUBMARINE_USERNAME") or None
    password = password if password is not None else env.get("SUBMARINE_PASSWORD")
    if (username is None) != (password is None):
        given, missing = (
            ("username", "password")
            if username is not None
            else (
                "password",
                "username",
            )
        )
        raise ValueError(
            f"a {given} was given without a {missing}: pass both (or set "
            "SUBMARINE_USERNAME and SUBMARINE_PASSWORD), or pass a token instead"
        )
    return Credentials(token=token, username=username, password=password)


_PHASES = ("connect", "read", "write", "pool")


def _seconds(name: str, value: object) -> float | None:
    """A phase's limit checked: a number of seconds, 0 or more, or None (no limit)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(
            f"timeout {name} must be a number of seconds or None (no limit), got {value!r}"
        )
    if math.isnan(value) or value < 0:
        raise ValueError(
            f"timeout {name} must be 0 or more seconds, or None (no limit), got {value!r}"
        )
    return float(value)


@dataclass(frozen=True)
class Timeout:
    """How long a request may wait in each phase, in seconds; None waits for ever.

    The default connects within 5 s and waits 60 s for the rest. A client's ``timeout=``
    also takes a number, which limits all four phases alike, or None (no limit at all).

    >>> Timeout(read=300)
    Timeout(connect=5.0, read=300.0, write=60.0, pool=60.0)
    >>> Timeout.of(10)
    Timeout(connect=10.0, read=10.0, write=10.0, pool=10.0)
    """

    connect: float | None = 5.0
    """Establishing a connection to the server."""
    read: float | None = 60.0
    """Waiting for each part of the answer."""
    write: float | None = 60.0
    """Sending each part of the request."""
    pool: float | None = 60.0
    """Waiting for a free connection of the client's pool."""

    def __post_init__(self) -> None:
        for name in _PHASES:
            object.__setattr__(self, name, _seconds(name, getattr(self, name)))

    @classmethod
    def of(cls, value: Timeout | float | Any | None) -> Timeout:
        """A Timeout from a client's ``timeout=``: a Timeout, a number of seconds for every
        phase, None (no limit), or an ``httpx.Timeout``."""
        if isinstance(value, Timeout):
            return value
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return cls(value, value, value, value)
        phases: list[Any] = [getattr(value, name, _MISSING) for name in _PHASES]
        if any(phase is _MISSING for phase in phases):
            raise TypeError(
                "timeout must be a number of seconds, None (no limit), a "
                f"submarine.client.Timeout or an httpx.Timeout, got {value!r}"
            )
        return cls(*phases)

    def with_longer_read(self, seconds: float) -> Timeout:
        """This timeout with ``seconds`` more to read (a long poll's wait); no limit stays."""
        return self if self.read is None else replace(self, read=self.read + seconds)

    def as_dict(self) -> dict[str, float | None]:
        """The four phases by name, as httpx takes them in a request's ``timeout``."""
        return {name: getattr(self, name) for name in _PHASES}


_MISSING = object()

DEFAULT_TIMEOUT = Timeout()
"""The clients' default: connect within 5 s; read, write and pool waits within 60 s."""

DEFAULT_MAX_ANSWER_BYTES = 256 << 20
"""The clients' default ``max_answer_bytes``: one answer may have 256 MiB, decoded."""

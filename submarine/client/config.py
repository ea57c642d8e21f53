"""Where the server is and who we are: from arguments first, then the environment.

Everything here is read when a client is created, never at import.

Host, in order: the ``host`` argument; ``SUBMARINE_HOST`` (a URL); the upstream pair
``SUBMARINE_SERVER_DNS_NAME`` + ``SUBMARINE_SERVER_PORT``; ``http://localhost:8080``.
Credentials: ``token`` or ``SUBMARINE_TOKEN``; ``username``/``password`` or
``SUBMARINE_USERNAME``/``SUBMARINE_PASSWORD``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["DEFAULT_HOST", "Credentials", "normalize_host", "resolve_credentials", "resolve_host"]

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

"""The token of a local server of this user, found without being typed.

A local server that generated its token leaves a discovery file (:mod:`submarine._rundir`)
for each address it listens on. A client given no token and no username finds the file of
exactly the address it is about to call and, before it trusts it, checks that what listens
there is a socket of this user (Linux; elsewhere, that the server's process is one of this
user's and alive): a file left behind by a server that crashed never hands its token to
whoever listens on that port now.

A client of ``localhost`` that finds a token calls the address the file was written for
(``http://127.0.0.1:8080``), not whatever ``localhost`` resolves to first, so that the token
goes nowhere else.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from submarine._rundir import Discovery, discovery_host, read_discovery
from submarine._sockets import LISTEN, OwnerUnknownError, listener_owner

__all__ = ["Found", "discover"]


class Found(NamedTuple):
    """A discovered token and the URL to send it to."""

    token: str
    url: str


def _candidates(hostname: str) -> list[str]:
    if hostname == "localhost":
        return ["127.0.0.1", "::1"]
    address = discovery_host(hostname)
    # 0.0.0.0 and :: are no addresses a client calls; their files are 127.0.0.1's and ::1's.
    return [address] if address is not None and hostname not in ("0.0.0.0", "::") else []


def _listening(found: Discovery) -> bool:
    """Whether what listens at the file's address is this user's server."""
    try:
        owner = listener_owner((found.host, found.port))
    except OwnerUnknownError:
        try:  # no way to ask who listens: the server's process, if it is ours and alive
            os.kill(found.pid, 0)
        except OSError:
            return False
        return True
    except ValueError:
        return False
    return owner is not None and owner.state == LISTEN and owner.uid == os.geteuid()


def discover(host: str, environ: Mapping[str, str] | None = None) -> Found | None:
    """The token of the local server at ``host`` (a base URL), and the URL to call it by;
    None when ``host`` is no plain ``http://`` loopback address or no server of this user
    left its token for that address and port."""
    try:
        parts = urlsplit(host)
        hostname, port = (parts.hostname or "").rstrip(".").lower(), parts.port
    except ValueError:
        return None
    if parts.scheme.lower() != "http" or "@" in parts.netloc or parts.path.strip("/"):
        return None
    for address in _candidates(hostname):
        found = read_discovery(address, port or 80, environ)
        if found is not None and _listening(found):
            return Found(found.token, found.url)
    return None

"""The server's own user needs no token: a loopback request whose socket is that user's.

A server whose token it generated itself (none was given) lets in, without the token, the
requests that come over loopback from a socket held by its own uid: the same user's
token-less tools (Submarine 0.8.0's client and CLI, ``curl``, the page in that user's
browser) keep working, and every other user of the machine gets 401.

The peer is looked up by its two ends, the request's ``client`` and ``server`` addresses
(:mod:`submarine._sockets`): by netlink (some 15 µs, on the event loop), else in
``/proc/net/tcp`` and ``tcp6`` (milliseconds: in a worker thread, one at a time). It passes
when that socket is open (``ESTABLISHED``), still held by a process (a nonzero inode: a
socket its process closed reports uid 0 whoever made it) and its uid is the server's
effective uid. Anything else, an address that is not loopback, a system that cannot tell
(not Linux), does not pass.

Whoever relays connections for the user relays this pass too: a port forward or proxy that
the user runs on loopback (``ssh -L``, a notebook's proxy) makes its clients the user's.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
import logging
import os
from typing import Final

import anyio
import anyio.to_thread
from starlette.types import Scope

from submarine._sockets import (
    ESTABLISHED,
    Address,
    OwnerUnknownError,
    SocketOwner,
    netlink_connection_owner,
    proc_connection_owner,
)

__all__ = ["OWN_USER_KEY", "UNKNOWN", "OwnUser", "Unknown", "is_loopback_address"]

logger = logging.getLogger(__name__)

OWN_USER_KEY: Final = "submarine.own_user"
"""Where a request's scope keeps the answer once it was looked up (a request is looked up
once, whichever guard asks)."""


class Unknown(enum.Enum):
    """The type of :data:`UNKNOWN`."""

    UNKNOWN = "unknown"


UNKNOWN: Final = Unknown.UNKNOWN
"""Who holds a socket cannot be told this way here."""


def _uid(owner: SocketOwner | None) -> int | None:
    """The uid of a socket that is open and held by a process (a closed one reports 0)."""
    if owner is None or owner.state != ESTABLISHED or owner.inode == 0:
        return None
    return owner.uid


@functools.lru_cache(maxsize=1024)
def is_loopback_address(host: str) -> bool:
    """Whether an ASGI client address is a loopback one (IPv4-mapped ones included).

    >>> is_loopback_address("127.0.0.1"), is_loopback_address("::ffff:127.0.0.2")
    (True, True)
    >>> is_loopback_address("10.0.0.1"), is_loopback_address("testclient")
    (False, False)
    """
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


class OwnUser:
    """Tells whether a request comes from a loopback socket of the server's own user.

    Args:
        uid: the user let in (default: this process's effective uid).
    """

    def __init__(self, uid: int | None = None) -> None:
        self.uid = os.geteuid() if uid is None else uid
        self._netlink = True
        self._limiter: anyio.CapacityLimiter | None = None

    async def _owner(self, local: Address, remote: Address) -> SocketOwner | None:
        if self._netlink:
            try:
                return netlink_connection_owner(local, remote)
            except OSError as exc:
                self._netlink = False
                logger.info(
                    "netlink cannot tell who holds a socket here (%s): reading /proc/net/tcp",
                    exc,
                )
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(
            proc_connection_owner, local, remote, limiter=self._limiter
        )

    def peer_uid_now(self, client: Address, server: Address) -> int | Unknown | None:
        """:meth:`peer_uid` of a connection's two ends, by netlink alone (fit for code
        that cannot wait); :data:`UNKNOWN` when netlink cannot tell here."""
        if not is_loopback_address(client[0]):
            return None
        if not self._netlink:
            return UNKNOWN
        try:
            owner = netlink_connection_owner(client, server)
        except OSError:
            return UNKNOWN
        except (OwnerUnknownError, ValueError):
            return None
        return _uid(owner)

    async def peer_uid(self, scope: Scope) -> int | None:
        """The uid of the process holding the loopback socket a request came from; None
        when the request is not from loopback, or the socket is closed, held by no process
        or cannot be looked up."""
        client, server = scope.get("client"), scope.get("server")
        if not (client and server and is_loopback_address(str(client[0]))):
            return None
        try:
            owner = await self._owner(
                (str(client[0]), int(client[1])), (str(server[0]), int(server[1]))
            )
        except (OwnerUnknownError, ValueError):
            return None
        return _uid(owner)

    async def __call__(self, scope: Scope) -> bool:
        """Whether the request of ``scope`` comes from a loopback socket of :attr:`uid`."""
        known = scope.get(OWN_USER_KEY)
        if isinstance(known, bool):
            return known
        passes = await self.peer_uid(scope) == self.uid
        scope[OWN_USER_KEY] = passes
        return passes

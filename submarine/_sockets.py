"""Which user holds a TCP socket of this machine: the kernel's answer, asked by address (Linux).

The local server lets a loopback request in without a token when the socket it came from
belongs to the server's own user; the client sends a discovered token only to a listening
socket of its own user. Both ask here, by the socket's local and remote address:

* a netlink ``sock_diag`` query for that one socket (``SOCK_DIAG_BY_FAMILY``: a hash
  lookup in the kernel, some 15 µs), and where netlink is not available
* ``/proc/net/tcp`` and ``/proc/net/tcp6``, the table of every TCP socket of the machine
  (the kernel walks them all: about 10 ms with a few thousand sockets).

Both report the same kernel fields: the state, the uid of the socket's file and its inode.
A socket no process holds any more (closed, waiting for the peer) has inode 0 and reports
uid 0 whoever made it, so a caller that trusts a uid must also want a nonzero inode.

Addresses are ``(host, port)`` as ``socket`` and ASGI give them (``"127.0.0.1"``,
``"::1"``, ``"::ffff:127.0.0.1"``). An IPv4 address is looked up both as itself and
IPv4-mapped (``::ffff:a.b.c.d``), since a dual-stack socket may hold it either way.

>>> row = "   0: 0100007F:1F90 0100007F:D431 01 00000000:00000000 00:00000000 00000000  1000 0 77 1"
>>> find_connection(row, ("127.0.0.1", 8080), ("127.0.0.1", 54321), byteorder="little")
SocketOwner(uid=1000, state=1, inode=77)
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import ipaddress
import os
import socket
import struct
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final, Literal

__all__ = [
    "ESTABLISHED",
    "LISTEN",
    "OwnerUnknownError",
    "SocketOwner",
    "connection_owner",
    "find_connection",
    "find_listener",
    "listener_owner",
    "netlink_connection_owner",
    "proc_connection_owner",
    "proc_rows",
]

ESTABLISHED: Final = 1
"""The TCP state of an open connection."""
LISTEN: Final = 10
"""The TCP state of a listening socket."""
PROC_TABLES: Final = ("/proc/net/tcp", "/proc/net/tcp6")
"""Where Linux lists the TCP sockets of this network namespace."""

_NETLINK_SOCK_DIAG: Final = 4
_SOCK_DIAG_BY_FAMILY: Final = 20
_NLM_F_REQUEST: Final = 1
_NLMSG_ERROR: Final = 2
_NO_COOKIE: Final = 0xFFFFFFFF
_ALL_STATES: Final = 0xFFFFFFFF
_HEADER: Final = struct.Struct("=IHHII")  # nlmsghdr: length, type, flags, seq, pid
_REQUEST: Final = struct.Struct("=BBBBI")  # inet_diag_req_v2: family, protocol, ext, pad, states
_ID_SIZE: Final = 48  # inet_diag_sockid: ports, two 16-byte addresses, interface, cookie
_TAIL: Final = struct.Struct("=IIIII")  # inet_diag_msg after the id: expires .. uid, inode

Address = tuple[str, int]
"""``(host, port)`` of one end of a socket."""
Packed = tuple[int, bytes, int]
"""``(family, address bytes, port)``."""


class OwnerUnknownError(OSError):
    """Neither netlink nor ``/proc/net`` can say who holds a socket (not Linux, or both are
    barred)."""


@dataclass(frozen=True)
class SocketOwner:
    """What the kernel says of one socket."""

    uid: int
    """The uid of the socket's file (0 for a socket no process holds any more)."""
    state: int
    """The TCP state: :data:`ESTABLISHED`, :data:`LISTEN`, ..."""
    inode: int
    """The socket's inode; 0 when no process holds it any more."""


@functools.lru_cache(maxsize=1024)
def _forms(host: str) -> tuple[tuple[int, bytes], ...]:
    """``(family, packed address)`` of each form a socket may hold ``host`` in (kept: the
    same few client addresses are looked up again and again)."""
    address = ipaddress.ip_address(host.strip("[]").split("%")[0])
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped
        if mapped is None:
            return ((socket.AF_INET6, address.packed),)
        address = mapped
    return (
        (socket.AF_INET, address.packed),
        (socket.AF_INET6, ipaddress.IPv6Address(f"::ffff:{address}").packed),
    )


def _pairs(local: Address, remote: Address) -> list[tuple[Packed, Packed]]:
    """The (local, remote) forms to look a connection up by, one family each."""
    remote_forms = dict(_forms(remote[0]))
    return [
        ((family, packed, local[1]), (family, remote_forms[family], remote[1]))
        for family, packed in _forms(local[0])
        if family in remote_forms
    ]


# -- netlink ----------------------------------------------------------------------------------


class _Link:
    """The process's sock_diag socket, made once and shared under a lock (a lookup is a
    send and a receive), made again in a forked child, closed at exit."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self._socket: socket.socket | None = None
        self._pid = 0
        atexit.register(self.drop)

    def get(self) -> socket.socket:
        """The socket (call with :attr:`lock` held)."""
        if self._socket is None or self._pid != os.getpid():
            self._socket = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, _NETLINK_SOCK_DIAG)
            self._pid = os.getpid()
        return self._socket

    def drop(self) -> None:
        """Close the socket: a fresh one next time, with no answer left over to misread."""
        if self._socket is not None and self._pid == os.getpid():
            self._socket.close()
        self._socket = None


_LINK = _Link()


def _netlink_query(local: Packed, remote: Packed) -> SocketOwner | None:
    """Ask the kernel for the one socket with these ends; None when there is none.

    Raises OSError when netlink cannot be used here (then ask ``/proc``).
    """
    family = local[0]
    sockid = (
        struct.pack(">HH", local[2], remote[2])
        + local[1].ljust(16, b"\0")
        + remote[1].ljust(16, b"\0")
        + struct.pack("=III", 0, _NO_COOKIE, _NO_COOKIE)
    )
    body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, _ALL_STATES) + sockid
    message = _HEADER.pack(_HEADER.size + len(body), _SOCK_DIAG_BY_FAMILY, _NLM_F_REQUEST, 1, 0)
    with _LINK.lock:
        try:
            link = _LINK.get()
            link.send(message + body)
            # The kernel answers a lookup before send returns: nothing to wait for.
            answer = link.recv(8192, socket.MSG_DONTWAIT)
        except OSError:
            _LINK.drop()
            raise
    if len(answer) < _HEADER.size + 4:
        raise OSError("a short sock_diag answer")
    kind = _HEADER.unpack_from(answer)[1]
    if kind == _NLMSG_ERROR:
        error = -struct.unpack_from("=i", answer, _HEADER.size)[0]
        if error in (0, 2):  # ENOENT: no such socket
            return None
        raise OSError(error, os.strerror(error))
    start = _HEADER.size
    if kind != _SOCK_DIAG_BY_FAMILY or len(answer) < start + 4 + _ID_SIZE + _TAIL.size:
        raise OSError(f"an unexpected sock_diag answer (type {kind})")
    state = answer[start + 1]
    uid, inode = _TAIL.unpack_from(answer, start + 4 + _ID_SIZE)[3:]
    return SocketOwner(uid=uid, state=state, inode=inode)


# -- /proc/net/tcp ----------------------------------------------------------------------------


def _proc_address(text: str, byteorder: Literal["little", "big"]) -> bytes:
    """An address as ``/proc/net/tcp`` prints it (32-bit words in host order) as bytes."""
    raw = bytes.fromhex(text)
    if byteorder == "big":
        return raw
    return b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))


def proc_rows(
    text: str, byteorder: Literal["little", "big"] = sys.byteorder
) -> Iterator[tuple[Packed, Packed, SocketOwner]]:
    """``(local, remote, owner)`` of every row of a ``/proc/net/tcp`` or ``tcp6`` text.

    Rows that cannot be read are skipped. ``byteorder`` is that of the machine that wrote
    the text.
    """
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 10 or not fields[0].endswith(":") or not fields[0][:-1].isdigit():
            continue
        try:
            ends = []
            for end in fields[1:3]:
                address, _, port = end.partition(":")
                packed = _proc_address(address, byteorder)
                family = socket.AF_INET if len(packed) == 4 else socket.AF_INET6
                ends.append((family, packed, int(port, 16)))
            owner = SocketOwner(uid=int(fields[7]), state=int(fields[3], 16), inode=int(fields[9]))
        except ValueError:
            continue
        yield ends[0], ends[1], owner


def find_connection(
    text: str,
    local: Address,
    remote: Address,
    byteorder: Literal["little", "big"] = sys.byteorder,
) -> SocketOwner | None:
    """The owner of the socket whose ends are ``local`` and ``remote``, in a table text."""
    wanted = set(_pairs(local, remote))
    for near, far, owner in proc_rows(text, byteorder):
        if (near, far) in wanted:
            return owner
    return None


def _wildcards(family: int) -> bytes:
    return bytes(4 if family == socket.AF_INET else 16)


def find_listener(
    text: str, address: Address, byteorder: Literal["little", "big"] = sys.byteorder
) -> SocketOwner | None:
    """The owner of the listening socket that a connection to ``address`` reaches, in a
    table text: one bound to that address, else one bound to every address of its family
    (an IPv6 one on ``::`` takes IPv4 too, unless it is IPv6-only)."""
    forms = _forms(address[0])
    exact = {(family, packed, address[1]) for family, packed in forms}
    wildcard = {(family, _wildcards(family), address[1]) for family, _ in forms}
    wildcard.add((socket.AF_INET6, bytes(16), address[1]))
    found: SocketOwner | None = None
    for near, _far, owner in proc_rows(text, byteorder):
        if owner.state != LISTEN:
            continue
        if near in exact:
            return owner
        if near in wildcard and found is None:
            found = owner
    return found


def _read_proc(path: str) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 1 << 16):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("ascii", "replace")


def _proc_tables() -> str:
    texts = []
    for path in PROC_TABLES:
        with contextlib.suppress(FileNotFoundError):  # no IPv6 on this machine
            texts.append(_read_proc(path))
    if not texts:
        raise OwnerUnknownError("no /proc/net/tcp here: who holds a socket cannot be told")
    return "\n".join(texts)


# -- the lookups ------------------------------------------------------------------------------


def _netlink_usable() -> bool:
    return sys.platform.startswith("linux") and hasattr(socket, "AF_NETLINK")


def _proc_text() -> str:
    try:
        return _proc_tables()
    except OSError as exc:
        raise OwnerUnknownError(str(exc)) from None


def netlink_connection_owner(local: Address, remote: Address) -> SocketOwner | None:
    """:func:`connection_owner` by netlink alone (fast: fit for an event loop).

    Raises:
        OSError: netlink cannot be used here.
        ValueError: an end is not an IP address.
    """
    if not _netlink_usable():
        raise OSError("no netlink here")
    for near, far in _pairs(local, remote):
        owner = _netlink_query(near, far)
        if owner is not None:
            return owner
    return None


def proc_connection_owner(local: Address, remote: Address) -> SocketOwner | None:
    """:func:`connection_owner` by ``/proc/net/tcp`` alone (slow: reads every TCP socket).

    Raises:
        OwnerUnknownError: there is no ``/proc/net/tcp`` to read.
        ValueError: an end is not an IP address.
    """
    return find_connection(_proc_text(), local, remote)


def connection_owner(local: Address, remote: Address) -> SocketOwner | None:
    """Who holds the socket of this machine whose ends are ``local`` and ``remote``; None
    when there is no such socket. Netlink is asked first, then ``/proc``.

    Raises:
        OwnerUnknownError: this system cannot tell (not Linux, or ``/proc`` is barred).
        ValueError: an end is not an IP address.
    """
    with contextlib.suppress(OSError):
        return netlink_connection_owner(local, remote)
    return proc_connection_owner(local, remote)


def _netlink_listener(address: Address) -> SocketOwner | None:
    if not _netlink_usable():
        raise OSError("no netlink here")
    for family, packed in _forms(address[0]):
        # An exact lookup with no remote end finds the listener a SYN would reach.
        owner = _netlink_query((family, packed, address[1]), (family, b"", 0))
        if owner is not None and owner.state == LISTEN:
            return owner
    return None


def listener_owner(address: Address) -> SocketOwner | None:
    """Who holds the listening socket that a connection to ``address`` of this machine
    reaches; None when nothing listens there. Netlink is asked first, then ``/proc``.

    Raises:
        OwnerUnknownError: this system cannot tell (not Linux, or ``/proc`` is barred).
        ValueError: the address is not an IP address.
    """
    with contextlib.suppress(OSError):
        return _netlink_listener(address)
    return find_listener(_proc_text(), address)

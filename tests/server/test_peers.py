"""Who holds a socket: the /proc/net/tcp reader on sample tables, and netlink and /proc on
real sockets (this user's, and ``nobody``'s), and the server's same-user pass on top."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from submarine._sockets import (
    ESTABLISHED,
    LISTEN,
    SocketOwner,
    connection_owner,
    find_connection,
    find_listener,
    listener_owner,
    netlink_connection_owner,
    proc_connection_owner,
    proc_rows,
)
from submarine.server.api.peers import OWN_USER_KEY, OwnUser, is_loopback_address
from tests.as_nobody import NOBODY, needs_nobody, start_as_nobody
from tests.support import wait_until

HEADER = (
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
    "timeout inode"
)


def row(number: int, local: str, remote: str, state: str, uid: int, inode: int) -> str:
    """A row of /proc/net/tcp as Linux writes it (the fields after the inode do not count)."""
    queues = "00000000:00000000 00:00000000 00000000"
    return f"  {number:2d}: {local} {remote} {state} {queues} {uid:5d} 0 {inode} 1 0 20 4 30 10 -1"


TCP = "\n".join(
    [
        HEADER,
        # a server on 127.0.0.1:8080 (uid 1000), listening
        row(0, "0100007F:1F90", "00000000:0000", "0A", 1000, 4242),
        # nobody's client socket 127.0.0.1:54321 -> the server
        row(1, "0100007F:D431", "0100007F:1F90", "01", 65534, 5151),
        # the server's end of that connection (uid 1000): not the peer's socket
        row(2, "0100007F:1F90", "0100007F:D431", "01", 1000, 4343),
        # a socket its process closed: uid 0, inode 0, TIME_WAIT
        row(3, "0100007F:D432", "0100007F:1F90", "06", 0, 0),
        # a listener on every address, port 9090 (uid 1001)
        row(4, "00000000:2382", "00000000:0000", "0A", 1001, 777),
        "   x: this row cannot be read",
        row(5, "ZZ00007F:1F90", "0100007F:D431", "01", 5, 1),
    ]
)
LOOP6 = "00000000000000000000000001000000"  # ::1
MAPPED = "0000000000000000FFFF00000100007F"  # ::ffff:127.0.0.1
ANY6 = "00000000000000000000000000000000"
TCP6 = "\n".join(
    [
        HEADER,
        row(0, f"{LOOP6}:1F90", f"{ANY6}:0000", "0A", 1000, 61),
        row(1, f"{LOOP6}:C350", f"{LOOP6}:1F90", "01", 1000, 62),
        # an IPv6 client socket that called ::ffff:127.0.0.1:8080 from port 40000
        row(2, f"{MAPPED}:9C40", f"{MAPPED}:1F90", "01", 1002, 63),
        # a dual-stack listener on :: port 7070 (uid 1003)
        row(3, f"{ANY6}:1B9E", f"{ANY6}:0000", "0A", 1003, 64),
    ]
)


def test_a_peer_is_its_own_socket_not_the_servers_end() -> None:
    owner = find_connection(TCP, ("127.0.0.1", 54321), ("127.0.0.1", 8080), byteorder="little")
    assert owner == SocketOwner(uid=65534, state=ESTABLISHED, inode=5151)
    server_end = find_connection(TCP, ("127.0.0.1", 8080), ("127.0.0.1", 54321), byteorder="little")
    assert server_end == SocketOwner(uid=1000, state=ESTABLISHED, inode=4343)


def test_a_closed_socket_reads_uid_0_and_inode_0() -> None:
    owner = find_connection(TCP, ("127.0.0.1", 54322), ("127.0.0.1", 8080), byteorder="little")
    assert owner == SocketOwner(uid=0, state=6, inode=0)


def test_no_row_no_owner() -> None:
    assert find_connection(TCP, ("127.0.0.1", 1), ("127.0.0.1", 8080), byteorder="little") is None
    assert (
        find_connection(TCP, ("127.0.0.2", 54321), ("127.0.0.1", 8080), byteorder="little") is None
    )


def test_rows_that_cannot_be_read_are_skipped() -> None:
    rows = list(proc_rows(TCP, byteorder="little"))
    assert len(rows) == 5
    assert rows[0][0] == (socket.AF_INET, bytes([127, 0, 0, 1]), 8080)


def test_ipv6_loopback_rows() -> None:
    owner = find_connection(TCP6, ("::1", 50000), ("::1", 8080), byteorder="little")
    assert owner == SocketOwner(uid=1000, state=ESTABLISHED, inode=62)


def test_an_ipv4_mapped_peer_is_found_in_tcp6() -> None:
    mapped = find_connection(
        TCP6, ("::ffff:127.0.0.1", 40000), ("::ffff:127.0.0.1", 8080), byteorder="little"
    )
    assert mapped == SocketOwner(uid=1002, state=ESTABLISHED, inode=63)
    # The same peer, as an IPv4 server names it: found in its mapped form too.
    plain = find_connection(TCP6, ("127.0.0.1", 40000), ("127.0.0.1", 8080), byteorder="little")
    assert plain == mapped


def test_an_ipv4_mapped_peer_is_found_in_tcp_too() -> None:
    # A dual-stack server sees an IPv4 client as ::ffff:127.0.0.1; its socket is in tcp.
    owner = find_connection(
        TCP, ("::ffff:127.0.0.1", 54321), ("::ffff:127.0.0.1", 8080), byteorder="little"
    )
    assert owner is not None
    assert owner.uid == 65534


def test_a_big_endian_table() -> None:
    text = row(0, "7F000001:D431", "7F000001:1F90", "01", 42, 9)
    owner = find_connection(text, ("127.0.0.1", 54321), ("127.0.0.1", 8080), byteorder="big")
    assert owner == SocketOwner(uid=42, state=ESTABLISHED, inode=9)


def test_listeners_exact_then_every_address() -> None:
    assert find_listener(TCP, ("127.0.0.1", 8080), byteorder="little") == SocketOwner(
        uid=1000, state=LISTEN, inode=4242
    )
    wildcard = find_listener(TCP, ("127.0.0.1", 9090), byteorder="little")
    assert wildcard is not None
    assert wildcard.uid == 1001
    assert find_listener(TCP, ("127.0.0.1", 1), byteorder="little") is None
    both = TCP + "\n" + TCP6
    dual_stack = find_listener(both, ("127.0.0.1", 7070), byteorder="little")
    assert dual_stack is not None
    assert dual_stack.uid == 1003
    assert find_listener(both, ("::1", 8080), byteorder="little") == SocketOwner(
        uid=1000, state=LISTEN, inode=61
    )


def test_addresses_that_are_not_ip_addresses_are_refused() -> None:
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        find_connection(TCP, ("testclient", 1), ("127.0.0.1", 8080))


# -- real sockets -----------------------------------------------------------------------------

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux tells socket owners")


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield sock


def _connect(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    client = socket.create_connection(listener.getsockname())
    accepted, _ = listener.accept()
    return client, accepted


NOBODY_CLIENT = """
import socket, sys
client = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(client.getsockname()[1], flush=True)
sys.stdin.read()
"""


@linux
def test_netlink_and_proc_agree_on_this_users_connection(listener: socket.socket) -> None:
    client, accepted = _connect(listener)
    with client, accepted:
        ends = (client.getsockname(), client.getpeername())
        by_netlink = netlink_connection_owner(*ends)
        by_proc = proc_connection_owner(*ends)
        assert by_netlink == by_proc == connection_owner(*ends)
        assert by_netlink is not None
        assert (by_netlink.uid, by_netlink.state) == (os.geteuid(), ESTABLISHED)
        assert by_netlink.inode == os.fstat(client.fileno()).st_ino
    listening = listener_owner(listener.getsockname())
    assert listening is not None
    assert (listening.uid, listening.state) == (os.geteuid(), LISTEN)


@needs_nobody
@pytest.mark.slow  # starts a process of another user
def test_another_users_connection_is_theirs(listener: socket.socket) -> None:
    nobody = start_as_nobody(NOBODY_CLIENT, str(listener.getsockname()[1]))
    try:
        assert nobody.stdout is not None
        port = int(nobody.stdout.readline())
        accepted, peer = listener.accept()
        with accepted:
            assert peer[1] == port
            for lookup in (netlink_connection_owner, proc_connection_owner):
                owner = lookup(peer, listener.getsockname())
                assert owner is not None
                assert (owner.uid, owner.state) == (NOBODY, ESTABLISHED)
            scope = {"type": "http", "client": peer, "server": listener.getsockname()}
            assert asyncio.run(OwnUser()(scope)) is False
            assert scope[OWN_USER_KEY] is False
    finally:
        nobody.communicate("", timeout=30)


def _scope(client: tuple[Any, ...], server: tuple[Any, ...]) -> dict[str, Any]:
    return {"type": "http", "client": client, "server": server}


@linux
def test_the_servers_own_user_passes(listener: socket.socket) -> None:
    client, accepted = _connect(listener)
    with client, accepted:
        ends = (accepted.getpeername(), accepted.getsockname())
        scope = _scope(*ends)
        assert asyncio.run(OwnUser()(scope)) is True
        assert scope[OWN_USER_KEY] is True
        # A server of another uid does not take this user's socket for its own.
        assert asyncio.run(OwnUser(uid=os.geteuid() + 1)(_scope(*ends))) is False


@linux
@pytest.mark.slow  # starts a process of another user
def test_a_socket_its_process_closed_does_not_pass(listener: socket.socket) -> None:
    # Closed, its end reports uid 0 (root's) and inode 0 until the server closes too: a
    # server run as root must not take that for its own user.
    client, accepted = _connect(listener)
    with accepted:
        ends = (client.getsockname(), client.getpeername())
        client.close()
        owner = wait_until(
            lambda: (o := connection_owner(*ends)) is not None and o.state != ESTABLISHED and o,
            what="the closed socket to leave ESTABLISHED",
        )
        assert owner.inode == 0
        assert asyncio.run(OwnUser(uid=owner.uid)(_scope(ends[0], ends[1]))) is False


def test_who_is_never_looked_up() -> None:
    for client in (("10.0.0.1", 5), ("testclient", 50000), ("192.168.1.2", 80)):
        scope = _scope(client, ("127.0.0.1", 8080))
        assert asyncio.run(OwnUser()(scope)) is False
    assert asyncio.run(OwnUser()({"type": "http"})) is False
    assert is_loopback_address("::1")
    assert not is_loopback_address("::ffff:10.0.0.1")

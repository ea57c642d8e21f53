"""A login limit that holds under concurrency (issue 20, MEDIUM 3).

Before: ``POST /api/auth/token`` checked its address's failures before reading the body
and counted a failure after evaluating it, so 200 concurrent guesses all passed the check
and were all evaluated (the right one got the token).

Now an attempt is held against its address's budget before its body is read, and
attempts in flight count: of 200 concurrent wrong logins from one address at most 10 are
evaluated, the others get 429 before sending their body; the limit is per address, so the
right password from another address is accepted at once.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket

import pytest

from tests.as_nobody import NOBODY, needs_nobody, run_as_nobody
from tests.conftest import ServerFactory
from tests.support import wait_until

from .conftest import Figures
from .pingprobe import PingProbe
from .rawhttp import Answer, address, connect, file_limit, read_answer, send_head

pytestmark = [pytest.mark.reliability, pytest.mark.bounded, pytest.mark.slow]

TOKEN = "login-burst-token-0123456789"
USER, PASSWORD = "ada", "the-right-password"
BURST = 200
BUDGET = 10
"""Failed logins an address may have evaluated a minute."""
WAVES = 20
PACE = 0.005
"""Seconds between two pings of the probe: the attacks last a second or two."""


def _has_answer(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)


def test_concurrent_wrong_logins_are_evaluated_at_most_ten_times(
    server_factory: ServerFactory, figures: Figures
) -> None:
    server = server_factory.start(
        "--token", TOKEN, "--username", USER, "--password", PASSWORD, "--max-connections", "400"
    )
    log_before = len(server.log().splitlines())
    bodies = [
        json.dumps({"username": USER, "password": f"guess-{index:04d}"}).encode()
        for index in range(BURST)
    ]
    answers: list[Answer] = []
    with file_limit(BURST), PingProbe(server, pace=PACE) as probe:
        sockets = [connect(server, timeout=60) for _ in range(BURST)]
        try:
            # Every guess is in flight (headers sent, body held back) at the same time.
            for sock, body in zip(sockets, bodies, strict=True):
                send_head(sock, "POST", "/api/auth/token", length=len(body))
            wait_until(
                lambda: sum(1 for s in sockets if _has_answer(s)) >= BURST - BUDGET,
                timeout=60,
                what=f"all but {BUDGET} of {BURST} logins to be refused before their body",
            )
            for sock, body in zip(sockets, bodies, strict=True):
                with contextlib.suppress(OSError):  # closed by the server after refusing it
                    sock.sendall(body)
            answers = [read_answer(sock, timeout=60) for sock in sockets]
        finally:
            for sock in sockets:
                sock.close()
    codes = [answer.status for answer in answers]
    evaluated = codes.count(401)
    figures.set(f"login burst: wrong logins evaluated of {BURST} concurrent", evaluated)
    probe.report(figures, f"login burst ({BURST} concurrent wrong logins)")
    assert set(codes) <= {401, 429}, codes
    assert evaluated <= BUDGET, f"{evaluated} of {BURST} concurrent guesses were evaluated"
    assert codes.count(429) == BURST - evaluated
    assert all(TOKEN not in answer.body.decode() for answer in answers)
    failed_lines = [
        line
        for line in server.log().splitlines()[log_before:]
        if re.search(r"failed login as ada from 127\.0\.0\.1 ", line)
    ]
    assert len(failed_lines) == evaluated

    # The address is locked out (for at most a minute), whatever it sends ...
    with connect(server) as sock:
        body = json.dumps({"username": USER, "password": PASSWORD}).encode()
        send_head(sock, "POST", "/api/auth/token", length=len(body))
        locked = read_answer(sock)  # before the body
    assert locked.status == 429, locked
    assert 1 <= int(locked.headers["retry-after"]) <= 60
    # ... and another address is not: the right password is accepted at once.
    with connect(server, source="127.0.0.2") as sock:
        send_head(sock, "POST", "/api/auth/token", length=len(body))
        sock.sendall(body)
        accepted = read_answer(sock)
    assert accepted.status == 200, accepted
    assert accepted.json()["result"] == TOKEN


def test_waves_of_logins_from_a_locked_out_address_cost_little(
    server_factory: ServerFactory, figures: Figures
) -> None:
    """Once an address is locked out, each wave of 200 concurrent logins from it is
    refused from the first bytes of its request, before HTTP parsing and the app
    (measured: ping and memory during 20 waves)."""
    server = server_factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    body = json.dumps({"username": USER, "password": "wrong"}).encode()
    for _ in range(BUDGET):
        with connect(server) as sock:
            send_head(sock, "POST", "/api/auth/token", length=len(body))
            sock.sendall(body)
            assert read_answer(sock).status == 401
    codes: list[int] = []
    with file_limit(BURST), PingProbe(server, pace=PACE) as probe:
        for _ in range(WAVES):
            sockets = [connect(server, timeout=60) for _ in range(BURST)]
            try:
                for sock in sockets:
                    send_head(sock, "POST", "/api/auth/token", length=len(body))
                codes += [read_answer(sock, timeout=60).status for sock in sockets]
            finally:
                for sock in sockets:
                    sock.close()
    probe.report(figures, f"login waves ({WAVES} x {BURST} from a locked-out address)")
    assert codes == [429] * WAVES * BURST
    failed = server.log().count("failed login as ada")
    assert failed == BUDGET


def test_a_forwarded_for_header_is_no_fresh_address(server_factory: ServerFactory) -> None:
    """uvicorn believed ``X-Forwarded-For`` from loopback: each made-up address got a
    fresh budget, so guesses were never limited. The server stands behind no proxy."""
    server = server_factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    body = json.dumps({"username": USER, "password": "wrong"}).encode()
    codes = []
    for index in range(BUDGET + 5):
        with connect(server) as sock:
            forged = {"X-Forwarded-For": f"10.0.0.{index}", "Forwarded": f"for=10.0.1.{index}"}
            send_head(sock, "POST", "/api/auth/token", length=len(body), headers=forged)
            with contextlib.suppress(OSError):
                sock.sendall(body)
            codes.append(read_answer(sock).status)
    assert codes == [401] * BUDGET + [429] * 5
    log = server.log()
    assert log.count("failed login as ada from 127.0.0.1 ") == BUDGET
    assert re.search(r"10\.0\.[01]\.\d", log) is None  # no forged address anywhere


_GUESSER = """
import http.client, json, sys
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
codes = []
for _ in range(count):
    connection = http.client.HTTPConnection(host, port, timeout=60)
    body = json.dumps({"username": "ada", "password": "a-wrong-guess"})
    connection.request("POST", "/api/auth/token", body, {"Content-Type": "application/json"})
    codes.append(connection.getresponse().status)
    connection.close()
print(json.dumps(codes))
"""
"""What ``nobody`` runs: ``count`` wrong logins, each in its own connection; prints their
statuses."""


@needs_nobody
def test_another_local_user_cannot_lock_the_servers_user_out(
    server_factory: ServerFactory,
) -> None:
    """Every local user shares the address 127.0.0.1: its budget was one, so anyone on the
    machine could lock the real user out. On loopback the budget is per user too."""
    server = server_factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    host, port = address(server)
    done = run_as_nobody(_GUESSER, host, str(port), str(BUDGET + 3))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [401] * BUDGET + [429] * 3  # nobody is locked out
    # ... and the server's own user, from the same address, is not.
    with connect(server) as sock:
        body = json.dumps({"username": USER, "password": PASSWORD}).encode()
        send_head(sock, "POST", "/api/auth/token", length=len(body))
        sock.sendall(body)
        accepted = read_answer(sock)
    assert accepted.status == 200, accepted
    assert accepted.json()["result"] == TOKEN
    assert f"from 127.0.0.1 (uid {NOBODY})" in server.log()

"""Nothing unauthenticated costs more than a small, bounded amount (issue 20, MEDIUM 1).

Before: ``/api/metric/add`` and ``/api/param/add`` (no server token needed, a replica's
credential instead) and ``/api/auth/token`` read and parsed a body of up to 1 MiB before
any credential was checked, on the event loop: two 1 MB YAML bodies moved ping from 2 ms
to some 4 s. And an answer sent without reading the body (the 401 of a missing token) left
the server reading whatever the client went on sending, for as long as it sent.

Now credentials are checked from the headers, before a byte of the body is read (a
replica's credential names its experiment); the login route reads at most 4 KiB, after
holding a place in its address's budget; what follows an early answer is dropped up to a
bound, then the connection is closed; bodies past a few KiB are parsed in a worker thread.
Each test observes what the server read before answering by withholding the body: the
answer comes before the body is sent.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from submarine.client import ExperimentClient
from submarine.server.api.connections import DISCARD_BYTES
from submarine.server.api.rest import YAML_MAX_VALUES
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures
from .pingprobe import PingProbe
from .rawhttp import connect, read_answer, send_head

pytestmark = [pytest.mark.reliability, pytest.mark.bounded, pytest.mark.slow]

TOKEN = "preauth-test-token-0123456789"
USER, PASSWORD = "ada", "the-right-password"
MB = 1_000_000
FAKE_CREDENTIAL = "experiment-1700000000000-0001." + "0" * 64
"""A replica credential's shape, with a digest this server never made."""


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with a token and a user, for this module's attacks."""
    factory = ServerFactory(tmp_path_factory.mktemp("preauth"))
    try:
        yield factory.start("--token", TOKEN, "--username", USER, "--password", PASSWORD)
    finally:
        factory.close()


@pytest.mark.parametrize(
    ("path", "authorization"),
    [
        ("/api/v1/experiment", None),
        ("/api/v1/experiment", "Bearer wrong-token"),
        ("/api/metric/add", None),
        ("/api/metric/add", "Bearer wrong-token"),
        ("/api/param/add", f"Bearer {FAKE_CREDENTIAL}"),
        ("/api/param/add", "Bearer " + "x" * 8000 + ".0"),
    ],
    ids=["experiment", "experiment-wrong", "metric", "metric-wrong", "param-forged", "long"],
)
def test_a_request_without_credentials_is_answered_before_its_body_is_sent(
    token_server: RunningServer, figures: Figures, path: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with connect(token_server) as sock:
        send_head(sock, "POST", path, length=MB, headers=headers)
        answer = read_answer(sock)  # not one byte of the 1 MB body was sent
    assert answer.status == 401, answer
    assert answer.json()["message"] == "The token is not valid."
    figures.add("preauth: 1 MB bodies refused with 0 bytes of them sent")


def test_the_login_route_refuses_a_large_body_before_reading_it(
    token_server: RunningServer, figures: Figures
) -> None:
    with connect(token_server, source="127.0.0.3") as sock:
        send_head(sock, "POST", "/api/auth/token", length=MB)
        answer = read_answer(sock)
    assert answer.status == 413, answer
    assert f"{MB} bytes" in answer.json()["message"]
    assert answer.headers.get("connection") == "close"
    figures.add("preauth: 1 MB bodies refused with 0 bytes of them sent")


def test_a_locked_out_address_is_refused_before_its_body_is_sent(
    token_server: RunningServer, figures: Figures
) -> None:
    source = "127.0.0.4"
    body = json.dumps({"username": USER, "password": "wrong"}).encode()
    codes = []
    for _ in range(11):
        with connect(token_server, source=source) as sock:
            send_head(sock, "POST", "/api/auth/token", length=len(body))
            sock.sendall(body)
            codes.append(read_answer(sock).status)
    assert codes == [401] * 10 + [429], codes
    with connect(token_server, source=source) as sock:
        send_head(sock, "POST", "/api/auth/token", length=4000)
        answer = read_answer(sock)  # the body is never sent
    assert answer.status == 429, answer
    assert 1 <= int(answer.headers["retry-after"]) <= 60
    figures.add("preauth: 1 MB bodies refused with 0 bytes of them sent")


def test_what_follows_an_early_answer_is_dropped_up_to_a_bound(
    token_server: RunningServer, figures: Figures
) -> None:
    """A body sent on after the 401 is read and dropped (the client reads its answer, not
    a reset), but only so far: then the connection is closed."""
    intended = 128 << 20
    sent = 0
    with connect(token_server) as sock:
        send_head(sock, "POST", "/api/metric/add", length=intended)
        assert read_answer(sock).status == 401
        piece = b"x" * (1 << 16)
        try:
            while sent < intended:
                sent += sock.send(piece)
        except OSError:
            pass  # closed by the server: what it read is bounded
    # What the server read, plus what the two kernels' buffers held when it closed.
    rmem = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    wmem = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    figures.set("preauth: body bytes a client could send after its 401 (MB)", round(sent / MB, 1))
    assert sent < min(intended, DISCARD_BYTES + rmem + wmem), f"{sent} bytes were taken"


def _yaml_body(size: int) -> bytes:
    """A YAML mapping of ``size`` bytes or a little more: many small entries, slow to parse."""
    lines = []
    total = 0
    index = 0
    while total < size:
        line = f"key{index}: [a, b, {{x: {index}, y: text}}]\n"
        lines.append(line)
        total += len(line)
        index += 1
    return "".join(lines).encode()


def test_large_yaml_bodies_are_refused_before_the_parser_builds_them(
    server_factory: ServerFactory, figures: Figures
) -> None:
    """Two 1 MB YAML bodies from a client with the token: the YAML parser built some 120 MB
    of nodes for each before the document was judged (240 MB, and collector pauses of
    seconds). Their values are counted from the parser's events first, off the event loop,
    and a body of more than ``YAML_MAX_VALUES`` is a 413 that asks for JSON."""
    server = server_factory.start("--token", TOKEN)
    body = _yaml_body(MB)
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/yaml"}
    sockets = [connect(server, timeout=120) for _ in range(2)]
    with PingProbe(server, pace=0.005) as probe:
        senders = []
        for sock in sockets:
            send_head(sock, "POST", "/api/metric/add", length=len(body), headers=auth)
            sender = threading.Thread(target=sock.sendall, args=(body,))
            sender.start()
            senders.append(sender)
        for sender in senders:
            sender.join(120)
        answers = [read_answer(sock, timeout=120) for sock in sockets]
    for sock in sockets:
        sock.close()
    found = probe.report(figures, "preauth: two 1 MB YAML bodies (with the token)")
    assert [answer.status for answer in answers] == [413, 413], answers
    message = answers[0].json()["message"]
    assert f"more than {YAML_MAX_VALUES:,} values" in message
    assert "application/json" in message
    assert found["pings failed during"] == 0
    assert found["server RSS growth (MB)"] < 50, found


def test_a_yaml_body_within_the_bound_is_read(server_factory: ServerFactory) -> None:
    """The bound leaves room: a YAML batch of records just under it is stored whole."""
    server = server_factory.start("--token", TOKEN)
    with ExperimentClient(server.url, token=TOKEN) as client:
        experiment_id = client.create_experiment(make_spec(name="yaml-batch")).experiment_id
    records = YAML_MAX_VALUES // 10  # each record: a mapping and its 4 keys and 4 values
    lines = [
        f"- {{id: {experiment_id}, key: k{i}, value: v, workerIndex: worker-0}}"
        for i in range(records)
    ]
    auth = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/yaml"}
    with httpx.Client(base_url=server.url, timeout=60) as http:
        answer = http.post("/api/param/add", content="\n".join(lines), headers=auth)
        assert answer.status_code == 200, answer.text
        assert answer.json()["attributes"]["stored"] == records
        one_more = http.post("/api/param/add", content="\n".join(lines * 2), headers=auth)
    assert one_more.status_code == 413, one_more.text


def test_unauthenticated_yaml_bodies_cost_little(
    token_server: RunningServer, figures: Figures
) -> None:
    """The attack of the report, sent whole: two clients send 1 MB YAML bodies to the
    routes that need no server token, ten each. Each is refused from its headers (a login
    body past the drain bound may see its connection closed instead of the 413)."""
    body = _yaml_body(MB)
    yaml = {"Content-Type": "application/yaml"}
    targets = [("/api/metric/add", {401}), ("/api/param/add", {401}), ("/api/auth/token", {413, 0})]
    codes: list[tuple[int, set[int]]] = []

    def attack() -> None:
        with httpx.Client(base_url=token_server.url, timeout=60) as http:
            for round_ in range(10):
                path, expected = targets[round_ % len(targets)]
                try:
                    status = http.post(path, content=body, headers=yaml).status_code
                except httpx.TransportError:  # a closed connection instead of the answer
                    status = 0
                codes.append((status, expected))

    with PingProbe(token_server, pace=0.005) as probe:
        attackers = [threading.Thread(target=attack) for _ in range(2)]
        for attacker in attackers:
            attacker.start()
        for attacker in attackers:
            attacker.join(300)
    probe.report(figures, "preauth: 2 clients x 10 unauthenticated 1 MB YAML bodies")
    assert len(codes) == 20
    assert all(status in expected for status, expected in codes), codes

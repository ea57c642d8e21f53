"""Every error the local server answers, each in Submarine's envelope, over real HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import yaml

from submarine.server.api.rest import YAML_MAX_VALUES
from tests.support import make_spec, unique_name

from .api_support import API, create, fail, in_process, ok

NOT_FOUND = "Not found experiment."
MIB = 1 << 20


@pytest.fixture
def client(server_url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server_url, timeout=30) as http:
        yield http


JSON = {"content-type": "application/json"}


# -- routes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/index.html", "/api/v1/nothing", "/api/v2/experiment", "/api/auth"]
)
def test_unknown_routes_are_404_envelopes(client: httpx.Client, path: str) -> None:
    message = fail(client.get(path), 404)
    assert path in message
    assert client.get(path).json()["status"] == "NOT_FOUND"


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("PUT", API, "GET, HEAD, POST"),
        ("POST", f"{API}/ping", "GET, HEAD"),
        ("POST", f"{API}/logs", "GET, HEAD"),
        ("POST", f"{API}/logs/experiment-1-1", "GET, HEAD"),
        ("POST", f"{API}/experiment-1-1/log-stream", "GET, HEAD"),
        # POST there submits the template of that name.
        ("PUT", f"{API}/experiment-1-1", "DELETE, GET, HEAD, PATCH, POST"),
        ("GET", "/api/auth/token", "POST"),
    ],
)
def test_wrong_methods_are_405_envelopes(
    client: httpx.Client, method: str, path: str, allowed: str
) -> None:
    response = client.request(method, path)
    message = fail(response, 405)
    assert response.json()["status"] == "METHOD_NOT_ALLOWED"
    assert message.endswith(f"use {allowed}")


# -- ids ---------------------------------------------------------------------------------

BAD_IDS = [
    "..%2F..%2Fetc%2Fpasswd",
    "..%2Fx",
    "experiment-1-1%2F..",
    "experiment-1-1;DROP TABLE experiments",
    "experiment-1-1%0A",
    "experiment--1",
    "experiment-123456789012345678901-1",  # 21 digits of epoch
    "x" * 10_000,
    "experiment-1-" + "1" * 10_000,
    "%00",
    "nothing",
]


@pytest.mark.parametrize("bad", BAD_IDS, ids=lambda s: s[:30])
@pytest.mark.parametrize(
    ("method", "template"),
    [
        ("GET", API + "/{}"),
        ("PATCH", API + "/{}"),
        ("DELETE", API + "/{}"),
        ("GET", API + "/logs/{}"),
        ("GET", API + "/{}/log-stream"),
    ],
)
def test_malformed_ids_are_not_found_before_any_lookup(
    client: httpx.Client, bad: str, method: str, template: str
) -> None:
    body = json.dumps(make_spec()) if method == "PATCH" else None
    response = client.request(method, template.format(bad), content=body, headers=JSON)
    fail(response, 404, NOT_FOUND)


def test_raw_dot_dot_in_the_path_does_not_escape(server_url: str) -> None:
    # httpx would normalise "..", so send the request line by hand.
    address = urlsplit(server_url)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=30) as sock:
        request = (
            f"GET {API}/../../../etc/passwd HTTP/1.1\r\n"
            f"Host: {address.netloc}\r\nConnection: close\r\n"
        )
        sock.sendall(request.encode() + b"\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.split(b" ")[1] == b"404"
    assert json.loads(body)["success"] is None
    assert b"root:" not in body


@pytest.mark.parametrize("method", ["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize(
    "spelling", ["experiment-1000000000000-9999", "experiment_1626160071451_0008"]
)
def test_well_formed_unknown_ids_are_not_found(
    client: httpx.Client, method: str, spelling: str
) -> None:
    body = json.dumps(make_spec()) if method == "PATCH" else None
    response = client.request(method, f"{API}/{spelling}", content=body, headers=JSON)
    fail(response, 404, NOT_FOUND)
    assert response.json()["status"] == "NOT_FOUND"


# -- bodies ------------------------------------------------------------------------------


def test_spec_errors_name_every_field(client: httpx.Client) -> None:
    spec = make_spec(resources="cpu=1,memory=1.5G")
    spec["meta"]["framework"] = "Caffe"
    spec["spec"]["Worker"]["replica"] = 2
    message = fail(client.post(API, json=spec), 400)
    problems = message.split("; ")
    assert any(p.startswith("meta.framework: unsupported framework 'Caffe'") for p in problems)
    assert any(p.startswith("spec.Worker.resources: memory='1.5G' is refused") for p in problems)
    assert "spec.Worker.replica: unknown key 'replica': did you mean 'replicas'?" in problems
    assert client.post(API, json=spec).json()["status"] == "BAD_REQUEST"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("null", "(spec): "),
        ("[]", "(spec): "),
        ('"text"', "(spec): "),
        ('{"meta": {"name": "x"}}', "environment: is required"),
    ],
)
def test_bodies_that_are_no_spec_are_400(client: httpx.Client, body: str, needle: str) -> None:
    response = client.post(API, content=body, headers={"content-type": "application/json"})
    assert needle in fail(response, 400)


@pytest.mark.parametrize("body", ["{bad", '{"meta": ', "{'single': 'quotes'}"])
def test_malformed_json_is_400_with_the_place(client: httpx.Client, body: str) -> None:
    response = client.post(API, content=body, headers={"content-type": "application/json"})
    message = fail(response, 400)
    assert message.startswith("request body:1:")
    assert "invalid JSON" in message


def test_an_empty_body_is_400(client: httpx.Client) -> None:
    response = client.post(API, content=b"", headers={"content-type": "application/json"})
    assert "empty" in fail(response, 400)


def test_a_body_that_is_not_utf8_is_400(client: httpx.Client) -> None:
    response = client.post(API, content=b'{"a": "\xff"}', headers=JSON)
    assert "UTF-8" in fail(response, 400)


@pytest.mark.parametrize("media", ["application/yaml", "application/x-yaml", "text/yaml"])
def test_yaml_bodies_create_and_patch(client: httpx.Client, media: str) -> None:
    spec = make_spec(name=unique_name("yaml"))
    headers = {"content-type": f"{media}; charset=utf-8"}
    created = ok(client.post(API, content=yaml.safe_dump(spec), headers=headers))
    assert created["spec"]["meta"]["name"] == spec["meta"]["name"]
    spec["meta"]["envVars"] = {"FROM": "yaml"}
    path = f"{API}/{created['experimentId']}"
    patched = ok(client.patch(path, content=yaml.safe_dump(spec), headers=headers))
    assert patched["spec"]["meta"]["envVars"] == {"FROM": "yaml"}


def test_malformed_yaml_is_400_with_the_place(client: httpx.Client) -> None:
    response = client.post(
        API, content="meta: [unclosed\n", headers={"content-type": "application/yaml"}
    )
    message = fail(response, 400)
    assert message.startswith("request body:")
    assert "invalid YAML" in message


def test_yaml_aliases_are_refused(client: httpx.Client) -> None:
    bomb = "a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: [*b, *b, *b, *b]\n"
    response = client.post(API, content=bomb, headers={"content-type": "application/yaml"})
    assert "aliases" in fail(response, 400)


def test_a_yaml_body_of_too_many_values_is_413_before_it_is_built(client: httpx.Client) -> None:
    many = "spec: [" + ", ".join(["1"] * YAML_MAX_VALUES) + "]\n"  # and the mapping and key
    response = client.post(API, content=many, headers={"content-type": "application/yaml"})
    message = fail(response, 413)
    assert f"more than {YAML_MAX_VALUES:,} values" in message
    assert "application/json" in message
    # The same document as JSON is read (and judged as a spec).
    as_json = client.post(API, json={"spec": [1] * YAML_MAX_VALUES})
    assert as_json.status_code == 400, as_json.text
    assert "values" not in fail(as_json, 400)


@pytest.mark.parametrize(
    "media", ["application/json; charset=utf-8", "text/json", "application/merge-patch+json"]
)
def test_json_is_read_with_any_json_content_type(client: httpx.Client, media: str) -> None:
    response = client.post(API, content=json.dumps(make_spec()), headers={"content-type": media})
    assert ok(response)["status"] == "Accepted"


@pytest.mark.parametrize("media", [None, "text/plain", "application/x-www-form-urlencoded"])
def test_bodies_a_web_page_can_send_without_a_preflight_are_415(
    client: httpx.Client, media: str | None
) -> None:
    headers = {"content-type": media} if media else {}
    request = client.build_request("POST", API, content=json.dumps(make_spec()), headers=headers)
    assert request.headers.get("content-type") == media
    message = fail(client.send(request), 415)
    assert "application/json" in message


@pytest.mark.parametrize("media", ["application/xml", "multipart/form-data", "image/png"])
def test_other_content_types_are_415(client: httpx.Client, media: str) -> None:
    response = client.post(API, content=json.dumps(make_spec()), headers={"content-type": media})
    message = fail(response, 415)
    assert media in message
    assert "application/json" in message
    assert response.json()["status"] == "UNSUPPORTED_MEDIA_TYPE"


def test_a_body_over_one_mib_is_413_by_its_length(client: httpx.Client) -> None:
    spec = make_spec()
    spec["meta"]["tags"] = ["x" * 1000] * (2 * MIB // 1000)
    response = client.post(API, json=spec)
    message = fail(response, 413)
    assert response.json()["status"] == "REQUEST_ENTITY_TOO_LARGE"
    assert str(MIB) in message


def test_a_chunked_body_over_one_mib_is_413_while_read(client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"meta": {"tags": ["'
        for _ in range(2 * MIB // 65536):
            yield b"x" * 65536
        yield b'"]}}'

    response = client.post(API, content=chunks(), headers={"content-type": "application/json"})
    assert response.request.headers.get("transfer-encoding") == "chunked"
    fail(response, 413)


def _raw_post(server_url: str, head: bytes, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST by hand: send the head, then every byte of ``body`` (which must not fail with
    a reset or broken pipe), then read the answer."""
    address = urlsplit(server_url)
    assert address.hostname is not None
    assert address.port is not None
    with socket.create_connection((address.hostname, address.port), timeout=60) as sock:
        sock.sendall(head + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    status_line, _, rest = data.partition(b"\r\n")
    answer = json.loads(rest.partition(b"\r\n\r\n")[2])
    return int(status_line.split(b" ")[1]), answer


@pytest.mark.parametrize("size", [MIB + 1, 2 * MIB, 8 * MIB])
def test_a_declared_too_large_body_sent_whole_reads_its_413(server_url: str, size: int) -> None:
    """The body is drained before the 413, so a client that sends it all reads the answer
    instead of a reset connection (repeated: a reset used to come now and then)."""
    head = (
        f"POST {API} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    for _ in range(5):
        status, answer = _raw_post(server_url, head, b"x" * size)
        assert status == 413
        assert answer["code"] == 413
        assert answer["success"] is None
        assert f"{size} bytes" in answer["message"]


def test_a_declared_too_large_body_that_never_comes_is_refused(server_url: str) -> None:
    """Draining is bounded in time: a client that declares a refused body and sends only a
    part of it still gets its 413, while it keeps the connection open and sends nothing
    more (an unbounded drain would wait for the rest forever: the read times out)."""
    head = (
        f"POST {API} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {2 * MIB}\r\n\r\n"
    ).encode()
    status, answer = _raw_post(server_url, head, b"x" * 1000)
    assert status == 413
    assert answer["code"] == 413


def test_a_body_just_under_the_limit_is_read(client: httpx.Client) -> None:
    spec = make_spec()
    base = len(json.dumps(spec).encode())
    spec["meta"]["tags"] = ["x" * (MIB - base - 100)]
    body = json.dumps(spec).encode()
    assert MIB - 200 < len(body) <= MIB
    assert ok(client.post(API, content=body, headers=JSON))["status"] == "Accepted"


def test_a_capacity_that_can_never_fit_is_refused_at_create(client: httpx.Client) -> None:
    spec = make_spec(resources="cpu=100000,memory=64M")
    message = fail(client.post(API, json=spec), 400)
    assert "can never run on this server" in message
    assert "cpu=100000" in message


def test_created_experiments_are_listed_once(client: httpx.Client) -> None:
    created = create(client, make_spec())
    ids = [e["experimentId"] for e in ok(client.get(API))]
    assert ids.count(created["experimentId"]) == 1


def test_an_unexpected_error_is_a_logged_500_envelope(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A healthy server cannot fail, so this app runs in-process with a broken store.
    from submarine.server.settings import Settings
    from submarine.server.store.experiments import Store

    def broken(*args: Any, **kwargs: Any) -> list[Any]:
        raise RuntimeError("disk on fire")

    async def call() -> httpx.Response:
        async with in_process(Settings(data_dir=tmp_path / "data", workdir=tmp_path)) as client:
            monkeypatch.setattr(Store, "scan", broken)
            return await client.get(API)

    with caplog.at_level(logging.ERROR, logger="submarine.server"):
        response = asyncio.run(call())
    message = fail(response, 500)
    assert response.json()["status"] == "INTERNAL_SERVER_ERROR"
    assert "RuntimeError" in message
    assert "disk on fire" not in message  # details stay in the log
    assert any("disk on fire" in (r.exc_text or "") for r in caplog.records)

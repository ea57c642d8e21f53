"""Host and credentials: argument, then environment, then default; read at creation."""

from __future__ import annotations

import httpx
import pytest

from submarine.client import ExperimentClient
from submarine.client._base import long_poll_timeout
from submarine.client.config import normalize_host, resolve_credentials, resolve_host


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("http://localhost:8080", "http://localhost:8080"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://localhost:8080/api", "http://localhost:8080"),
        ("http://localhost:8080/api/", "http://localhost:8080"),
        ("127.0.0.1:32080", "http://127.0.0.1:32080"),
        ("https://submarine.example.com/prefix/api", "https://submarine.example.com/prefix"),
        ("  http://h:1//  ", "http://h:1"),
    ],
)
def test_normalize_host(given, expected):
    assert normalize_host(given) == expected


@pytest.mark.parametrize(("bad", "match"), [("", "empty"), ("ftp://h", "scheme 'ftp'")])
def test_bad_hosts_say_what_would_work(bad, match):
    with pytest.raises(ValueError, match=match) as caught:
        normalize_host(bad)
    assert "http" in str(caught.value)


def test_host_precedence():
    env = {
        "SUBMARINE_HOST": "http://from-host:1",
        "SUBMARINE_SERVER_DNS_NAME": "dns",
        "SUBMARINE_SERVER_PORT": "2",
    }
    assert resolve_host("arg:9", env) == "http://arg:9"
    assert resolve_host(None, env) == "http://from-host:1"
    del env["SUBMARINE_HOST"]
    assert resolve_host(None, env) == "http://dns:2"
    assert resolve_host(None, {"SUBMARINE_SERVER_DNS_NAME": "dns"}) == "http://dns:8080"
    assert resolve_host(None, {}) == "http://localhost:8080"


def test_environment_is_read_when_the_client_is_created(monkeypatch):
    monkeypatch.setenv("SUBMARINE_HOST", "http://first:1/api")
    first = ExperimentClient()
    monkeypatch.setenv("SUBMARINE_HOST", "http://second:2")
    second = ExperimentClient()
    try:
        assert first.host == "http://first:1"
        assert second.host == "http://second:2"
    finally:
        first.close()
        second.close()


def test_upstream_pair_is_used_by_the_client(monkeypatch):
    monkeypatch.setenv("SUBMARINE_SERVER_DNS_NAME", "submarine-server")
    monkeypatch.setenv("SUBMARINE_SERVER_PORT", "8080")
    with ExperimentClient() as client:
        assert client.host == "http://submarine-server:8080"


def test_credentials_precedence():
    env = {"SUBMARINE_TOKEN": "t-env", "SUBMARINE_USERNAME": "u", "SUBMARINE_PASSWORD": "p"}
    creds = resolve_credentials("t-arg", None, None, env)
    assert (creds.token, creds.username, creds.password) == ("t-arg", "u", "p")
    assert creds.can_login
    assert resolve_credentials(None, None, None, {}).can_login is False
    assert resolve_credentials(None, None, None, env).token == "t-env"


@pytest.mark.parametrize(
    ("username", "password", "missing"), [("u", None, "password"), (None, "p", "username")]
)
def test_half_a_login_is_refused(username, password, missing):
    with pytest.raises(ValueError, match=f"without a {missing}"):
        resolve_credentials(None, username, password, {})


@pytest.mark.parametrize(
    "bad", ["http://[bad", "http://", "http://a b", "http://:80", "h:99999", "http://h/?q=1"]
)
def test_hosts_that_are_not_urls_are_refused_at_creation(bad):
    with pytest.raises(ValueError, match="not a valid URL") as caught:
        ExperimentClient(bad)
    assert "http://localhost:8080" in str(caught.value)


def test_default_timeouts_connect_5_read_60():
    with ExperimentClient("http://h") as client:
        assert client._http.timeout == httpx.Timeout(60.0, connect=5.0)
    with ExperimentClient("http://h", timeout=2.5) as client:
        assert client._http.timeout == httpx.Timeout(2.5)
    custom = httpx.Timeout(10.0, connect=1.0)
    with ExperimentClient("http://h", timeout=custom) as client:
        assert client._http.timeout == custom


def test_a_long_poll_extends_only_the_read_timeout():
    extended = long_poll_timeout(httpx.Timeout(60.0, connect=5.0), 12.0)
    assert (extended.connect, extended.read, extended.write) == (5.0, 72.0, 60.0)
    assert long_poll_timeout(httpx.Timeout(None), 12.0).read is None

"""Host, credentials and timeouts: argument, then environment, then default; read at
creation."""

from __future__ import annotations

import httpx
import pytest

from submarine.client import AsyncExperimentClient, ExperimentClient, Timeout
from submarine.client.config import (
    DEFAULT_TIMEOUT,
    normalize_host,
    resolve_credentials,
    resolve_host,
)


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
    assert Timeout(connect=5.0, read=60.0, write=60.0, pool=60.0) == DEFAULT_TIMEOUT
    with ExperimentClient("http://h") as client:
        assert client._http.timeout == httpx.Timeout(60.0, connect=5.0)


@pytest.mark.parametrize("client_class", [ExperimentClient, AsyncExperimentClient])
def test_a_number_limits_every_phase_even_when_it_equals_the_default_read(client_class):
    # 60.0 is the default's read timeout, yet it means 60 s for connecting too.
    for seconds in (60.0, 60, 2.5):
        client = client_class("http://h", timeout=seconds)
        assert client._http.timeout == httpx.Timeout(float(seconds))


def test_none_waits_for_ever_and_a_timeout_object_is_taken_as_is():
    with ExperimentClient("http://h", timeout=None) as client:
        assert client._http.timeout == httpx.Timeout(None)
    with ExperimentClient("http://h", timeout=Timeout(connect=1, read=None)) as client:
        assert client._http.timeout == httpx.Timeout(connect=1.0, read=None, write=60, pool=60)
    custom = httpx.Timeout(10.0, connect=1.0)
    with ExperimentClient("http://h", timeout=custom) as client:
        assert client._http.timeout == custom


def test_a_timeout_is_a_frozen_value():
    timeout = Timeout(read=300)
    assert timeout == Timeout(5.0, 300.0, 60.0, 60.0)
    assert repr(timeout) == "Timeout(connect=5.0, read=300.0, write=60.0, pool=60.0)"
    assert hash(timeout) == hash(Timeout(read=300.0))
    with pytest.raises(AttributeError):
        timeout.read = 1
    assert Timeout.of(timeout) is timeout
    assert Timeout.of(7) == Timeout(7, 7, 7, 7)
    assert Timeout.of(None) == Timeout(None, None, None, None)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"read": -1}, ValueError, "timeout read must be 0 or more seconds.*got -1"),
        ({"connect": float("nan")}, ValueError, "timeout connect must be 0 or more"),
        ({"write": "10"}, TypeError, "timeout write must be a number of seconds.*got '10'"),
        ({"pool": True}, TypeError, "timeout pool must be a number of seconds.*got True"),
    ],
)
def test_a_bad_phase_names_the_phase_and_the_value(kwargs, error, match):
    with pytest.raises(error, match=match):
        Timeout(**kwargs)


@pytest.mark.parametrize("bad", ["60", [60], True])
def test_a_bad_client_timeout_says_what_is_accepted(bad):
    with pytest.raises(TypeError, match="timeout must be a number of seconds, None") as caught:
        ExperimentClient("http://h", timeout=bad)
    assert repr(bad) in str(caught.value)


def test_a_long_poll_extends_only_the_read_timeout():
    extended = Timeout().with_longer_read(12.0)
    assert extended == Timeout(connect=5.0, read=72.0, write=60.0, pool=60.0)
    assert Timeout.of(None).with_longer_read(12.0).read is None

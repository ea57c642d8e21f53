"""Retries: what is retried, how often, how long it waits, and what never is."""

from __future__ import annotations

import email.utils
import time

import httpx
import pytest

from submarine.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    NotFoundError,
    ServerError,
)
from submarine.client._retry import RetryPolicy, retry_after_seconds
from tests.client.conftest import API, Script, experiment, fail, ok

EXP_ID = "experiment-1647192232698-0001"
SPEC = {
    "meta": {"name": "mnist", "framework": "TensorFlow", "cmd": "python train.py"},
    "environment": {"image": "busybox"},
    "spec": {"Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"}},
}


def unavailable(retry_after: str | None = None) -> httpx.Response:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return httpx.Response(503, content=b"<html>503 Service Unavailable</html>", headers=headers)


def sequence(*answers: httpx.Response | type[Exception]) -> Script:
    """Answers in order; an exception class is raised as a transport error instead."""
    queue = list(answers)

    def answer(request: httpx.Request) -> httpx.Response:
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, type):
            raise item("scripted failure", request=request)
        return httpx.Response(item.status_code, headers=item.headers, content=item.content)

    return Script(answer)


@pytest.mark.parametrize(
    ("method", "call"),
    [
        ("GET", lambda c: c.get_experiment(EXP_ID)),
        ("PATCH", lambda c: c.patch_experiment(EXP_ID, SPEC)),
        ("DELETE", lambda c: c.delete_experiment(EXP_ID)),
    ],
)
def test_503_then_200_is_retried_for_idempotent_methods(make, fake_time, method, call):
    script = sequence(unavailable(), ok(experiment(EXP_ID)))
    client = make(script)
    assert call(client).experiment_id == EXP_ID
    assert [r.method for r in script.requests] == [method, method]
    assert len(fake_time.sleeps) == 1


def test_503_forever_fails_after_max_retries(make, fake_time):
    script = sequence(unavailable())
    client = make(script, max_retries=3)
    with pytest.raises(ServerError) as caught:
        client.get_experiment(EXP_ID)
    assert caught.value.status_code == 503
    assert len(script.requests) == 4
    assert len(fake_time.sleeps) == 3


def test_max_retries_zero_sends_once(make, fake_time):
    script = sequence(unavailable())
    client = make(script, max_retries=0)
    with pytest.raises(ServerError):
        client.list_experiments()
    assert len(script.requests) == 1
    assert fake_time.sleeps == []


@pytest.mark.parametrize("status", [502, 504])
def test_gateway_errors_are_retried(make, status):
    script = sequence(httpx.Response(status, content=b"bad gateway"), ok([]))
    client = make(script)
    assert client.list_experiments() == []
    assert len(script.requests) == 2


@pytest.mark.parametrize("status", [400, 401, 404, 409, 429, 500])
def test_other_errors_are_never_retried(make, status):
    script = sequence(fail(status, "no"))
    client = make(script)
    with pytest.raises(APIStatusError) as caught:
        client.get_experiment(EXP_ID)
    assert caught.value.status_code == status
    assert len(script.requests) == 1


def test_connection_errors_on_get_are_retried(make):
    script = sequence(httpx.ConnectError, httpx.ReadError, ok(experiment(EXP_ID)))
    client = make(script)
    assert client.get_experiment(EXP_ID).experiment_id == EXP_ID
    assert len(script.requests) == 3


def test_connection_errors_forever_fail_after_max_retries(make):
    script = sequence(httpx.ConnectError)
    client = make(script, max_retries=2)
    with pytest.raises(APIConnectionError):
        client.get_experiment(EXP_ID)
    assert len(script.requests) == 3


def test_create_is_retried_after_a_connect_error(make):
    script = sequence(httpx.ConnectError, httpx.ConnectTimeout, ok(experiment(EXP_ID, "Accepted")))
    client = make(script)
    assert client.create_experiment(SPEC).status_name == "Accepted"
    assert [r.method for r in script.requests] == ["POST", "POST", "POST"]


@pytest.mark.parametrize("error", [httpx.ReadTimeout, httpx.ReadError, httpx.RemoteProtocolError])
def test_create_is_not_retried_once_the_request_may_have_arrived(make, error):
    script = sequence(error, ok(experiment(EXP_ID, "Accepted")))
    client = make(script)
    with pytest.raises(APIConnectionError) as caught:
        client.create_experiment(SPEC)
    assert isinstance(caught.value.__cause__, error)
    assert isinstance(caught.value, APITimeoutError) == (error is httpx.ReadTimeout)
    assert len(script.requests) == 1


def test_create_is_not_retried_on_503(make):
    script = sequence(unavailable(), ok(experiment(EXP_ID, "Accepted")))
    client = make(script)
    with pytest.raises(ServerError):
        client.create_experiment(SPEC)
    assert len(script.requests) == 1


def test_retry_after_seconds_is_honoured(make, fake_time):
    script = sequence(unavailable("3"), unavailable("1.5"), ok([]))
    client = make(script)
    assert client.list_experiments() == []
    assert fake_time.sleeps == [3.0, 1.5]


def test_retry_after_http_date_is_honoured(make, fake_time):
    when = email.utils.formatdate(time.time() + 20, usegmt=True)
    script = sequence(unavailable(when), ok([]))
    client = make(script)
    client.list_experiments()
    assert len(fake_time.sleeps) == 1
    assert 15 <= fake_time.sleeps[0] <= 21


def test_retry_after_is_capped(make, fake_time):
    script = sequence(unavailable("86400"), ok([]))
    client = make(script)
    client.list_experiments()
    assert fake_time.sleeps == [60.0]


def test_ping_is_retried_and_false_when_nobody_answers(make, fake_time):
    script = sequence(httpx.ConnectError)
    client = make(script, max_retries=2)
    assert client.ping() is False
    assert len(script.requests) == 3
    assert script.requests[0].url == httpx.URL(API + "/ping")


def test_ping_true_after_a_retried_503(make):
    script = sequence(unavailable(), ok("Pong"))
    client = make(script)
    assert client.ping() is True
    assert len(script.requests) == 2


def test_a_404_after_retries_is_not_found(make):
    script = sequence(unavailable(), fail(404, "Not found experiment."))
    client = make(script)
    with pytest.raises(NotFoundError):
        client.get_experiment(EXP_ID)
    assert len(script.requests) == 2


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(max_retries=10, backoff=0.5, max_backoff=8.0)
    for attempt, base in [(0, 0.5), (1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        delays = {policy.delay(attempt) for _ in range(50)}
        assert all(base / 2 <= d <= base for d in delays)
        assert len(delays) > 1


@pytest.mark.parametrize(
    ("value", "expected"),
    [("5", 5.0), ("0", 0.0), ("-3", 0.0), ("soon", None), ("", None), (None, None)],
)
def test_retry_after_parsing(value, expected):
    assert retry_after_seconds(value) == expected


def test_retry_after_date_in_the_past_is_zero():
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


@pytest.mark.parametrize(("kwargs", "match"), [({"max_retries": -1}, "max_retries")])
def test_invalid_retry_settings_are_refused(make, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make(lambda request: ok([]), **kwargs)


def test_each_retry_is_logged_with_its_reason(make, caplog):
    script = sequence(unavailable(), httpx.ConnectError, ok(experiment(EXP_ID)))
    with caplog.at_level("INFO", logger="submarine.client"):
        make(script).get_experiment(EXP_ID)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith(f"retrying GET {API}/{EXP_ID} in ")
    assert messages[0].endswith("after HTTP 503 (retry 1 of 2)")
    assert messages[1].endswith("after ConnectError (retry 2 of 2)")

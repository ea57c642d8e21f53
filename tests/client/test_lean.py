"""What a client costs before it sends anything: imports, TLS set-up, memory kept while
following logs."""

from __future__ import annotations

import inspect
import subprocess
import sys
import typing

import pytest

from submarine.client import AsyncExperimentClient, ExperimentClient
from submarine.client._core import needs_tls_context
from submarine.client._follow import LogStreamPage, LogTracker
from submarine.models import ExperimentLog


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return result.stdout.strip()


@pytest.mark.slow
def test_the_blocking_client_imports_neither_asyncio_nor_the_async_client_nor_the_cli():
    code = (
        "import sys; from submarine import ExperimentClient; "
        "heavy = ('asyncio', 'submarine.client.async_', 'submarine.cli', 'typer'); "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    assert run(code) == ""


@pytest.mark.slow
def test_the_transport_is_loaded_with_the_first_client_not_with_the_import():
    code = (
        "import sys; from submarine import ExperimentClient, AsyncExperimentClient; "
        "print('httpx' in sys.modules, 'submarine.client._core' in sys.modules); "
        "ExperimentClient('http://127.0.0.1:1').close(); "
        "print('httpx' in sys.modules, 'submarine.client._core' in sys.modules)"
    )
    assert run(code).split() == ["False", "False", "True", "True"]


def test_annotations_resolve():
    for client in (ExperimentClient, AsyncExperimentClient):
        for name in ("create_experiment", "patch_experiment", "list_experiments", "stream_logs"):
            typing.get_type_hints(getattr(client, name))  # every name importable at once
    hints = typing.get_type_hints(ExperimentClient.list_experiments)
    assert hints["return"].__name__ == "ExperimentList"
    # httpx's types are named for type checkers; the module loads with the first client.
    signature = inspect.signature(ExperimentClient.__init__)
    assert signature.parameters["transport"].annotation == "httpx.BaseTransport | None"


@pytest.mark.parametrize(
    ("host", "environ", "tls"),
    [
        ("http://localhost:8080", {}, False),
        ("https://submarine.example.com", {}, True),
        ("HTTPS://submarine.example.com", {}, True),
        ("http://localhost:8080", {"HTTPS_PROXY": "https://proxy:3128"}, False),
        ("http://localhost:8080", {"HTTP_PROXY": "http://proxy:3128"}, False),
        ("http://submarine:8080", {"http_proxy": "https://proxy:3128"}, True),
        ("http://submarine:8080", {"ALL_PROXY": " HTTPS://proxy:3128"}, True),
        # No proxy is used for a loopback host, so an https:// one does not matter.
        ("http://localhost:8080", {"http_proxy": "https://proxy:3128"}, False),
        ("http://127.0.0.1:8080", {"ALL_PROXY": "https://proxy:3128"}, False),
    ],
)
def test_a_tls_context_only_when_tls_may_be_spoken(host, environ, tls):
    assert needs_tls_context(host, environ) is tls


def test_clients_of_an_http_host_do_not_verify_and_of_https_do(monkeypatch):
    for variable in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    with ExperimentClient("http://localhost:8080") as client:
        assert client._core.verify is False
    with ExperimentClient("https://submarine.example.com") as client:
        assert client._core.verify is True
    aio = AsyncExperimentClient("http://localhost:8080")
    assert aio._core.verify is False


def page(pod: str, lines: list[str]) -> LogStreamPage:
    return LogStreamPage.model_validate({"pods": [{"podName": pod, "lines": lines}]})


def whole_log(lines: list[str]) -> ExperimentLog:
    return ExperimentLog.model_validate(
        {"experimentId": "e", "logContent": [{"podName": "e-ps-0", "podLog": lines}]}
    )


def test_a_follower_counts_lines_without_keeping_them():
    tracker = LogTracker("e")
    assert tracker.take_page(page("e-ps-0", ["a", "b"])) == [("e-ps-0", "a"), ("e-ps-0", "b")]
    assert tracker.take_page(page("e-ps-0", ["c"])) == [("e-ps-0", "c")]
    assert tracker.counts == {"e-ps-0": 3}
    assert tracker.kept == {}
    assert tracker.take_log(whole_log(list("abcde"))) == [("e-ps-0", "d"), ("e-ps-0", "e")]
    assert tracker.take_log(whole_log(["x"])) == [("e-ps-0", "x")]
    assert tracker.counts == {"e-ps-0": 1}
    assert tracker.kept == {}
    assert tracker.as_log().pods[0].lines == []


def test_a_follower_that_keeps_lines_can_give_them_back():
    tracker = LogTracker("e", keep_lines=True)
    tracker.take_page(page("e-ps-0", ["a", "b"]))
    tracker.take_page(page("e-worker-0", ["w"]))
    tracker.take_page(page("e-ps-0", ["c"]))
    log = tracker.as_log()
    assert {pod.pod_name: pod.lines for pod in log.pods} == {
        "e-ps-0": ["a", "b", "c"],
        "e-worker-0": ["w"],
    }

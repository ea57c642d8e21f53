"""The client keeps its secrets and its user's terminal to itself.

Issue 11, item 11:

* with ``HTTP_PROXY`` (or ``HTTPS_PROXY``, ``ALL_PROXY``) set, requests to a local server
  went through the proxy, token included: loopback hosts are now reached directly;
* a password in the host URL (``http://user:secret@127.0.0.1:8080``) showed in
  ``repr(client)`` and in every error message: it is now ``***``;
* a replica's terminal escape sequences (retitle the window, clear the screen) were printed
  raw by ``wait_for_finish``, ``get_log`` and the CLI: printed output is now stripped of
  them, while what the client returns keeps every byte.
"""

from __future__ import annotations

import asyncio
import io
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from submarine.cli import _app
from submarine.client import (
    APIConnectionError,
    AsyncExperimentClient,
    ExperimentClient,
    NotFoundError,
    ServerError,
)
from tests.conftest import RunningServer
from tests.support import make_spec, unique_name

from .conftest import Figures, python_cmd

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

TOKEN = "tok-Pq9-for-the-local-server-only"
SECRET = "pw-Hv3-in-the-host-url"


class FakeProxy:
    """A TCP server on 127.0.0.1 that records every request sent to it and answers 502."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.requests: list[bytes] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(5)
                head = b""
                try:
                    while b"\r\n\r\n" not in head:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        head += chunk
                finally:
                    with self._lock:
                        self.requests.append(head)
                conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

    def seen(self) -> list[bytes]:
        """The requests (their heads) received so far."""
        with self._lock:
            return list(self.requests)

    def close(self) -> None:
        """Stop accepting."""
        self._stop.set()
        self._thread.join(5)
        self._listener.close()


@pytest.fixture
def proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeProxy]:
    """A fake proxy that every proxy variable of the environment names (and no NO_PROXY)."""
    fake = FakeProxy()
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.setenv(name, fake.url)
        monkeypatch.setenv(name.lower(), fake.url)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    try:
        yield fake
    finally:
        fake.close()


def _closed_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


# -- a proxy in the environment ---------------------------------------------------------------


def test_a_proxy_in_the_environment_never_sees_requests_to_a_loopback_host(
    server: RunningServer, proxy: FakeProxy, figures: Figures
) -> None:
    port = server.url.rsplit(":", 1)[1]
    own = (server.data_dir / "token").read_text().strip()  # the token the server generated
    for host in (f"http://127.0.0.1:{port}", f"http://localhost:{port}"):
        with ExperimentClient(host, token=own, max_retries=0) as client:
            assert client.ping() is True
            assert isinstance(client.list_experiments().to_list(), list)

        async def use_async(url: str) -> bool:
            async with AsyncExperimentClient(url, token=own, max_retries=0) as client:
                return await client.ping()

        assert asyncio.run(use_async(host)) is True
    # Loopback addresses nothing listens on: refused directly, never handed to the proxy.
    closed = _closed_port()
    for host in (
        f"http://127.0.0.2:{port}",
        f"http://[::1]:{closed}",
        f"http://127.0.0.1:{closed}",
    ):
        with (
            ExperimentClient(host, token=TOKEN, max_retries=0) as client,
            pytest.raises(APIConnectionError),
        ):
            client.get_experiment("experiment_1_1")
    assert proxy.seen() == []
    figures.set("loopback requests seen by an environment proxy", len(proxy.seen()))

    # Any other host still goes through the proxy (which answers for it: no traffic leaves
    # this machine, and the name is never resolved here).
    with (
        ExperimentClient("http://submarine.invalid:8080", token=TOKEN, max_retries=0) as client,
        pytest.raises(ServerError) as caught,
    ):
        client.get_experiment("experiment_1_1")
    assert caught.value.status_code == 502
    (head,) = proxy.seen()
    assert head.startswith(b"GET http://submarine.invalid:8080/api/v1/experiment/experiment_1_1 ")
    assert f"Bearer {TOKEN}".encode() in head


# -- credentials in the host URL ------------------------------------------------------------


def test_a_password_in_the_host_url_shows_in_no_repr_and_no_error(
    server: RunningServer, figures: Figures
) -> None:
    port = server.url.rsplit(":", 1)[1]
    messages: list[str] = []

    with ExperimentClient(f"http://user:{SECRET}@127.0.0.1:{port}", max_retries=0) as client:
        messages += [repr(client), client.host]
        assert client.host == f"http://user:***@127.0.0.1:{port}"
        with pytest.raises(NotFoundError) as not_found:
            client.get_experiment("experiment_1_999999")
        messages += [str(not_found.value), not_found.value.request]

    async def async_repr() -> str:
        async with AsyncExperimentClient(f"http://user:{SECRET}@127.0.0.1:{port}") as client:
            return repr(client)

    messages.append(asyncio.run(async_repr()))

    closed = _closed_port()
    with ExperimentClient(f"http://user:{SECRET}@127.0.0.1:{closed}", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as refused:
            client.get_experiment("experiment_1_1")
        messages += [str(refused.value), refused.value.url]
    with ExperimentClient(f"http://{SECRET}@127.0.0.1:{closed}", max_retries=0) as client:
        with pytest.raises(APIConnectionError) as token_only:
            client.list_experiments()
        messages += [repr(client), str(token_only.value), token_only.value.url]

    # The CLI's messages name the host too.
    result = CliRunner().invoke(
        _app.app, ["--host", f"http://user:{SECRET}@127.0.0.1:{closed}", "experiment", "list"]
    )
    assert result.exit_code != 0
    messages += [result.stdout, result.stderr]

    for message in messages:
        assert SECRET not in message, message
    assert "user:***@127.0.0.1" in str(refused.value)
    assert "***@127.0.0.1" in str(token_only.value)
    figures.set("host-URL secrets in reprs and errors", 0)


# -- escape sequences in pod output -----------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mred\x1b[0m\x1bP+q\x1b\\\x08\r\n"


def _hostile_experiment(client: ExperimentClient) -> str:
    code = f"import sys; sys.stdout.write({HOSTILE!r}); sys.stdout.write('plain\\n')"
    spec = make_spec(name=unique_name("escape"), cmd=python_cmd(code))
    return client.create_experiment(spec).experiment_id


def _clean(text: str) -> bool:
    return "\x1b" not in text and "\x07" not in text and "\x9b" not in text and "\r" not in text


def test_escape_sequences_in_pod_output_reach_no_terminal_but_stay_in_the_data(
    server: RunningServer, tmp_path: Path, figures: Figures
) -> None:
    with ExperimentClient(server.url, timeout=30) as client:
        experiment_id = _hostile_experiment(client)
        waited = io.StringIO()
        final = client.wait_for_finish(experiment_id, 0.2, timeout=120, stream=waited)
        assert client.get_experiment(experiment_id).status_name == "Succeeded"
        shown = io.StringIO()
        log = client.get_log(experiment_id, stream=shown)
        streamed = [line for _, line in client.stream_logs(experiment_id, follow=False)]

    # What is returned keeps every byte the replica wrote ...
    for lines in (
        [line for pod in final.pods for line in pod.lines],
        [line for pod in log.pods for line in pod.lines],
        streamed,
    ):
        joined = "\n".join(lines)
        assert "\x1b]0;pwned\x07" in joined
        assert "\x1b[31mred" in joined
        assert "plain" in joined
    # ... what is printed has none of it, but the text.
    for printed in (waited.getvalue(), shown.getvalue()):
        assert _clean(printed), repr(printed)
        assert "red" in printed
        assert "plain" in printed
        assert "pwned" not in printed

    runner = CliRunner()
    outputs = []
    for args in (
        ["logs", experiment_id],
        ["logs", experiment_id, "--follow"],
        ["wait", experiment_id, "--follow", "--interval", "0.2"],
    ):
        result = runner.invoke(_app.app, ["--host", server.url, "experiment", *args])
        assert result.exit_code == 0, result.output
        outputs.append(result.stdout + result.stderr)
    spec_file = tmp_path / "spec.yaml"
    code = f"import sys; sys.stdout.write({HOSTILE!r})"
    spec_file.write_text(
        yaml.safe_dump(make_spec(name=unique_name("escape-cli"), cmd=python_cmd(code)))
    )
    result = runner.invoke(
        _app.app, ["--host", server.url, "experiment", "create", "-f", str(spec_file), "--follow"]
    )
    assert result.exit_code == 0, result.output
    outputs.append(result.stdout + result.stderr)
    for output in outputs:
        assert _clean(output), repr(output)
        assert "red" in output
    figures.set("escape bytes printed from hostile pod output", 0)

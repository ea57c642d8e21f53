"""Shell metacharacters run literally, and git credentials never show.

Commands, per-role commands and environment values full of ``$( )``, backticks, ``;``,
``|``, ``&&`` and ``>`` reach the replica as plain text (checked from its output), and no
side-effect file appears. A repository is cloned over HTTP with Basic authentication from
a server in the test (git's smart HTTP protocol, ``git http-backend``, on 127.0.0.1): the
credentials are used (the server saw them), yet they appear in no answer, no pod log, no
server log and no file of the data dir but the database.
"""

from __future__ import annotations

import base64
import io
import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from submarine.client import ExperimentClient, SpecValidationError
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures, python_cmd

pytestmark = pytest.mark.reliability

USER = "alice"
PASSWORD = "S3cret-Pa55-word"
TOKEN_USER = "robot"
TOKEN = "T0ken-0f-the-robot"


@pytest.fixture
def started(server_factory: ServerFactory) -> Iterator[tuple[RunningServer, ExperimentClient]]:
    server = server_factory.start("--grace-period", "0.5")
    with ExperimentClient(server.url, timeout=30.0) as client:
        yield server, client


def _lines(client: ExperimentClient, experiment_id: str) -> list[str]:
    log = client.wait_for_finish(
        experiment_id, polling_interval=0.5, timeout=60, stream=io.StringIO()
    )
    return [line for pod in log.pods for line in pod.lines]


def _markers(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.startswith("pwned")]


@pytest.mark.bounded
def test_commands_and_env_values_run_literally(
    started: tuple[RunningServer, ExperimentClient], tmp_path: Path, figures: Figures
) -> None:
    server, client = started
    marker = tmp_path / "pwned"
    hostile = [
        f"$(touch {marker}-1)",
        f"`touch {marker}-2`",
        f"; touch {marker}-3",
        f"| touch {marker}-4",
        f"&& touch {marker}-5 > {marker}-6",
        "$HOME ${PATH} * ~ !!",
    ]
    echo = "echo " + " ".join(hostile)
    code = (
        "import os\n"
        "for key in sorted(os.environ):\n"
        "    if key.startswith('HOSTILE_'):\n"
        "        print(key, '=', os.environ[key])\n"
    )
    env = {f"HOSTILE_{i}": value for i, value in enumerate([*hostile, "new\nline \\ back"])}
    # The experiment's command, split as a shell would without running one.
    by_meta = client.create_experiment(make_spec(name="literal-cmd", cmd=echo, env=env))
    assert by_meta.spec is not None
    assert by_meta.spec.meta.cmd == echo
    assert by_meta.spec.meta.env_vars == env
    # A role's own command and environment.
    spec = make_spec(name="literal-role", cmd="false")
    spec["spec"]["Worker"].update(cmd=python_cmd(code), envVars=env)
    by_role = client.create_experiment(spec)
    figures.add("literal input: hostile strings run", 2 * len(hostile) + 1)
    assert " ".join(hostile) in _lines(client, by_meta.experiment_id)
    lines = _lines(client, by_role.experiment_id)
    for index, value in enumerate(hostile):
        assert f"HOSTILE_{index} = {value}" in lines, lines
    assert f"HOSTILE_{len(hostile)} = new" in lines
    assert "line \\ back" in lines
    for experiment in (by_meta, by_role):
        assert client.get_experiment(experiment.experiment_id).status_name == "Succeeded"
    assert not _markers(tmp_path)
    assert not _markers(server.workdir)
    assert not _markers(Path.cwd())


@pytest.mark.bounded
@pytest.mark.parametrize("name", ["a;b", "$(x)", "a`b`", "a|b", "a b", "a&&b", "../x", "a\nb"])
def test_names_with_metacharacters_are_refused_before_sending(
    started: tuple[RunningServer, ExperimentClient], name: str
) -> None:
    server, client = started
    with pytest.raises(SpecValidationError, match=r"meta\.name"):
        client.create_experiment(make_spec(name=name))
    answer = httpx.post(f"{server.url}/api/v1/experiment", json=make_spec(name=name))
    assert answer.status_code == 400
    assert "meta.name" in answer.json()["message"]
    assert client.list_experiments() == []


# -- git credentials ---------------------------------------------------------------------------


class _SmartGit(BaseHTTPRequestHandler):
    """git's smart HTTP protocol (``git http-backend`` run as CGI) behind Basic
    authentication; remembers every credential it was offered."""

    protocol_version = "HTTP/1.1"
    root = ""
    accepted: frozenset[str] = frozenset()
    seen: list[str]

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            self.seen.append(base64.b64decode(header[6:]).decode())
        if header.removeprefix("Basic ") in self.accepted:
            return True
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="repo"')
        self.send_header("Content-Length", "0")
        self.end_headers()
        return False

    def _backend(self) -> None:
        if not self._authorized():
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        path, _, query = self.path.partition("?")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": self.root,
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "REMOTE_USER": "tester",
            "REMOTE_ADDR": "127.0.0.1",
        }
        done = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = done.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = done.stdout.partition(b"\n\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _backend
    do_POST = _backend

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A bare repository with one commit on main, served over HTTP with Basic auth."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.com",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.com",
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text("print('trained from git')\n")

    def git(*args: str, cwd: Path = work) -> None:
        subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("add", "train.py")
    git("commit", "-q", "-m", "one")
    served = tmp_path / "served"
    served.mkdir()
    git("clone", "-q", "--bare", str(work), str(served / "repo.git"))
    seen: list[str] = []
    accepted = {
        base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode(),
        base64.b64encode(f"{TOKEN_USER}:{TOKEN}".encode()).decode(),
    }
    handler = type(
        "Handler",
        (_SmartGit,),
        {"root": str(served), "accepted": frozenset(accepted), "seen": seen},
    )
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/repo.git", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _everything_said(server: RunningServer, client: ExperimentClient, experiment_id: str) -> str:
    """Every answer about the experiment, its logs, the server log and the data dir's files
    (but the database, which must keep the credentials for the runner)."""
    base = f"{server.url}/api/v1/experiment"
    texts = [
        httpx.get(f"{base}/{experiment_id}").text,
        httpx.get(base).text,
        httpx.get(f"{base}/logs/{experiment_id}").text,
        httpx.get(f"{base}/logs", params={"status": "Succeeded"}).text,
        httpx.get(f"{base}/logs", params={"status": "Failed"}).text,
        httpx.get(f"{base}/{experiment_id}/log-stream").text,
        client.get_experiment(experiment_id).to_json(),
        server.log(),
    ]
    for path in server.data_dir.rglob("*"):
        if path.is_file() and not path.name.startswith("submarine.db"):
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def _secrets_absent(text: str) -> None:
    for secret in (PASSWORD, TOKEN, f"{USER}:{PASSWORD}", f"{TOKEN_USER}:{TOKEN}"):
        assert secret not in text, f"{secret!r} leaked"
        encoded = base64.b64encode(secret.encode()).decode()
        assert encoded not in text, f"{secret!r} leaked base64-encoded"


@pytest.mark.bounded
@pytest.mark.parametrize("where", ["url", "fields"])
def test_git_credentials_are_used_and_never_shown(
    started: tuple[RunningServer, ExperimentClient],
    repository: tuple[str, list[str]],
    figures: Figures,
    where: str,
) -> None:
    server, client = started
    url, seen = repository
    if where == "url":
        git = {"url": url.replace("http://", f"http://{USER}:{PASSWORD}@"), "branch": "main"}
        expected = f"{USER}:{PASSWORD}"
    else:
        git = {"url": url, "branch": "main", "username": TOKEN_USER, "password": TOKEN}
        expected = f"{TOKEN_USER}:{TOKEN}"
    # The replica prints its whole environment and the trained line.
    cmd = python_cmd(
        "import os, runpy; print(sorted(os.environ.items())); "
        "runpy.run_path(os.path.join(os.environ['CODE_PATH'], 'train.py'))"
    )
    spec = make_spec(name=f"git-{where}", cmd=cmd)
    spec["code"] = {"syncMode": "git", "git": git}
    created = client.create_experiment(spec)
    _secrets_absent(json.dumps(created.to_dict()))
    lines = _lines(client, created.experiment_id)
    assert "trained from git" in lines, lines
    assert expected in seen, "the credentials were never sent: the test would prove nothing"
    _secrets_absent(_everything_said(server, client, created.experiment_id))
    figures.add("git credentials: places checked for leaks", 9)


@pytest.mark.bounded
def test_a_refused_clone_does_not_show_the_credentials(
    started: tuple[RunningServer, ExperimentClient], repository: tuple[str, list[str]]
) -> None:
    server, client = started
    url, seen = repository
    wrong = "Wr0ng-" + PASSWORD
    spec = make_spec(name="git-refused", cmd="true")
    spec["code"] = {
        "syncMode": "git",
        "git": {"url": url.replace("http://", f"http://{USER}:{wrong}@"), "branch": "main"},
    }
    created = client.create_experiment(spec)
    log = client.wait_for_finish(
        created.experiment_id, polling_interval=0.5, timeout=60, stream=io.StringIO()
    )
    text = "\n".join(line for pod in log.pods for line in pod.lines)
    assert client.get_experiment(created.experiment_id).status_name == "Failed"
    assert f"{USER}:{wrong}" in seen
    assert "clone" in text.lower() or "git" in text.lower(), text
    everything = _everything_said(server, client, created.experiment_id)
    assert wrong not in everything
    assert base64.b64encode(f"{USER}:{wrong}".encode()).decode() not in everything

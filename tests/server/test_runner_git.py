"""Code sync (``syncMode: git``): a local repository, clone failures, secret credentials."""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import psutil
import pytest

from submarine.models import GitCodeSpec
from submarine.server.run.gitsync import _remote
from submarine.server.scrub import scrub, strip_credentials
from tests.support import make_spec

from .runner_support import PROBE, harness

pytestmark = [pytest.mark.anyio, pytest.mark.slow]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def git(*args: str, cwd: Path) -> None:
    subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    """A git repository on branch ``main`` holding the probe as ``tools/probe.py``."""
    repo = tmp_path / "repo"
    (repo / "tools").mkdir(parents=True)
    shutil.copy(PROBE, repo / "tools" / "probe.py")
    git("init", "--quiet", "--initial-branch", "main", cwd=repo)
    git("add", ".", cwd=repo)
    git("commit", "--quiet", "-m", "probe", cwd=repo)
    return repo


def git_spec(url: str, **git_fields: str) -> dict[str, object]:
    return make_spec(
        "TensorFlow",
        {"Worker": {"replicas": 2}},
        cmd="python tools/probe.py --dump",
        code={"syncMode": "git", "git": {"url": url, **git_fields}},
    )


async def test_code_is_cloned_and_replicas_run_in_it(tmp_path: Path, repository: Path) -> None:
    async with harness(tmp_path) as h:
        eid = h.submit(git_spec(repository.as_uri(), branch="main"))
        assert await h.until_status(eid) == "Succeeded"
        code = h.settings.data_dir / "experiments" / eid / "code"
        reports = h.probes(eid)
        assert len(reports) == 2
        for report in reports.values():
            assert report["env"]["CODE_PATH"] == str(code)
            assert report["cwd"] == str(code)
        assert (code / "tools" / "probe.py").read_text() == PROBE.read_text()
        assert not (h.settings.data_dir / "experiments" / eid / "tmp" / "git-askpass.sh").exists()


async def test_a_failed_clone_fails_the_experiment_with_the_reason(
    tmp_path: Path, repository: Path
) -> None:
    async with harness(tmp_path) as h:
        eid = h.submit(git_spec(repository.as_uri(), branch="no-such-branch"))
        assert await h.until_status(eid) == "Failed"
        assert h.store.history[eid] == ["Accepted", "Failed"]
        for _, lines in h.pod_logs(eid):
            (line,) = lines
            assert line.startswith(
                f"[submarine] git clone of {repository.as_uri()} (branch 'no-such-branch') "
                "failed with exit code 128: "
            )
            assert "no-such-branch" in line.split("exit code 128: ", 1)[1]
            assert line.endswith("; the experiment failed")


class _AuthServer:
    """An HTTP git remote that asks for Basic credentials and never accepts them.

    When credentials arrive it holds the answer until ``release`` is set, so a test can look
    at the running git processes.
    """

    def __init__(self) -> None:
        self.authorizations: list[str] = []
        self.credentials_seen = threading.Event()
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                auth = self.headers.get("Authorization")
                if auth:
                    outer.authorizations.append(auth)
                    outer.credentials_seen.set()
                    outer.release.wait(20)
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="test"')
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> _AuthServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


@pytest.fixture
def auth_server() -> Iterator[_AuthServer]:
    with _AuthServer() as server:
        yield server


def _git_command_lines() -> list[str]:
    lines = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any("git" in part for part in cmdline[:2]):
            lines.append(" ".join(cmdline))
    return lines


@pytest.mark.parametrize("in_url", [False, True], ids=["spec-fields", "in-url"])
async def test_credentials_reach_git_but_never_logs_argv_or_reasons(
    tmp_path: Path, auth_server: _AuthServer, caplog: pytest.LogCaptureFixture, in_url: bool
) -> None:
    user, password = "alice", "s3cret-Token-9x"
    base = f"http://127.0.0.1:{auth_server.port}/team/repo.git"
    if in_url:
        spec = git_spec(f"http://{user}:{password}@127.0.0.1:{auth_server.port}/team/repo.git")
    else:
        spec = git_spec(base, username=user, password=password)
    caplog.set_level(logging.DEBUG)
    async with harness(tmp_path) as h:
        eid = h.submit(spec)
        seen = await asyncio.to_thread(auth_server.credentials_seen.wait, 20)
        assert seen, "git never sent credentials"
        # While git waits for the answer, its argv (what ps shows) holds no secret.
        commands = _git_command_lines()
        assert any(base in line for line in commands), commands
        assert not [line for line in commands if password in line]
        auth_server.release.set()
        assert await h.until_status(eid) == "Failed"
        logs = h.pod_logs(eid)
    (authorization, *_) = auth_server.authorizations
    assert base64.b64decode(authorization.split()[1]).decode() == f"{user}:{password}"
    reasons = [line for _, lines in logs for line in lines]
    assert len(reasons) == 2
    assert all(f"git clone of {base} (branch 'main') failed" in line for line in reasons)
    assert all(password not in line for line in reasons)
    assert password not in caplog.text
    assert not list((tmp_path / "data").rglob("git-askpass.sh"))


def test_credentials_are_split_from_urls_and_scrubbed() -> None:
    assert strip_credentials("https://u:p%40ss@host/r.git") == ("https://host/r.git", "u", "p@ss")
    assert strip_credentials("https://token@host/r.git") == ("https://host/r.git", "token", None)
    assert strip_credentials("file:///srv/repo") == ("file:///srv/repo", None, None)
    text = "fatal: could not read from https://bob:p%40ss@host/ as bob (p@ss); bobby stays"
    assert scrub(text, ["bob:p%40ss", "p@ss"], ("bob",)) == (
        "fatal: could not read from https://***@host/ as *** (***); bobby stays"
    )
    assert GitCodeSpec(url="file:///x").branch == "main"


@pytest.mark.parametrize(
    ("url", "cloned", "user", "password"),
    [
        ("https://u:p%40ss@host/r.git", "https://host/r.git", "u", "p@ss"),
        ("https://u:pa/ss@host/r.git", "https://host/r.git", "u", "pa/ss"),
        ("https://host/a@b/r.git", "https://host/a@b/r.git", None, None),
        ("https://host/r.git?private_token=t", "https://host/r.git?private_token=t", None, None),
        ("ssh://git@host:22/r.git", "ssh://git@host:22/r.git", "git", None),
        ("git@host:r.git", "git@host:r.git", None, None),
    ],
)
def test_git_is_given_the_url_without_credentials_as_git_splits_it(
    url: str, cloned: str, user: str | None, password: str | None
) -> None:
    # Built without validation: the scp form is refused by the model, but a spec stored by an
    # older version may hold one.
    remote = _remote(GitCodeSpec.model_construct(url=url))
    assert (remote.url, remote.username, remote.password) == (cloned, user, password)


async def test_a_close_during_the_clone_kills_git_and_keeps_the_experiment_queued(
    tmp_path: Path, auth_server: _AuthServer
) -> None:
    base = f"http://127.0.0.1:{auth_server.port}/slow/repo.git"
    async with harness(tmp_path) as h:
        eid = h.submit(git_spec(base, username="carol", password="hunter2-long"))
        assert await asyncio.to_thread(auth_server.credentials_seen.wait, 20)
        clones = [line for line in _git_command_lines() if base in line]
        assert clones
        await h.runner.close()
        assert h.status(eid) == "Accepted"  # it runs again at the next start
        assert [line for line in _git_command_lines() if base in line] == []
        assert not list((tmp_path / "data").rglob("git-askpass.sh"))

"""The server's secrets stay with the server; git credentials stay in the store.

Issue 11, items 8 and 10:

* replicas used to inherit the server's environment whole: a job running ``env`` printed
  ``SUBMARINE_TOKEN`` to its log. Whichever way the token (or the password) is given, no
  replica sees it now; ``--token-file`` keeps it out of ``ps`` too.
* git URLs with a password the old scrubber did not recognise (``/``, ``#``, ``?``
  unencoded) or a token in the query (``?private_token=``) showed in answers and logs;
  git's askpass answered any host, so a redirect to another host got the password.
"""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from submarine.client import ExperimentClient
from submarine.server.run.gitsync import ASKPASS_SCRIPT, askpass_env
from submarine.server.scrub import scrub, strip_credentials
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures, python_cmd
from .test_literal_input import _SmartGit

pytestmark = pytest.mark.reliability

TOKEN = "tok-Xq7-never-in-a-replica"
PASSWORD = "pw-Zr4-never-in-a-replica"
OTHER = "other-Secret-in-SUBMARINE-var"
DUMP = python_cmd("import os; print(sorted(os.environ.items()))")


def _lines(client: ExperimentClient, experiment_id: str) -> str:
    log = client.wait_for_finish(experiment_id, 0.5, timeout=60, stream=io.StringIO())
    assert client.get_experiment(experiment_id).status_name == "Succeeded"
    return "\n".join(line for pod in log.pods for line in pod.lines)


def _cmdline(server: RunningServer) -> str:
    return Path(f"/proc/{server.process.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


# -- item 8: replicas get no secret of the server -----------------------------------------


@pytest.mark.bounded
@pytest.mark.parametrize("how", ["flag", "environment", "file", "password flag", "password file"])
def test_a_replica_sees_no_secret_of_the_server_however_it_was_given(
    server_factory: ServerFactory, tmp_path: Path, figures: Figures, how: str
) -> None:
    token_file, password_file = tmp_path / "token", tmp_path / "password"
    token_file.write_text(TOKEN + "\n")
    password_file.write_text(PASSWORD + "\n")
    token_file.chmod(0o600)
    password_file.chmod(0o600)
    # Secrets of the server's environment: client settings, and a copy of the token under
    # a name of no meaning to the server.
    env = {"SUBMARINE_PASSWORD": OTHER, "SUBMARINE_USERNAME": "ops", "COPY_OF_TOKEN": TOKEN}
    args: list[str] = ["--grace-period", "0.5"]
    if how == "flag":
        args += ["--token", TOKEN]
    elif how == "environment":
        env["SUBMARINE_TOKEN"] = TOKEN
    elif how == "file":
        args += ["--token-file", str(token_file)]
    elif how == "password flag":
        args += ["--token", TOKEN, "--username", "ada", "--password", PASSWORD]
    else:
        args += ["--token-file", str(token_file), "--username", "ada"]
        args += ["--password-file", str(password_file)]
    server = server_factory.start(*args, env=env)
    with ExperimentClient(server.url, token=TOKEN, timeout=30.0) as client:
        experiment = client.create_experiment(make_spec(name="env-dump", cmd=DUMP))
        said = _lines(client, experiment.experiment_id)
    assert "'PATH'" in said, said  # the replica did print its environment
    assert "'JOB_ID'" in said, said
    for secret in (TOKEN, PASSWORD, OTHER):
        assert secret not in said, f"a replica saw {secret!r}"
    assert "SUBMARINE_TOKEN" not in said
    assert "SUBMARINE_PASSWORD" not in said
    assert "SUBMARINE_TENSORBOARD_LOG_DIR" in said  # what the server adds still comes
    on_command_line = how in ("flag", "password flag")
    assert (TOKEN in _cmdline(server)) is on_command_line
    warned = "on the command line can be read by every user of this machine" in server.log()
    assert warned is on_command_line
    assert TOKEN not in server.log()
    assert PASSWORD not in server.log()
    figures.add("replicas that looked for the server's secrets")


# -- item 10: git credentials in every form -----------------------------------------------

GIT_USER = "gituser"
FORMS = {
    "slash": "pa/ss-Wd9-slash",
    "hash": "pa#ss-Wd9-hash",
    "question": "pa?ss-Wd9-question",
    "at and slash": "p@ss/Wd9-both",
}


@pytest.mark.bounded
@pytest.mark.parametrize(
    ("url", "shown", "password"),
    [
        ("https://u:pa/ss@h/r.git", "https://h/r.git", "pa/ss"),
        ("https://u:pa#ss@h/r.git", "https://h/r.git", "pa#ss"),
        ("https://u:pa?ss@h/r.git", "https://h/r.git", "pa?ss"),
        ("https://u:p@a/b@h/r.git", "https://h/r.git", "p@a/b"),
        (
            "https://h/r.git?private_token=glpat-1&x=1",
            "https://h/r.git?private_token=***&x=1",
            None,
        ),
        ("https://h/r.git?access_token=a#frag", "https://h/r.git?access_token=***#frag", None),
        ("https://h/r?X-Amz-Signature=abc&X-Amz-Credential=d", None, None),
        ("https://u:p%2Fw@h/r.git", "https://h/r.git", "p/w"),
        ("file:///srv/repo.git", "file:///srv/repo.git", None),
    ],
)
def test_every_credential_form_is_scrubbed(url: str, shown: str | None, password: str) -> None:
    bare, _, found = strip_credentials(url)
    if shown is not None:
        assert bare == shown
    assert found == password
    for secret in ("pa/ss", "pa#ss", "pa?ss", "p@a/b", "glpat-1", "=abc", "=d", "=a#"):
        assert secret not in bare
        assert secret not in scrub(f"fatal: unable to access '{url}/': 403 Forbidden")


class _Redirect(BaseHTTPRequestHandler):
    """Sends every request to another host (same machine, another name and port)."""

    target = ""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.target + self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


class _Collect(BaseHTTPRequestHandler):
    """Asks for Basic credentials and remembers every one offered."""

    seen: list[str]

    def do_GET(self) -> None:
        header = self.headers.get("Authorization", "")
        if header.startswith("Basic "):
            self.seen.append(base64.b64decode(header[6:]).decode())
        self.send_response(401)
        self.send_header("WWW-Authenticate", 'Basic realm="other"')
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@contextlib.contextmanager
def _serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(httpd.server_address[1])
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@pytest.fixture
def repository(tmp_path: Path) -> Iterator[tuple[str, list[str]]]:
    """A bare repository served over git's smart HTTP, accepting GIT_USER with any
    password of FORMS."""
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "GIT_CONFIG_NOSYSTEM": "1",
    }
    work = tmp_path / "work"
    work.mkdir()
    (work / "train.py").write_text("print('trained from git')\n")
    for args in (
        ["init", "-q", "-b", "main"],
        ["add", "train.py"],
        ["-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "one"],
    ):
        subprocess.run(["git", *args], cwd=work, env=env, check=True, capture_output=True)
    served = tmp_path / "served"
    served.mkdir()
    subprocess.run(
        ["git", "clone", "-q", "--bare", str(work), str(served / "repo.git")],
        env=env,
        check=True,
        capture_output=True,
    )
    seen: list[str] = []
    accepted = {base64.b64encode(f"{GIT_USER}:{p}".encode()).decode() for p in FORMS.values()}
    handler = type(
        "Handler",
        (_SmartGit,),
        {"root": str(served), "accepted": frozenset(accepted), "seen": seen},
    )
    with _serving(handler) as port:
        yield f"127.0.0.1:{port}/repo.git", seen


@pytest.fixture
def git_server(server_factory: ServerFactory) -> RunningServer:
    return server_factory.start("--grace-period", "0.5")


def _everything_but_the_store(server: RunningServer, experiment_id: str) -> str:
    base = f"{server.url}/api/v1/experiment"
    texts = [
        httpx.get(f"{base}/{experiment_id}").text,
        httpx.get(base).text,
        httpx.get(f"{base}/logs/{experiment_id}").text,
        httpx.get(f"{base}/logs", params={"status": "Failed"}).text,
        httpx.get(f"{base}/logs", params={"status": "Succeeded"}).text,
        httpx.get(f"{base}/{experiment_id}/log-stream").text,
        server.log(),
    ]
    for path in server.data_dir.rglob("*"):
        if path.is_file() and not path.name.startswith("submarine.db"):
            texts.append(path.read_bytes().decode("utf-8", "replace"))
    return "\n".join(texts)


def _stored_url(server: RunningServer, experiment_id: str) -> str:
    path = server.data_dir / "submarine.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        (spec,) = db.execute(
            "SELECT spec FROM experiments WHERE experiment_id = ?", (experiment_id,)
        ).fetchone()
    return str(json.loads(spec)["code"]["git"]["url"])


@pytest.mark.bounded
def test_git_credentials_in_forms_the_old_scrubber_missed_stay_in_the_store(
    git_server: RunningServer,
    repository: tuple[str, list[str]],
    figures: Figures,
) -> None:
    where, seen = repository
    cmd = python_cmd("import os, runpy; runpy.run_path(os.environ['CODE_PATH'] + '/train.py')")
    secrets = {**FORMS, "query token": "glpat-Qy8-query-token"}
    with ExperimentClient(git_server.url, timeout=30.0) as client:
        for form, secret in secrets.items():
            if form == "query token":
                url = f"http://{where}?private_token={secret}"
            else:
                url = f"http://{GIT_USER}:{secret}@{where}"
            spec = make_spec(name=f"git-{form.replace(' ', '-')}", cmd=cmd)
            spec["code"] = {"syncMode": "git", "git": {"url": url, "branch": "main"}}
            created = client.create_experiment(spec)
            assert secret not in json.dumps(created.to_dict())
            log = client.wait_for_finish(
                created.experiment_id, 0.5, timeout=60, stream=io.StringIO()
            )
            lines = [line for pod in log.pods for line in pod.lines]
            if form in ("slash", "hash", "question"):
                # Read generously, such a URL now even clones.
                assert f"{GIT_USER}:{secret}" in seen, (form, seen)
                assert "trained from git" in lines, (form, lines)
            said = _everything_but_the_store(git_server, created.experiment_id)
            assert secret not in said, f"the {form} form leaked"
            assert _stored_url(git_server, created.experiment_id) == url  # nothing lost
            figures.add("git credential forms checked")


@pytest.mark.slow
@pytest.mark.bounded
def test_askpass_answers_only_the_configured_host(tmp_path: Path) -> None:
    script = tmp_path / "askpass.sh"
    script.write_text(ASKPASS_SCRIPT)
    script.chmod(0o700)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}
    env.update(askpass_env("https://Git.Example:8443/team/r.git", "alice", "s3cret"))

    def ask(prompt: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(script), prompt], env=env, capture_output=True, text=True, check=False
        )

    assert ask("Username for 'https://git.example:8443': ").stdout == "alice\n"
    assert ask("Password for 'https://alice@git.example:8443': ").stdout == "s3cret\n"
    for other in (
        "Password for 'https://alice@evil.test': ",
        "Username for 'https://evil.test': ",
        "Password for 'https://alice@git.example:8443.evil.test': ",
        "Password for 'http://alice@git.example:8443': ",
        "Password for 'https://alice@git.example': ",
        "Password: ",
    ):
        answer = ask(other)
        assert (answer.returncode, answer.stdout) == (1, ""), other
        assert "s3cret" not in answer.stderr


@pytest.mark.slow
@pytest.mark.bounded
def test_a_redirect_to_another_host_gets_no_credentials(git_server: RunningServer) -> None:
    seen: list[str] = []
    collect = type("Collect", (_Collect,), {"seen": seen})
    with _serving(collect) as other_port:
        redirect = type("Redirect", (_Redirect,), {"target": f"http://localhost:{other_port}"})
        with _serving(redirect) as port:
            spec = make_spec(name="git-redirected", cmd="true")
            url = f"http://{GIT_USER}:redirected-Pw5@127.0.0.1:{port}/repo.git"
            spec["code"] = {"syncMode": "git", "git": {"url": url, "branch": "main"}}
            with ExperimentClient(git_server.url, timeout=30.0) as client:
                created = client.create_experiment(spec)
                log = client.wait_for_finish(
                    created.experiment_id, 0.5, timeout=60, stream=io.StringIO()
                )
                status = client.get_experiment(created.experiment_id).status_name
    assert status == "Failed"
    text = "\n".join(line for pod in log.pods for line in pod.lines)
    assert "git clone" in text, text
    assert not any("redirected-Pw5" in s for s in seen), seen
    assert "redirected-Pw5" not in _everything_but_the_store(git_server, created.experiment_id)

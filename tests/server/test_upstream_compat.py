"""The upstream ``apache-submarine==0.8.0`` client and CLI against the local server.

Besides a whole lifecycle through the upstream client, this drives the upstream package's
own end-to-end tests, step for step: ``tests/experiment/test_experiment_client.py`` (create,
get, list, logs, delete with the upstream model classes) and ``tests/cli/test_experiment.py``
(``submarine config set connection.port``, then ``submarine list experiment``, ``get
experiment ID``, ``delete experiment ID --wait`` and ``get`` after the delete, with the same
assertions on what the CLI prints). Those test files are not in the package, so their steps
are written out here, with two changes: the spec's code is a ``git`` section holding the
URL (as 0.8.0's ``CodeSpec`` takes it; the upstream test passes ``url=`` to ``CodeSpec``,
which 0.8.0's generated model does not accept) of a local repository instead of GitHub, and
the experiment is awaited before the CLI lists it, so that its status and times no longer
change while the CLI runs.

The upstream package is installed once, with ``--no-deps``, into its own virtualenv
(``.upstream-venv/`` at the repository root, git-ignored, reused by later runs), then the
packages its client and CLI modules import, with their dependencies: ``six``, ``urllib3``,
``certifi`` and ``python-dateutil`` for the REST client (``urllib3<2``: the generated client
reads error answers with ``HTTPResponse.getheaders()``, which urllib3 2 removed), and
``click``, ``rich``, ``dacite`` and ``PyYAML`` for the CLI. Its top-level
``submarine/__init__.py`` also imports the tracking module (SQLAlchemy, pandas, boto3,
pyarrow, ...), which neither the experiment client nor the CLI uses, so the scripts below
load the ``submarine`` package without running that file; the CLI is then the package's own
``submarine`` console-script entry point, looked up in its installed metadata.

Templates: 0.8.0's generated template client (``ExperimentTemplateApi``,
``ExperimentTemplatesApi``, ``ExperimentApi.submit_experiment_template``) creates, lists, gets,
patches, deletes and submits with 0.8.0's own request examples: the create, patch and submit
examples of its API documentation (``docs/api/experiment-template.md``) and its server test's
``test_template_1.json`` and ``test_template_1_submit.json``, written out here.

The scripts run in that virtualenv as subprocesses; the client scripts print what each call
returned as JSON, and the assertions are made here. If PyPI cannot be reached the test fails
(it does not skip): compatibility with the upstream client is part of what this server
promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import ServerFactory
from tests.support import make_spec, unique_name

from .api_support import ID_RE, TIME_RE, ok
from .template_support import (
    MNIST_CMD,
    NEW_TEST_CMD,
    TEST_TEMPLATE_1,
    TEST_TEMPLATE_1_SUBMIT,
    derived_get_answer,
    made,
)
from .upstream_templates import DOCS_CREATE, DOCS_PATCH, DOCS_SUBMIT, TEMPLATE_CLIENT

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_VENV = ROOT / ".upstream-venv"
UPSTREAM = "apache-submarine==0.8.0"
DEPENDENCIES = [
    "six",
    "urllib3<2",
    "certifi",
    "python-dateutil",
    "click>=8.1.0",
    "rich",
    "dacite",
    "PyYAML",
]
READY = UPSTREAM_VENV / ".ready"
CONSOLE_WIDTH = 191
"""The terminal width the upstream CLI test sets, so that its tables are not cut."""

LOAD_PACKAGE = r"""
import importlib.util
import json
import sys
import types

# Load the package without its __init__ (which imports the tracking module's heavy deps).
found = importlib.util.find_spec("submarine")
package = types.ModuleType("submarine")
package.__path__ = list(found.submodule_search_locations)
sys.modules["submarine"] = package
"""

SCRIPT = (
    LOAD_PACKAGE
    + r"""
from submarine.client.api.experiment_client import ExperimentClient
from submarine.client.exceptions import ApiException

host, spec_text, patch_text = sys.argv[1:4]
spec, patch = json.loads(spec_text), json.loads(patch_text)
client = ExperimentClient(host=host)
out = {}
out["created"] = created = client.create_experiment(spec)
experiment_id = created["experimentId"]
out["got"] = client.get_experiment(experiment_id)
out["listed"] = client.list_experiments()
out["listed_accepted"] = client.list_experiments(status="Accepted")
out["patched"] = client.patch_experiment(experiment_id, patch)
client.wait_for_finish(experiment_id, polling_interval=0.05)
out["finished"] = client.get_experiment(experiment_id)
client.get_log(experiment_id)
out["log"] = client.experiment_api.get_log(experiment_id).result
out["list_log"] = client.list_log("succeeded")
out["deleted"] = client.delete_experiment(experiment_id)
try:
    client.get_experiment(experiment_id)
    out["after_delete"] = "found"
except ApiException as exc:
    out["after_delete"] = exc.status
print("RESULT " + json.dumps(out))
"""
)


E2E_SPEC = r"""
from submarine.client.models.code_spec import CodeSpec
from submarine.client.models.environment_spec import EnvironmentSpec
from submarine.client.models.experiment_meta import ExperimentMeta
from submarine.client.models.experiment_spec import ExperimentSpec
from submarine.client.models.experiment_task_spec import ExperimentTaskSpec
from submarine.client.models.git_code_spec import GitCodeSpec
from submarine.client.api.experiment_client import ExperimentClient

host, repository = sys.argv[1:3]
submarine_client = ExperimentClient(host=host)
environment = EnvironmentSpec(image="apache/submarine:tf-dist-mnist-test-1.0")
experiment_meta = ExperimentMeta(
    name="mnist-dist",
    namespace="default",
    framework="Tensorflow",
    cmd="python dist_mnist.py --train_steps=100",
    env_vars={"ENV1": "ENV1"},
)
worker_spec = ExperimentTaskSpec(resources="cpu=1,memory=1024M", replicas=1)
ps_spec = ExperimentTaskSpec(resources="cpu=1,memory=1024M", replicas=1)
code_spec = CodeSpec(sync_mode="git", git=GitCodeSpec(url=repository))
experiment_spec = ExperimentSpec(
    meta=experiment_meta,
    environment=environment,
    code=code_spec,
    spec={"Ps": ps_spec, "Worker": worker_spec},
)
"""
"""The spec of both upstream e2e tests, built with the upstream model classes."""

E2E_CLIENT = (
    LOAD_PACKAGE
    + E2E_SPEC
    + r"""
out = {}
experiment = submarine_client.create_experiment(experiment_spec=experiment_spec)
id = experiment["experimentId"]
out["created"] = experiment
out["got"] = submarine_client.get_experiment(id)
out["listed"] = submarine_client.list_experiments()
submarine_client.get_log(id)
out["deleted"] = submarine_client.delete_experiment(id)
print("RESULT " + json.dumps(out))
"""
)
"""The steps of upstream's tests/experiment/test_experiment_client.py."""

E2E_CREATE = (
    LOAD_PACKAGE
    + E2E_SPEC
    + r"""
experiment = submarine_client.create_experiment(experiment_spec=experiment_spec)
# get experiment again to get createdTime, runningTime...
submarine_client.wait_for_finish(experiment["experimentId"], polling_interval=0.1)
experiment = submarine_client.get_experiment(experiment["experimentId"])
print("RESULT " + json.dumps(experiment))
"""
)
"""The experiment that upstream's tests/cli/test_experiment.py makes before it runs the CLI."""

CLI = (
    LOAD_PACKAGE
    + r"""
from importlib.metadata import distribution

(entry,) = [
    e
    for e in distribution("apache-submarine").entry_points
    if e.group == "console_scripts" and e.name == "submarine"
]
sys.exit(entry.load()(prog_name="submarine"))
"""
)
"""The upstream ``submarine`` console script (its arguments follow the script's)."""

TRAINING = """import sys

print("training with", " ".join(sys.argv[1:]))
print("accuracy = 0.99")
"""
"""The stand-in for upstream's dist_mnist.py, in the repository the experiment syncs."""


def _python() -> Path:
    return UPSTREAM_VENV / "bin" / "python"


def _pip(*args: str) -> None:
    command = [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run([*command, *args], capture_output=True, text=True, timeout=600)
    if result.returncode != 0:
        pytest.fail(
            f"cannot install the upstream client and CLI ({' '.join(args)}) into "
            f"{UPSTREAM_VENV}: pip exited with {result.returncode}; is PyPI reachable?\n"
            f"{result.stderr[-3000:]}",
            pytrace=False,
        )


def upstream_python() -> Path:
    """The virtualenv's python with the upstream client and CLI installed (made on first use)."""
    wanted = "\n".join([UPSTREAM, *DEPENDENCIES])
    if READY.exists() and READY.read_text() == wanted and _python().exists():
        return _python()
    venv.EnvBuilder(with_pip=True, clear=True).create(UPSTREAM_VENV)
    _pip("--no-deps", UPSTREAM)
    _pip(*DEPENDENCIES)
    READY.write_text(wanted)
    return _python()


@pytest.fixture(scope="module")
def upstream() -> Path:
    return upstream_python()


def run_script(python: Path, script: str, *args: str, timeout: float = 120) -> Any:
    """Run a script of the upstream virtualenv; what it printed after ``RESULT``, and stderr."""
    result = _run(python, script, *args, timeout=timeout)
    assert result.returncode == 0, result.stderr[-5000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout + result.stderr
    return json.loads(lines[-1].removeprefix("RESULT ")), result.stderr


def _run(
    python: Path, script: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env["COLUMNS"] = str(CONSOLE_WIDTH)
    return subprocess.run(
        [str(python), "-c", script, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=str(UPSTREAM_VENV),
    )


def run_upstream(python: Path, url: str, spec: dict[str, Any], patch: dict[str, Any]) -> Any:
    return run_script(python, SCRIPT, url, json.dumps(spec), json.dumps(patch))


def submarine_cli(python: Path, *args: str) -> str:
    """What ``submarine ARGS`` of the upstream package printed; it must exit 0."""
    result = _run(python, CLI, *args)
    assert result.returncode == 0, f"submarine {' '.join(args)}:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture
def repository(tmp_path: Path) -> str:
    """A git repository (branch main) holding the training script, as a file:// URL."""
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "dist_mnist.py").write_text(TRAINING)
    for command in (
        ["init", "--quiet", "--initial-branch", "main"],
        ["add", "."],
        ["commit", "--quiet", "-m", "training"],
    ):
        subprocess.run(
            ["git", "-c", "user.name=Test", "-c", "user.email=test@example.com", *command],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    return repo.as_uri()


@pytest.fixture
def e2e_url(server_factory: ServerFactory) -> str:
    """A server of its own, with room for the two 1-CPU, 1 GiB replicas of the e2e spec
    whatever the machine, reached as the upstream tests reach it: through ``localhost``."""
    server = server_factory.start("--cpus", "4", "--memory", "8G")
    port = urlsplit(server.url).port
    return f"http://localhost:{port}"


def test_upstream_experiment_client_lifecycle(upstream: Path, server_url: str) -> None:
    name = unique_name("Upstream")
    spec = make_spec(name=name, cmd="python -c \"print('hello from upstream')\"")
    spec["meta"]["namespace"] = "default"
    spec["meta"]["envVars"] = {"ENV_1": "ENV1"}
    patch = json.loads(json.dumps(spec))
    patch["meta"]["envVars"] = {"ENV_1": "patched"}

    out, stderr = run_upstream(upstream, server_url, spec, patch)

    created = out["created"]
    experiment_id = created["experimentId"]
    assert ID_RE.match(experiment_id)
    assert created["status"] == "Accepted"
    assert created["spec"]["meta"]["name"] == name.lower()
    assert out["got"]["experimentId"] == experiment_id
    assert experiment_id in [e["experimentId"] for e in out["listed"]]
    assert all(e["status"] == "Accepted" for e in out["listed_accepted"])
    assert out["patched"]["spec"]["meta"]["envVars"] == {"ENV_1": "patched"}
    assert out["finished"]["status"] == "Succeeded"
    assert out["log"]["logContent"] == [
        {"podName": f"{experiment_id}-worker-0", "podLog": ["hello from upstream"]}
    ]
    assert "hello from upstream" in stderr  # get_log and wait_for_finish log the lines
    mine = [e for e in out["list_log"] if e["experimentId"] == experiment_id]
    assert mine == [out["log"]]
    assert out["deleted"]["status"] == "Deleted"
    assert out["after_delete"] == 404


@pytest.mark.slow
def test_the_upstream_venv_is_isolated(upstream: Path) -> None:
    probe = "import importlib.util as u; print(u.find_spec('pydantic') is None)"
    result = subprocess.run([str(upstream), "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr
    assert Path(sys.prefix).resolve() != UPSTREAM_VENV.resolve()


def test_upstream_experiment_client_e2e(upstream: Path, e2e_url: str, repository: str) -> None:
    """upstream tests/experiment/test_experiment_client.py, step for step."""
    out, stderr = run_script(upstream, E2E_CLIENT, e2e_url, repository)
    created = out["created"]
    experiment_id = created["experimentId"]
    assert ID_RE.match(experiment_id)
    assert created["status"] == "Accepted"
    assert created["createdTime"] == created["acceptedTime"]
    assert TIME_RE.match(created["createdTime"])
    assert created["spec"]["meta"]["name"] == "mnist-dist"
    assert created["spec"]["meta"]["envVars"] == {"ENV1": "ENV1"}
    assert created["spec"]["code"]["git"]["url"] == repository
    assert out["got"]["experimentId"] == experiment_id
    assert out["got"]["createdTime"] is not None
    assert experiment_id in [e["experimentId"] for e in out["listed"]]
    for pod in ("ps-0", "worker-0"):  # get_log logs every pod's name
        assert f"The logs of Pod {experiment_id}-{pod}" in stderr
    deleted = out["deleted"]
    assert deleted["status"] == "Deleted"
    times = ("acceptedTime", "createdTime", "runningTime", "finishedTime")
    assert [deleted[k] for k in times] == [None] * 4


def test_upstream_cli_e2e(upstream: Path, e2e_url: str, repository: str) -> None:
    """upstream tests/cli/test_experiment.py, step for step, through its console script."""
    address = urlsplit(e2e_url)
    assert address.hostname is not None
    assert address.port is not None
    submarine_cli(upstream, "config", "set", "connection.hostname", address.hostname)
    submarine_cli(upstream, "config", "set", "connection.port", str(address.port))
    # check if cli config is correct for testing
    assert f"connection.port={address.port}" in submarine_cli(
        upstream, "config", "get", "connection.port"
    )

    experiment, _ = run_script(upstream, E2E_CREATE, e2e_url, repository)
    experiment_id = experiment["experimentId"]
    assert experiment["status"] == "Succeeded"
    assert None not in (experiment["createdTime"], experiment["runningTime"])

    # test list experiment
    output = submarine_cli(upstream, "list", "experiment")
    assert "List of Experiments" in output
    assert experiment["spec"]["meta"]["name"] in output
    assert experiment_id in output
    assert experiment["createdTime"] in output
    assert experiment["runningTime"] in output
    assert experiment["status"] in output

    # test get experiment
    output = submarine_cli(upstream, "get", "experiment", experiment_id)
    assert f"Experiment(id = {experiment_id} )" in output
    assert experiment["spec"]["environment"]["image"] in output

    # test delete experiment (blocking mode)
    output = submarine_cli(upstream, "delete", "experiment", experiment_id, "--wait")
    assert f"Experiment(id = {experiment_id} ) deleted" in output

    # test get experiment fail after delete
    output = submarine_cli(upstream, "get", "experiment", experiment_id)
    assert "[Api Error] Not found experiment." in output


def test_upstream_template_client(upstream: Path, e2e_url: str) -> None:
    """0.8.0's generated template client with 0.8.0's own request examples."""
    documents = (DOCS_CREATE, DOCS_PATCH, DOCS_SUBMIT, TEST_TEMPLATE_1, TEST_TEMPLATE_1_SUBMIT)
    out, _ = run_script(
        upstream, LOAD_PACKAGE + TEMPLATE_CLIENT, e2e_url, *map(json.dumps, documents)
    )
    for call in ("created", "created_test", "listed", "got", "patched", "submitted", "deleted"):
        assert (out[call]["code"], out[call]["success"]) == (200, True), call

    created = out["created"]["result"]
    assert set(created["experimentTemplateId"]) == {"id", "serverTimestamp"}
    declared = [
        (p["name"], p["required"], p["value"])
        for p in created["experimentTemplateSpec"]["parameters"]
    ]
    assert declared == [
        ("learning_rate", "true", "0.1"),
        ("batch_size", "true", "150"),
        ("experiment_name", "true", "tf-mnist1"),
        *((p["name"], "false", p["value"]) for p in made("Ps", "1", "1", "1024M")),
        *((p["name"], "false", p["value"]) for p in made("Worker", "1", "1", "1024M")),
    ]
    test_answer = derived_get_answer(TEST_TEMPLATE_1["name"])["result"]
    assert out["got"]["result"] == test_answer
    assert (
        out["created_test"]["result"]["experimentTemplateSpec"]
        == (test_answer["experimentTemplateSpec"])
    )
    listed = [t["experimentTemplateSpec"]["name"] for t in out["listed"]["result"]]
    assert listed[-2:] == [DOCS_CREATE["name"], TEST_TEMPLATE_1["name"]]
    assert all(t["experimentTemplateId"] is None for t in out["listed"]["result"])

    patched = out["patched"]["result"]
    assert patched["experimentTemplateId"]["id"] > created["experimentTemplateId"]["id"]
    assert patched["experimentTemplateSpec"]["author"] == "author-new"
    assert (
        patched["experimentTemplateSpec"]["parameters"]
        == (created["experimentTemplateSpec"]["parameters"])
    )  # the made parameters once, not twice
    assert (
        out["got_patched"]["result"]["experimentTemplateSpec"]
        == (patched["experimentTemplateSpec"])
    )

    for call, name, cmd in (
        ("submitted", "newexperiment1", MNIST_CMD.replace("{{learning_rate}}", "0.01")),
        ("submitted_test", "new-test", NEW_TEST_CMD),
    ):
        experiment = out[call]["result"]
        assert ID_RE.match(experiment["experimentId"])
        assert experiment["status"] == "Accepted"
        spec = experiment["spec"]
        assert spec["meta"]["name"] == name
        assert spec["meta"]["cmd"] == cmd.replace("{{batch_size}}", "150")
        assert {
            role: (task["replicas"], task["resources"]) for role, task in spec["spec"].items()
        } == {
            "Ps": (1, "cpu=1,memory=1024M"),
            "Worker": (1, "cpu=1,memory=1024M"),
        }
        # stored as submitted (the script may then fail here: there is no /var/tf_mnist)
        stored = ok(httpx.get(f"{e2e_url}/api/v1/experiment/{experiment['experimentId']}"))
        assert stored["spec"] == spec

    deleted = out["deleted"]["result"]
    assert deleted["experimentTemplateId"] is None
    assert deleted["experimentTemplateSpec"]["name"] == DOCS_CREATE["name"]
    status, body = out["after_delete"]
    assert status == 404
    assert (body["code"], body["message"]) == (404, "ExperimentTemplate not found.")

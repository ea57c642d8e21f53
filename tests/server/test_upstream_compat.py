"""The upstream ``apache-submarine`` client drives a whole lifecycle against the local server.

The upstream package is installed once, with ``--no-deps``, into its own virtualenv
(``.upstream-venv/`` at the repository root, git-ignored, reused by later runs), with the
few pure-Python packages its REST client modules import: ``six``, ``urllib3``, ``certifi``
and ``python-dateutil`` (``urllib3<2``: the generated client reads error answers with
``HTTPResponse.getheaders()``, which urllib3 2 removed). Its top-level
``submarine/__init__.py`` also imports the tracking module (SQLAlchemy, pandas, boto3,
...), which the experiment client never uses, so the script below loads the
``submarine`` package without running that file.

The script runs in that virtualenv as a subprocess and prints what each call returned as
JSON; the assertions are made here. If PyPI cannot be reached the test fails (it does not
skip): compatibility with the upstream client is part of what this server promises.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import venv
from pathlib import Path
from typing import Any

import pytest

from .api_support import ID_RE, make_spec, unique

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_VENV = ROOT / ".upstream-venv"
PACKAGES = ["apache-submarine==0.8.0", "six", "urllib3<2", "certifi", "python-dateutil"]
READY = UPSTREAM_VENV / ".ready"

SCRIPT = r"""
import importlib.util
import json
import sys
import types

# Load the package without its __init__ (which imports the tracking module's heavy deps).
found = importlib.util.find_spec("submarine")
package = types.ModuleType("submarine")
package.__path__ = list(found.submodule_search_locations)
sys.modules["submarine"] = package

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


def _python() -> Path:
    return UPSTREAM_VENV / "bin" / "python"


def upstream_python() -> Path:
    """The virtualenv's python with the upstream client installed (created on first use)."""
    if READY.exists() and READY.read_text() == "\n".join(PACKAGES) and _python().exists():
        return _python()
    venv.EnvBuilder(with_pip=True, clear=True).create(UPSTREAM_VENV)
    command = [str(_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    result = subprocess.run(
        [*command, "--no-deps", *PACKAGES], capture_output=True, text=True, timeout=600
    )
    if result.returncode != 0:
        pytest.fail(
            f"cannot install the upstream client ({' '.join(PACKAGES)}) into {UPSTREAM_VENV}: "
            f"pip exited with {result.returncode}; is PyPI reachable?\n{result.stderr[-3000:]}",
            pytrace=False,
        )
    READY.write_text("\n".join(PACKAGES))
    return _python()


@pytest.fixture(scope="module")
def upstream() -> Path:
    return upstream_python()


def run_upstream(python: Path, url: str, spec: dict[str, Any], patch: dict[str, Any]) -> Any:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    result = subprocess.run(
        [str(python), "-c", SCRIPT, url, json.dumps(spec), json.dumps(patch)],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(UPSTREAM_VENV),
    )
    assert result.returncode == 0, result.stderr[-5000:]
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, result.stdout + result.stderr
    return json.loads(lines[-1].removeprefix("RESULT ")), result.stderr


def test_upstream_experiment_client_lifecycle(upstream: Path, server_url: str) -> None:
    name = unique("Upstream")
    spec = make_spec(name, cmd="python -c \"print('hello from upstream')\"")
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


def test_the_upstream_venv_is_isolated(upstream: Path) -> None:
    probe = "import importlib.util as u; print(u.find_spec('pydantic') is None)"
    result = subprocess.run([str(upstream), "-c", probe], capture_output=True, text=True)
    assert result.stdout.strip() == "True", result.stderr
    assert Path(sys.prefix).resolve() != UPSTREAM_VENV.resolve()

"""Submarine's environment API on the local server, and experiments that name an environment:
0.8.0's answers and messages, and replicas that run with the environment's pip packages."""

from __future__ import annotations

import os
import re
import socket
import stat
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

import submarine
from tests.conftest import ServerFactory
from tests.support import make_spec, unique_name, wait_until

from .api_support import create, fail, ok, wait_status
from .wheels import build_wheel

pytestmark = pytest.mark.slow

BASE = "/api/v1/environment"
ENV_ID = re.compile(r"^environment_[0-9]{13}_[0-9]{4}$")
FINAL = {"Succeeded", "Failed"}


def env_name() -> str:
    return unique_name("env").lower()


def spec_of(name: str, **kernel: Any) -> dict[str, Any]:
    return {
        "name": name,
        "dockerImage": "apache/submarine:jupyter-notebook-gpu-0.8.0",
        "kernelSpec": {"name": "submarine_jupyter_py3", "channels": ["defaults"], **kernel},
    }


@pytest.fixture
def http(server_url: str) -> httpx.Client:
    with httpx.Client(base_url=server_url, timeout=60) as client:
        yield client


def test_create_get_list_patch_delete_as_0_8_0_answers(http: httpx.Client) -> None:
    name = env_name()
    created = ok(http.post(BASE, json=spec_of(name, pipDependencies=[])))
    assert ENV_ID.match(created["environmentId"])
    assert created["environmentSpec"] == {
        "name": name,
        "dockerImage": "apache/submarine:jupyter-notebook-gpu-0.8.0",
        "kernelSpec": {
            "name": "submarine_jupyter_py3",
            "channels": ["defaults"],
            "condaDependencies": None,
            "pipDependencies": [],
        },
        "description": None,
        "image": None,
    }
    assert list(created["environmentSpec"]) == [
        "name",
        "dockerImage",
        "kernelSpec",
        "description",
        "image",
    ]
    assert ok(http.get(f"{BASE}/{name}")) == created
    assert created in ok(http.get(BASE))

    patched = ok(http.patch(f"{BASE}/{name}", json={**spec_of(name), "description": "now"}))
    assert patched["environmentId"] == created["environmentId"]
    assert patched["environmentSpec"]["description"] == "now"
    assert ok(http.get(f"{BASE}/{name}")) == patched

    assert ok(http.delete(f"{BASE}/{name}")) == patched
    fail(http.get(f"{BASE}/{name}"), 404, "Environment not found.")
    fail(http.delete(f"{BASE}/{name}"), 404, "Environment not found.")
    fail(http.patch(f"{BASE}/{name}", json=spec_of(name)), 404, "Environment not found.")
    assert name not in [env["environmentSpec"]["name"] for env in ok(http.get(BASE))]


def test_what_is_refused_and_why(http: httpx.Client) -> None:
    null = {"Content-Type": "application/json"}
    fail(http.post(BASE, content=b"null", headers=null), 400, "Invalid environment spec.")
    message = fail(
        http.post(BASE, json={"name": "My Env", "kernelSpec": {"pipDependency": []}}), 400
    )
    assert message.startswith("Invalid environment spec. ")
    assert "name: name 'My Env' is not valid" in message
    assert "kernelSpec.pipDependency: unknown key 'pipDependency'" in message
    option = fail(http.post(BASE, json=spec_of(env_name(), pipDependencies=["--pre"])), 400)
    assert "dependency '--pre' is an option, not a package" in option

    name = env_name()
    ok(http.post(BASE, json=spec_of(name)))
    taken = fail(http.post(BASE, json=spec_of(name)), 400)
    assert taken.startswith(
        f"Unable to process the environment spec. An environment named {name!r}"
    )
    renamed = fail(http.patch(f"{BASE}/{name}", json=spec_of("other-name")), 400)
    assert "an environment cannot be renamed" in renamed
    ok(http.delete(f"{BASE}/{name}"))


def test_an_experiment_naming_an_unknown_environment_is_refused(http: httpx.Client) -> None:
    spec = make_spec()
    spec["environment"]["name"] = "no-such-environment"
    message = fail(http.post("/api/v1/experiment", json=spec), 400)
    assert message == (
        "environment.name: no environment named 'no-such-environment' on this server: create "
        "it first (POST /api/v1/environment, or `submarine environment create`), or leave "
        "environment.name out"
    )


def test_a_name_gives_no_image(http: httpx.Client) -> None:
    name = env_name()
    ok(http.post(BASE, json=spec_of(name)))
    spec = make_spec()
    spec["environment"] = {"name": name}
    message = fail(http.post("/api/v1/experiment", json=spec), 400)
    assert f"(name={name!r} gives no image: only 'image' gives the containers one)" in message


PROBE = (
    'python -c "import sys, dropin_probe, submarine; '
    "print('probe', dropin_probe.VALUE); print('prefix', sys.prefix); "
    "print('submarine', submarine.__file__)\""
)


def _log(http: httpx.Client, experiment_id: str) -> list[str]:
    log = ok(http.get(f"/api/v1/experiment/logs/{experiment_id}"))
    (pod,) = log["logContent"]
    lines: list[str] = pod["podLog"]
    return lines


def _run(http: httpx.Client, environment: str, cmd: str) -> tuple[dict[str, Any], list[str]]:
    spec = make_spec(cmd=cmd)
    spec["environment"]["name"] = environment
    created = create(http, spec)
    final = wait_status(http, created["experimentId"], FINAL, timeout=300)
    return final, _log(http, created["experimentId"])


def test_replicas_run_with_the_pip_packages_of_their_environment(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start()
    wheel = build_wheel(tmp_path / "wheels", "dropin_probe", "installed-from-a-wheel")
    name = env_name()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        ok(http.post(BASE, json=spec_of(name, pipDependencies=[str(wheel)])))

        first, log = _run(http, name, PROBE)
        assert first["status"] == "Succeeded", log
        assert "probe installed-from-a-wheel" in log
        made = [line for line in log if "making a virtual environment with pip packages" in line]
        assert len(made) == 1, log
        assert str(wheel) in made[0]
        assert any("virtual environment ready in" in line for line in log), log
        (prefix,) = [line.removeprefix("prefix ") for line in log if line.startswith("prefix ")]
        environments = server.data_dir / "environments"
        venv = Path(prefix)
        assert (venv.name, venv.parent.parent) == ("venv", environments)
        # The environment still sees what the replica would have seen without it.
        assert f"submarine {submarine.__file__}" in log

        second, again = _run(http, name, PROBE)
        assert second["status"] == "Succeeded", again
        assert any("using its virtual environment, made before" in line for line in again)
        assert not any("making a virtual environment" in line for line in again)
        assert f"prefix {prefix}" in again
        assert [p.name for p in environments.iterdir()] == [venv.parent.name]

        # Without an environment, python is the server's own.
        plain = create(http, make_spec(cmd="python -c \"import sys; print('prefix', sys.prefix)\""))
        wait_status(http, plain["experimentId"], {"Succeeded"})
        assert f"prefix {sys.prefix}" in _log(http, plain["experimentId"])


def test_a_package_pip_cannot_install_fails_the_experiment_saying_why(
    http: httpx.Client, tmp_path: Path
) -> None:
    name = env_name()
    missing = tmp_path / "not-there-1.0-py3-none-any.whl"
    ok(http.post(BASE, json=spec_of(name, pipDependencies=[str(missing)])))
    final, log = _run(http, name, "python -c pass")
    assert final["status"] == "Failed"
    assert any("pip exited with code 1 while installing" in line for line in log), log
    assert log[-1].endswith("the experiment failed")


def test_conda_packages_need_conda_or_micromamba(http: httpx.Client) -> None:
    name = env_name()
    ok(http.post(BASE, json=spec_of(name, condaDependencies=["numpy=1.24"])))
    final, log = _run(http, name, "python -c pass")
    assert final["status"] == "Failed"
    assert log[-1] == (
        f"[submarine] cannot start: environment {name!r} lists condaDependencies (numpy=1.24): "
        "installing them needs micromamba or conda on the server's PATH, and neither is "
        "there; install one of them, or list the packages in pipDependencies instead; the "
        "experiment failed"
    )


FAKE_MICROMAMBA = """#!/bin/sh
# A stand-in for micromamba: records its arguments, makes the prefix with one program.
printf '%s\\n' "$@" > "$(dirname "$0")/arguments"
while [ "$1" != "--prefix" ]; do shift; done
mkdir -p "$2/bin"
printf '#!/bin/sh\\necho from-the-conda-prefix\\n' > "$2/bin/conda-tool"
chmod +x "$2/bin/conda-tool"
"""


def test_conda_packages_go_to_a_prefix_whose_programs_replicas_find(
    server_factory: ServerFactory, tmp_path: Path
) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    fake = tools / "micromamba"
    fake.write_text(FAKE_MICROMAMBA)
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    server = server_factory.start(env={"PATH": f"{tools}{os.pathsep}{os.environ['PATH']}"})
    name = env_name()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        spec = spec_of(name, condaDependencies=["numpy=1.24"])
        spec["kernelSpec"]["channels"] = ["conda-forge"]
        ok(http.post(BASE, json=spec))
        final, log = _run(http, name, "conda-tool")
    assert final["status"] == "Succeeded", log
    assert "from-the-conda-prefix" in log
    arguments = (tools / "arguments").read_text().splitlines()
    assert arguments[:2] == ["create", "--yes"]
    assert arguments[-2:] == ["--channel=conda-forge", "numpy=1.24"]


def _installers(marker: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if any(marker in part for part in process.info["cmdline"] or ()):
            found.append(process)
    return found


def test_deleting_an_experiment_stops_the_install_of_its_environment(
    server_factory: ServerFactory,
) -> None:
    server = server_factory.start()
    name = env_name()
    with socket.socket() as silent:  # connections wait in its backlog: no answer ever comes
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        wheel = f"http://127.0.0.1:{silent.getsockname()[1]}/{name}/never-1.0-py3-none-any.whl"
        with httpx.Client(base_url=server.url, timeout=60) as http:
            ok(http.post(BASE, json=spec_of(name, pipDependencies=[wheel])))
            spec = make_spec(cmd="python -c pass")
            spec["environment"]["name"] = name
            experiment_id = create(http, spec)["experimentId"]
            wait_until(lambda: _installers(wheel), what="pip to be installing the wheel")
            log = _log(http, experiment_id)
            assert any("making a virtual environment" in line for line in log), log

            ok(http.delete(f"/api/v1/experiment/{experiment_id}"))
            assert _installers(wheel) == []  # stopped before the delete was answered
    environments = server.data_dir / "environments"
    assert list(environments.iterdir()) == []  # the partial environment is gone

"""Code written for apache-submarine 0.8.0, run on this package: its import paths, its e2e
tests of the experiment and environment clients (the same calls, with assertions added),
its ``*_async`` calls and ``ApiException``, against the local server; and a script written
for it, with annotations, through ``mypy --strict``."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import submarine
import submarine.models
from submarine.client import (
    ApiException,
    AsyncEnvironmentClient,
    GitCodeSpec,
    NotFoundError,
    SpecValidationError,
)
from submarine.client.api.environment_client import EnvironmentClient
from submarine.client.api.experiment_client import ExperimentClient
from submarine.client.exceptions import OpenApiException
from submarine.client.models.environment_spec import EnvironmentSpec
from submarine.client.models.kernel_spec import KernelSpec
from tests.compat080 import e2e_server, e2e_spec, make_repository
from tests.conftest import ServerFactory
from tests.support import make_spec, unique_name

ROOT = Path(__file__).resolve().parents[2]
MODEL_MODULES = {
    "code_spec": "CodeSpec",
    "environment_spec": "EnvironmentSpec",
    "experiment_meta": "ExperimentMeta",
    "experiment_spec": "ExperimentSpec",
    "experiment_task_spec": "ExperimentTaskSpec",
    "git_code_spec": "GitCodeSpec",
    "kernel_spec": "KernelSpec",
}


def test_the_0_8_0_paths_are_the_same_classes() -> None:
    import importlib

    assert ExperimentClient is submarine.ExperimentClient
    assert EnvironmentClient is submarine.EnvironmentClient
    assert GitCodeSpec is submarine.models.GitCodeSpec
    for module, name in MODEL_MODULES.items():
        alias = importlib.import_module(f"submarine.client.models.{module}")
        assert getattr(alias, name) is getattr(submarine.models, name), module
        assert getattr(submarine.client.models, name) is getattr(submarine.models, name)
        assert getattr(submarine.client, name) is getattr(submarine.models, name)


def test_error_answers_are_0_8_0s_api_exception() -> None:
    body = b'{"status":"NOT_FOUND","code":404,"message":"Not found experiment."}'
    error = NotFoundError(404, "Not found experiment.", body)
    assert isinstance(error, ApiException)
    assert isinstance(error, OpenApiException)
    assert (error.status, error.reason, error.body, error.headers) == (404, "Not Found", body, None)
    assert json.loads(error.body)["message"] == "Not found experiment."
    assert str(error) == "Not found experiment. (HTTP 404)"
    plain = ApiException(status=500)
    assert (plain.status, plain.reason, str(plain)) == (
        500,
        "Internal Server Error",
        "(500)\nReason: Internal Server Error\n",
    )


# -- tests/experiment/test_experiment_client.py -------------------------------------------


@pytest.mark.slow
def test_experiment_e2e(server_factory: ServerFactory, tmp_path: Path, capsys) -> None:
    url, _ = e2e_server(server_factory)
    repository = make_repository(tmp_path / "repo")
    submarine_client = submarine.ExperimentClient(host=url)
    experiment_spec = e2e_spec(repository)

    experiment = submarine_client.create_experiment(experiment_spec=experiment_spec)
    id = experiment["experimentId"]
    assert experiment["status"] == "Accepted"
    assert experiment["spec"]["meta"]["envVars"] == {"ENV1": "ENV1"}
    assert experiment["spec"]["code"]["git"]["url"] == repository

    assert submarine_client.get_experiment(id)["experimentId"] == id
    assert id in [e["experimentId"] for e in submarine_client.list_experiments()]
    submarine_client.get_log(id)
    printed = capsys.readouterr().out
    assert f"The logs of Pod {id}-ps-0" in printed
    assert f"The logs of Pod {id}-worker-0" in printed
    deleted = submarine_client.delete_experiment(id)
    assert deleted["status"] == "Deleted"
    with pytest.raises(ApiException) as caught:  # 0.8.0's users: except ApiException
        submarine_client.get_experiment(id)
    err = caught.value
    assert (err.status, json.loads(err.body or "")["message"]) == (404, "Not found experiment.")
    submarine_client.close()


# -- tests/environment/test_environment_client.py -----------------------------------------


@pytest.mark.slow
def test_environment_e2e(server_factory: ServerFactory) -> None:
    url, _ = e2e_server(server_factory)
    submarine_client = EnvironmentClient(host=url)
    kernel_spec = KernelSpec(
        name="submarine_jupyter_py3",
        channels=["defaults"],
        conda_dependencies=[],
        pip_dependencies=[],
    )
    environment_spec = EnvironmentSpec(
        name="mytest",
        kernel_spec=kernel_spec,
        docker_image="apache/submarine:jupyter-notebook-gpu-0.8.0",
    )

    environment = submarine_client.create_environment(environment_spec=environment_spec)
    environment_name = environment["environmentSpec"]["name"]
    assert environment_name == "mytest"
    assert environment["environmentId"].startswith("environment_")
    assert submarine_client.get_environment(environment_name) == environment
    assert submarine_client.list_environments() == [environment]
    assert submarine_client.delete_environment(environment_name) == environment
    with pytest.raises(ApiException) as caught:
        submarine_client.get_environment(environment_name)
    assert (caught.value.status, caught.value.reason) == (404, "Not Found")
    assert json.loads(caught.value.body or "")["message"] == "Environment not found."
    submarine_client.close()


# -- what 0.8.0's CLI and users call: the *_async calls ------------------------------------


@pytest.mark.slow
def test_the_async_calls_answer_as_the_plain_ones(server_url: str) -> None:
    with ExperimentClient(server_url) as client:
        created = client.create_experiment(make_spec(name=unique_name("async")))
        experiment_id = created.experiment_id

        pending = client.get_experiment_async(experiment_id)
        pending.wait(60)
        assert pending.ready()
        assert pending.successful()
        assert pending.get().result.experiment_id == experiment_id
        assert pending.get().result["spec"]["meta"]["name"] == created["spec"]["meta"]["name"]

        listed = client.list_experiments_async().get(60).result
        assert experiment_id in [e["experimentId"] for e in listed]

        deleted = client.delete_experiment_async(experiment_id).get(60).result
        assert deleted.status == "Deleted"

        gone = client.get_experiment_async(experiment_id)
        gone.wait(60)
        assert not gone.successful()
        with pytest.raises(ApiException) as caught:
            gone.get()
        assert isinstance(caught.value, NotFoundError)
        assert caught.value.status == 404
    with pytest.raises(RuntimeError, match="the client is closed"):
        client.get_experiment_async(experiment_id)


@pytest.mark.slow
def test_the_environment_clients_both_ways(server_url: str, tmp_path: Path) -> None:
    name = unique_name("env").lower()
    with EnvironmentClient(server_url) as client:
        made = client.create_environment_async({"name": name}).get(60).result
        assert made.name == name
        assert client.get_environment_async(name).get(60).result == made
        assert made in client.list_environments_async().get(60).result
        patched = client.patch_environment(name, {"name": name, "description": "changed"})
        assert patched["environmentSpec"]["description"] == "changed"
        assert patched.environment_id == made.environment_id
        with pytest.raises(SpecValidationError) as refused:
            client.create_environment(EnvironmentSpec(name="Not A Name"))
        assert str(refused.value).startswith("invalid environment spec (1 problem):")

    async def asynchronously() -> None:
        async with AsyncEnvironmentClient(server_url) as aclient:
            got = await aclient.get_environment(name)
            assert got == patched
            assert got in await aclient.list_environments()
            assert (await aclient.delete_environment(name)).name == name
            with pytest.raises(NotFoundError, match=r"Environment not found\."):
                await aclient.get_environment(name)

    asyncio.run(asynchronously())

    with EnvironmentClient(server_url) as client:
        gone = client.delete_environment_async(name)
        with pytest.raises(NotFoundError):
            gone.get(60)


# -- a script written for 0.8.0, type-checked ----------------------------------------------

SCRIPT = '''
"""A script written for apache-submarine 0.8.0, with annotations added."""

import json
from typing import Any

import submarine
from submarine.client import GitCodeSpec
from submarine.client.api.environment_client import EnvironmentClient
from submarine.client.exceptions import ApiException
from submarine.client.models.code_spec import CodeSpec
from submarine.client.models.environment_spec import EnvironmentSpec
from submarine.client.models.experiment_meta import ExperimentMeta
from submarine.client.models.experiment_spec import ExperimentSpec
from submarine.client.models.experiment_task_spec import ExperimentTaskSpec
from submarine.client.models.kernel_spec import KernelSpec


def build(url: str) -> ExperimentSpec:
    meta = ExperimentMeta(
        name="mnist-dist",
        namespace="default",
        framework="Tensorflow",
        cmd="python -c pass",
        env_vars={"ENV1": "ENV1"},
    )
    task = ExperimentTaskSpec(resources="cpu=100m,memory=64M", replicas=1)
    return ExperimentSpec(
        meta=meta,
        environment=EnvironmentSpec(image="apache/submarine:tf-dist-mnist-test-1.0"),
        code=CodeSpec(sync_mode="git", git=GitCodeSpec(url=url)),
        spec={"Ps": task, "Worker": task},
    )


def run(host: str, url: str) -> list[Any]:
    client = submarine.ExperimentClient(host=host)
    experiment = client.create_experiment(experiment_spec=build(url))
    experiment_id: str = experiment["experimentId"]
    names = [e["spec"]["meta"]["name"] for e in client.list_experiments()]
    status = client.get_experiment_async(experiment_id).get().result["status"]
    client.delete_experiment_async(experiment_id).get()
    try:
        client.get_experiment(experiment_id)
    except ApiException as err:
        names.append(json.loads(err.body or "{}")["message"])
    environments = EnvironmentClient(host=host)
    kernel = KernelSpec(name="k", channels=["defaults"], conda_dependencies=[], pip_dependencies=[])
    env = environments.create_environment(
        environment_spec=EnvironmentSpec(name="typed", kernel_spec=kernel, docker_image="x")
    )
    names.append(env["environmentSpec"]["kernelSpec"]["name"])
    environments.delete_environment(env["environmentSpec"]["name"])
    return [status, *names]
'''


@pytest.mark.slow
def test_a_0_8_0_script_passes_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "script080.py"
    script.write_text(textwrap.dedent(SCRIPT))
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file=",
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "compat080"),
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout


@pytest.mark.slow
def test_the_0_8_0_script_runs(server_factory: ServerFactory, tmp_path: Path) -> None:
    url, _ = e2e_server(server_factory)
    repository = make_repository(tmp_path / "repo")
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(SCRIPT), "script080.py", "exec"), namespace)
    run = namespace["run"]
    assert callable(run)
    status, *names = run(url, repository)
    assert status in ("Accepted", "Created", "Running", "Succeeded")
    assert names == ["mnist-dist", "Not found experiment.", "k"]

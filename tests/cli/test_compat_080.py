"""apache-submarine 0.8.0's command-line tests, made with this package: the same calls and
the same assertions as its ``tests/cli/test_config.py``, ``test_experiment.py`` and
``test_environment.py``, through ``main.entry_point`` and Click's runner, against the local
server.

Changes, each for a reason: the settings are written first (0.8.0's e2e tests ask the
tester to run ``submarine config set`` by hand) and name a server of the test's own; the
experiment's code is a local repository (0.8.0's clones GitHub); the experiment is awaited
before the CLI reads it, so its status and times are settled; and a few assertions are
added.
"""

from __future__ import annotations

import io
import json
import socket

import pytest
from click.testing import CliRunner

import submarine
from submarine.cli import main
from submarine.cli.config.config import (
    SubmarineCliConfig,
    config_path,
    configured_host,
    initConfig,
    loadConfig,
)
from submarine.client.api.environment_client import EnvironmentClient
from submarine.client.models.environment_spec import EnvironmentSpec
from submarine.client.models.kernel_spec import KernelSpec
from tests.compat080 import CONSOLE_WIDTH, e2e_server, e2e_spec, make_repository
from tests.conftest import ServerFactory

# -- tests/cli/test_config.py --------------------------------------------------------------


def test_list_config() -> None:
    initConfig()
    runner = CliRunner()
    result = runner.invoke(main.entry_point, ["config", "list"])
    _config = loadConfig()
    assert result.exit_code == 0
    assert "SubmarineCliConfig" in result.output
    assert f'"hostname": "{_config.connection.hostname}"' in result.output
    assert f'"port": {_config.connection.port}' in result.output


def test_init_config() -> None:
    runner = CliRunner()
    result = runner.invoke(main.entry_point, ["config", "init"])
    assert result.output == "Submarine CLI Config initialized\n"
    result = runner.invoke(main.entry_point, ["config", "list"])
    _default_config = SubmarineCliConfig()
    assert result.exit_code == 0
    assert f'"hostname": "{_default_config.connection.hostname}"' in result.output
    assert f'"port": {_default_config.connection.port}' in result.output
    assert config_path().read_text() == "connection:\n  hostname: localhost\n  port: 8080\n"


def test_get_set_experiment() -> None:
    initConfig()
    mock_hostname = "mockhost"
    runner = CliRunner()
    result = runner.invoke(main.entry_point, ["config", "get", "connection.hostname"])
    assert result.exit_code == 0
    _config = loadConfig()
    assert f"connection.hostname={_config.connection.hostname}" in result.output

    result = runner.invoke(
        main.entry_point, ["config", "set", "connection.hostname", mock_hostname]
    )
    assert result.exit_code == 0

    result = runner.invoke(main.entry_point, ["config", "get", "connection.hostname"])
    assert result.exit_code == 0
    _config = loadConfig()
    assert f"connection.hostname={mock_hostname}" in result.output
    assert mock_hostname == _config.connection.hostname
    initConfig()


def test_settings_are_checked_and_named() -> None:
    runner = CliRunner()
    result = runner.invoke(main.entry_point, ["config", "set", "connection.port", "80a"])
    assert result.exit_code == 3
    assert result.output == (
        "error: connection.port '80a' is not a port: give a whole number from 1 to 65535, "
        "like 8080\n"
    )
    result = runner.invoke(main.entry_point, ["config", "get", "connection.host"])
    assert (result.exit_code, result.output) == (
        3,
        "error: unknown setting 'connection.host': the settings are connection.hostname, "
        "connection.port\n",
    )
    config_path().parent.mkdir(parents=True)
    config_path().write_text("connection: [")
    result = runner.invoke(main.entry_point, ["list", "experiment"])
    assert result.exit_code == 3
    assert result.output.startswith(f"error: {config_path()} is not valid YAML")
    assert "run `submarine config init`" in result.output


def test_the_environment_names_the_server_before_the_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert configured_host() is None  # no settings file: the client's own default
    initConfig()
    assert configured_host() == "http://localhost:8080"
    for variable in ("SUBMARINE_HOST", "SUBMARINE_SERVER_DNS_NAME", "SUBMARINE_SERVER_PORT"):
        monkeypatch.setenv(variable, "10.0.0.5")
        assert configured_host() is None, variable
        monkeypatch.delenv(variable)


# -- tests/cli/test_experiment.py -----------------------------------------------------------


@pytest.mark.slow
def test_all_experiment_e2e(server_factory: ServerFactory, tmp_path) -> None:
    url, port = e2e_server(server_factory)
    repository = make_repository(tmp_path / "repo")
    # set env to display full table
    runner = CliRunner(env={"COLUMNS": str(CONSOLE_WIDTH)})
    runner.invoke(main.entry_point, ["config", "set", "connection.hostname", "localhost"])
    runner.invoke(main.entry_point, ["config", "set", "connection.port", str(port)])
    # check if cli config is correct for testing
    result = runner.invoke(main.entry_point, ["config", "get", "connection.port"])
    assert result.exit_code == 0
    assert f"connection.port={port}" in result.output

    submarine_client = submarine.ExperimentClient(host=url)
    experiment_spec = e2e_spec(repository)

    experiment = submarine_client.create_experiment(experiment_spec=experiment_spec)
    # settled: its status and times no longer change while the CLI reads them
    submarine_client.wait_for_finish(experiment["experimentId"], 0.1, stream=io.StringIO())
    experiment = submarine_client.get_experiment(experiment["experimentId"])
    assert experiment["status"] == "Succeeded"

    # test list experiment
    result = runner.invoke(main.entry_point, ["list", "experiment"])
    assert result.exit_code == 0
    assert "List of Experiments" in result.output
    assert experiment["spec"]["meta"]["name"] in result.output
    assert experiment["experimentId"] in result.output
    assert experiment["createdTime"] in result.output
    if experiment["runningTime"] is not None:
        assert experiment["runningTime"] in result.output
    if experiment["status"] is not None:
        assert experiment["status"] in result.output

    # test get experiment
    result = runner.invoke(main.entry_point, ["get", "experiment", experiment["experimentId"]])
    assert f"Experiment(id = {experiment['experimentId']} )" in result.output
    assert experiment["spec"]["environment"]["image"] in result.output

    # test delete experiment (blocking mode)
    result = runner.invoke(
        main.entry_point, ["delete", "experiment", experiment["experimentId"], "--wait"]
    )
    assert f"Experiment(id = {experiment['experimentId']} ) deleted" in result.output

    # test get experiment fail after delete
    result = runner.invoke(main.entry_point, ["get", "experiment", experiment["experimentId"]])
    assert "[Api Error] Not found experiment." in result.output
    assert result.exit_code == 1
    submarine_client.close()


# -- tests/cli/test_environment.py ----------------------------------------------------------


@pytest.mark.slow
def test_all_environment_e2e(server_factory: ServerFactory) -> None:
    url, port = e2e_server(server_factory)
    # set env to display full table
    runner = CliRunner(env={"COLUMNS": str(CONSOLE_WIDTH)})
    runner.invoke(main.entry_point, ["config", "set", "connection.port", str(port)])
    # check if cli config is correct for testing
    result = runner.invoke(main.entry_point, ["config", "get", "connection.port"])
    assert result.exit_code == 0
    assert f"connection.port={port}" in result.output

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

    # test list environment
    result = runner.invoke(main.entry_point, ["list", "environment"])
    assert result.exit_code == 0
    assert "List of Environments" in result.output
    assert environment["environmentSpec"]["name"] in result.output
    assert environment["environmentSpec"]["dockerImage"] in result.output
    assert environment["environmentId"] in result.output

    # test get environment
    result = runner.invoke(main.entry_point, ["get", "environment", environment_name])
    assert f"Environment(name = {environment_name} )" in result.output
    assert environment["environmentSpec"]["name"] in result.output
    shown = result.output[result.output.index("{") : result.output.rindex("}") + 1]
    assert environment["environmentId"] in shown
    assert json.loads("".join(line.strip(" │") for line in shown.splitlines())) == (
        environment.to_dict()
    )

    # test delete environment
    result = runner.invoke(main.entry_point, ["delete", "environment", environment_name])
    assert f"Environment(name = {environment_name} ) deleted" in result.output

    # test get environment fail after delete
    result = runner.invoke(main.entry_point, ["get", "environment", environment_name])
    assert "[Api Error] Environment not found." in result.output
    submarine_client.close()


@pytest.mark.slow
def test_the_settings_name_the_server_of_the_project_commands_too(
    server_factory: ServerFactory,
) -> None:
    _, port = e2e_server(server_factory)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    runner = CliRunner()
    runner.invoke(main.entry_point, ["config", "set", "connection.port", str(closed)])
    unreachable = runner.invoke(main.entry_point, ["experiment", "list", "-o", "json"])
    assert unreachable.exit_code == 4
    assert f"cannot reach the Submarine server at http://localhost:{closed}" in unreachable.output
    runner.invoke(main.entry_point, ["config", "set", "connection.port", str(port)])
    listed = runner.invoke(main.entry_point, ["experiment", "list", "-o", "json"])
    assert (listed.exit_code, json.loads(listed.output)) == (0, [])
    environments = runner.invoke(main.entry_point, ["environment", "list", "-o", "json"])
    assert (environments.exit_code, json.loads(environments.output)) == (0, [])

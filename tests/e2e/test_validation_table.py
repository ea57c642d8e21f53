"""Every row of the 0.8.0 validation table holds through each way a spec goes in: the
client's sent body, ``submarine validate`` and the local server. (The model itself:
``tests/models/test_spec_080.py``.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from submarine.cli import _app
from submarine.client import ExperimentClient, SpecValidationError
from submarine.models import Experiment
from tests.conftest import RunningServer, ServerFactory
from tests.models.validation_table import ANSWER_SPEC, ROWS, Row

HOST = "http://submarine.test:8080"
API = "/api/v1/experiment"

rows = pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])


def _answer(request: httpx.Request) -> httpx.Response:
    payload = {
        "experimentId": "experiment-1684832472000-0001",
        "status": "Accepted",
        "acceptedTime": "2023-05-23T09:01:12Z",
        "spec": json.loads(request.content),
    }
    body = {"status": "OK", "code": 200, "success": True, "message": None, "result": payload}
    return httpx.Response(200, json={**body, "attributes": {}})


def _problem_line(lines: list[str], path: str) -> str:
    found = [line for line in lines if line.startswith(f"{path}: ")]
    assert found, f"no problem at {path} in {lines}"
    return found[0]


def _sent_by_client(given: Any) -> list[Any]:
    bodies: list[Any] = []

    def handler(request: httpx.Request) -> httpx.Response:
        bodies.append(json.loads(request.content))
        return _answer(request)

    with ExperimentClient(HOST, transport=httpx.MockTransport(handler), max_retries=0) as client:
        client.create_experiment(given)
    return bodies


@rows
def test_row_through_the_clients_sent_body(row: Row) -> None:
    if row.accepted:
        assert _sent_by_client(row.given) == [row.sent]
        return
    with pytest.raises(SpecValidationError) as caught:
        _sent_by_client(row.given)
    line = _problem_line([str(p) for p in caught.value.problems], row.path)
    for word in row.words:
        assert word in line


def test_a_spec_read_back_from_an_answer_is_sent_without_resource_map() -> None:
    experiment = Experiment.model_validate(
        {"experimentId": "experiment-1684832472000-0001", "status": "Running", "spec": ANSWER_SPEC}
    )
    assert experiment.spec is not None
    assert experiment.spec.to_dict() == ANSWER_SPEC
    (sent,) = _sent_by_client(experiment.spec)
    assert sent == next(row.sent for row in ROWS if row.given is ANSWER_SPEC)
    assert "resourceMap" not in sent["spec"]["Worker"]


@rows
def test_row_through_submarine_validate(row: Row, tmp_path: Path) -> None:
    file = tmp_path / "spec.json"
    file.write_text(json.dumps(row.given, indent=2), encoding="utf-8")
    result = CliRunner().invoke(_app.app, ["validate", str(file)])
    if row.accepted:
        assert result.exit_code == 0, result.stdout
        assert result.stdout.strip() == f"{file}: valid"
        return
    assert result.exit_code == 1
    lines = [line.split(": ", 1)[1] for line in result.stdout.splitlines() if line]
    line = _problem_line(lines, row.path)
    for word in row.words:
        assert word in line


@pytest.fixture(scope="module")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A local server of this module's own: the experiments it runs are nobody else's."""
    factory = ServerFactory(tmp_path_factory.mktemp("table-server"))
    try:
        yield factory.start()
    finally:
        factory.close()


def _at(data: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        data = data[part]
    return data


@pytest.mark.slow
@rows
def test_row_through_the_local_server(row: Row, local_server: RunningServer) -> None:
    with httpx.Client(base_url=local_server.url, timeout=30) as http:
        response = http.post(API, json=row.given)
        body = response.json()
        if not row.accepted:
            assert response.status_code == 400, body
            assert body["result"] is None
            # Problems are joined with "; ", which messages may hold too: read from the path on.
            message = "; " + body["message"]
            assert f"; {row.path}: " in message, message
            rest = message[message.index(f"; {row.path}: ") :]
            for word in row.words:
                assert word in rest
            return
        assert response.status_code == 200, body
        stored = body["result"]["spec"]
        try:
            for dotted, value in row.stored.items():
                assert _at(stored, dotted) == value, dotted
            assert "$schema" not in stored
        finally:
            deleted = http.delete(f"{API}/{body['result']['experimentId']}")
            assert deleted.status_code == 200, deleted.text


@pytest.mark.slow
def test_a_spec_read_back_from_the_local_server_is_accepted_again(
    local_server: RunningServer,
) -> None:
    row = next(row for row in ROWS if row.given is ANSWER_SPEC)
    with ExperimentClient(local_server.url) as client:
        first = client.create_experiment(row.given)
        try:
            read = client.get_experiment(first.experiment_id)
            assert read.spec is not None
            assert read.spec.roles["Worker"].resource_map == {"cpu": "100m", "memory": "64M"}
            second = client.create_experiment(read.spec)
            client.delete_experiment(second.experiment_id)
            assert second.spec is not None
            assert second.spec.to_dict()["spec"] == read.spec.to_dict()["spec"]
        finally:
            client.delete_experiment(first.experiment_id)

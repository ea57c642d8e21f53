"""TensorBoard through the local server: a real TensorBoard, real event files written by
TensorBoard's own writer, reached under ``/tensorboard/`` behind the server's token; and
0.8.0's info endpoints."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from tensorboard.compat.proto.event_pb2 import Event
from tensorboard.compat.proto.summary_pb2 import Summary
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from submarine.server.board.service import RELOAD_SECONDS, TensorBoardService, run_name
from tests.support import make_spec, unique_name, wait_until

from .api_support import API, create, fail, in_process, ok, wait_status

TOKEN = "server-token-for-tensorboard"


def _write_losses(folder: Path, losses: list[float]) -> None:
    """Scalars ``loss`` at steps 0, 1, ... as TensorBoard's own writer records them."""
    writer = EventFileWriter(str(folder))
    for step, loss in enumerate(losses):
        summary = Summary(value=[Summary.Value(tag="loss", simple_value=loss)])
        writer.add_event(Event(wall_time=time.time(), step=step, summary=summary))
    writer.close()


def _scalars(http: httpx.Client, run: str) -> list[tuple[int, float]]:
    answer = http.get(
        "/tensorboard/data/plugin/scalars/scalars", params={"run": run, "tag": "loss"}
    )
    assert answer.status_code == 200, answer.text
    return [(step, value) for _, step, value in answer.json()]


@pytest.mark.slow
def test_an_experiments_scalars_are_served_under_tensorboard_behind_the_token(
    server_factory: Any,
) -> None:
    server = server_factory.start("--token", TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    name = unique_name("board")
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        experiment_id = create(http, make_spec(name=name, cmd="true"))["experimentId"]
        wait_status(http, experiment_id, {"Succeeded"})
        logs = Path(server.data_dir) / "experiments" / experiment_id / "tensorboard"
        _write_losses(logs, [1.0, 0.5, 0.25])

        info = ok(http.get(f"{API}/tensorboard"))
        assert info == {"available": True, "url": "/tensorboard/"}
        assert ok(http.get(f"{API}/mlflow")) == {"available": False, "url": "/mlflow/"}

        page = http.get("/tensorboard/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        run = run_name(name, experiment_id)
        assert run == f"{name} ({experiment_id})"
        assert http.get("/tensorboard/data/runs").json() == [run]
        assert _scalars(http, run) == [(0, 1.0), (1, 0.5), (2, 0.25)]

        # TensorBoard's page posts its queries as forms, from its own origin.
        query = {"requests": json.dumps([{"plugin": "scalars", "tag": "loss"}])}
        series = "/tensorboard/experiment/defaultExperimentId/data/plugin/timeseries/timeSeries"
        posted = http.post(series, data=query, headers={"Sec-Fetch-Site": "same-origin"})
        assert posted.status_code == 200, posted.text
        (answer,) = posted.json()
        assert [p["value"] for p in answer["runToSeries"][run]] == [1.0, 0.5, 0.25]
        fail(http.post(series, data=query), 415)  # not shown to come from its page
        cross = http.post(series, data=query, headers={"Sec-Fetch-Site": "cross-site"})
        fail(cross, 403)

        # A later experiment's run appears once TensorBoard looks again.
        later = create(http, make_spec(name=name, cmd="true"))["experimentId"]
        wait_status(http, later, {"Succeeded"})
        sub = Path(server.data_dir) / "experiments" / later / "tensorboard" / "train"
        _write_losses(sub, [3.0])
        later_run = run_name(name, later, "train")
        wait_until(
            lambda: later_run in http.get("/tensorboard/data/runs").json(),
            what=f"run {later_run!r} to be listed",
            timeout=10 * RELOAD_SECONDS,
        )
        assert _scalars(http, later_run) == [(0, 3.0)]

        # Deleting an experiment takes its run away.
        ok(http.delete(f"{API}/{experiment_id}"))
        wait_until(
            lambda: run not in http.get("/tensorboard/data/runs").json(),
            what=f"run {run!r} to go",
            timeout=10 * RELOAD_SECONDS,
        )

    for path in ("/tensorboard/", "/tensorboard/data/runs", f"{API}/tensorboard"):
        fail(httpx.get(f"{server.url}{path}"), 401, "The token is not valid.")
        wrong = httpx.get(f"{server.url}{path}", headers={"Authorization": "Bearer wrong"})
        fail(wrong, 401)
    # TensorBoard's threads neither keep the server alive nor fail its shutdown.
    assert server.stop() == -signal.SIGTERM  # uvicorn ends by the signal that stopped it
    assert "Application shutdown complete" in server.log()
    assert "Traceback" not in server.log()


@pytest.mark.anyio
async def test_without_tensorboard_installed_it_is_not_available(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(TensorBoardService, "installed", staticmethod(lambda: False))
    from submarine.server.settings import Settings

    async with in_process(Settings(data_dir=tmp_path / "data", workdir=tmp_path)) as client:
        answer = await client.get(f"{API}/tensorboard")
        assert answer.json()["result"] == {"available": False, "url": "/tensorboard/"}
        page = await client.get("/tensorboard/")
        assert page.status_code == 404
        assert "pip install 'submarine-sdk[tensorboard]'" in page.json()["message"]

"""0.8.0's tracking semantics against the local server: replicas of a PyTorch experiment
record as master-0 and worker-N, a metric without a step has step 0, NaN and infinities
read back as logged, and 0.8.0's ``SubmarineClient`` records at once."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine import ExperimentClient
from submarine.tracking import SubmarineClient, TrackingError
from tests.server.api_support import API, create, ok, wait_status
from tests.support import make_spec

pytestmark = pytest.mark.slow  # replicas and a server

LOGGER = """
import math, os, pathlib, sys, time
import submarine
submarine.log_param("lr", 0.1)
submarine.log_metric("loss", 0.5)  # no step
submarine.log_metric("edge", math.inf, step=1)
submarine.log_metric("edge", math.nan, step=2)
submarine.log_metric("edge", -math.inf, step=3)
submarine.tracking.flush()
# The experiment succeeds when the Master exits: it waits for the Worker's records.
gate = pathlib.Path(sys.argv[1])
if os.environ["RANK"] == "0":
    end = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < end:
        time.sleep(0.02)
else:
    gate.write_text("recorded")
"""


def test_pytorch_replicas_record_with_0_8_0s_semantics(server: Any, tmp_path: Path) -> None:
    script = tmp_path / "logger.py"
    script.write_text(LOGGER)
    cmd = f"python {script} {tmp_path / 'worker-recorded'}"
    spec = make_spec("PyTorch", roles={"Master": 1, "Worker": 1}, cmd=cmd)
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, spec)["experimentId"]
        done = wait_status(http, experiment_id, {"Succeeded", "Failed"}, timeout=120)
        assert done["status"] == "Succeeded", ok(http.get(f"{API}/logs/{experiment_id}"))
        answered = ok(http.post("/api/metric/selective", json={"id": experiment_id}))
    # 0.8.0's answer: no step is 0, NaN is 0 with isNan, an infinity the largest double.
    edge = [(m["step"], m["value"], m["isNan"]) for m in answered if m["workerIndex"] == "master-0"]
    assert sorted(edge) == [
        (0, 0.5, False),
        (1, 1.7976931348623157e308, False),
        (2, 0.0, True),
        (3, -1.7976931348623157e308, False),
    ]
    with ExperimentClient(server.url) as client:
        metrics = client.get_metrics(experiment_id)
        params = client.get_params(experiment_id)
    # The Master's RANK is 0: master-0, as its pod; the Worker's RANK is 1.
    assert {m.worker_index for m in metrics} == {"master-0", "worker-1"}
    assert {(p.worker_index, p.value) for p in params} == {("master-0", "0.1"), ("worker-1", "0.1")}
    mine = {m.step: m for m in metrics if m.worker_index == "worker-1"}
    assert (mine[0].key, mine[0].value) == ("loss", 0.5)
    assert (mine[1].value, mine[3].value) == (math.inf, -math.inf)
    assert mine[2].value is not None
    assert math.isnan(mine[2].value)
    assert mine[2].is_nan is True


def test_the_client_of_0_8_0_records_at_once_on_the_local_server(server: Any) -> None:
    with httpx.Client(base_url=server.url) as http:
        experiment_id = create(http, make_spec())["experimentId"]
    client = SubmarineClient(server.url)
    client.log_metric(experiment_id, "acc", 0.75, "worker-5", step=9)
    client.log_param(experiment_id, "optimizer", "adam", "worker-5")
    with ExperimentClient(server.url) as reader:
        (metric,) = reader.get_metrics(experiment_id)
        (param,) = reader.get_params(experiment_id)
    assert (metric.key, metric.value, metric.worker_index, metric.step) == (
        "acc",
        0.75,
        "worker-5",
        9,
    )
    assert (param.key, param.value, param.worker_index) == ("optimizer", "adam", "worker-5")
    with pytest.raises(TrackingError, match="Not found experiment"):
        client.log_metric("experiment-1-9999", "acc", 0.75, "worker-5")

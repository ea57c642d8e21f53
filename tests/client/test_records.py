"""Reading metrics and params: a page at a time from a server with the ``tracking-page``
extension (asking only for what comes after the cursor), all at once from one without."""

from __future__ import annotations

import json
import math

import httpx
import pytest

from submarine.models import Metric, Param
from tests.client.conftest import Script, ok

EXP_ID = "experiment-1647192232698-0001"
PAGES = {
    "": {
        "series": [
            {"key": "loss", "workerIndex": "worker-0", "points": [[0, 1.0, 5], [1, None, 6]]},
            {"key": "acc", "workerIndex": "worker-1", "points": [[0, 0.5, 5]]},
        ],
        "cursor": "t1.3.0",
        "more": True,
    },
    "t1.3.0": {
        "series": [{"key": "loss", "workerIndex": "worker-0", "points": [[2, 0.25, 7]]}],
        "cursor": "t1.4.0",
        "more": False,
    },
}


def _paged(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/ping"):
        return ok("Pong", attributes={"extensions": ["log-stream", "tracking-page"]})
    if request.url.path == "/api/param/page":
        series = [{"key": "lr", "workerIndex": "worker-0", "values": ["0.1"]}]
        return ok({"experimentId": EXP_ID, "series": series, "cursor": "t1.2.0", "more": False})
    assert request.url.path == "/api/metric/page"
    page = PAGES[request.url.params.get("cursor", "")]
    return ok({"experimentId": EXP_ID, **page})


def test_metrics_are_read_a_page_at_a_time_after_each_cursor(make) -> None:
    script = Script(_paged)
    client = make(script)
    metrics = client.get_metrics(EXP_ID)
    assert all(isinstance(m, Metric) for m in metrics)
    assert [(m.key, m.worker_index, m.step, m.timestamp) for m in metrics] == [
        ("loss", "worker-0", 0, 5),
        ("loss", "worker-0", 1, 6),
        ("acc", "worker-1", 0, 5),
        ("loss", "worker-0", 2, 7),
    ]
    values = [m.value for m in metrics]
    assert (values[0], values[2], values[3]) == (1.0, 0.5, 0.25)
    assert values[1] is not None
    assert math.isnan(values[1])
    assert [m.is_nan for m in metrics] == [False, True, False, False]
    assert {m.id for m in metrics} == {EXP_ID}
    assert script.paths() == [
        "GET /api/v1/experiment/ping",
        f"GET /api/metric/page?id={EXP_ID}&limit=5000",
        f"GET /api/metric/page?id={EXP_ID}&limit=5000&cursor=t1.3.0",
    ]
    (param,) = client.get_params(EXP_ID)
    assert isinstance(param, Param)
    assert (param.key, param.value, param.worker_index) == ("lr", "0.1", "worker-0")
    assert script.paths()[-1] == f"GET /api/param/page?id={EXP_ID}&limit=5000"  # asked once


def test_an_iterator_reads_one_key_and_worker(make) -> None:
    script = Script(_paged)
    found = list(make(script).iter_metrics(EXP_ID, key="loss", worker="worker-0"))
    assert len(found) == 4  # the (fake) server filters; the client passes what it asked
    assert script.paths()[1] == (
        f"GET /api/metric/page?id={EXP_ID}&limit=5000&key=loss&workerIndex=worker-0"
    )


def _whole(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/ping"):
        return ok("Pong")
    assert (request.method, request.url.path) == ("POST", "/api/metric/selective")
    assert json.loads(request.content) == {"id": EXP_ID}
    rows = [
        {"id": EXP_ID, "key": key, "value": 1.0, "workerIndex": worker, "step": 1}
        for key, worker in (("loss", "worker-0"), ("acc", "worker-0"), ("loss", "worker-1"))
    ]
    return ok(rows)


def test_a_server_without_pages_is_asked_once_with_the_0_8_0_read(make) -> None:
    script = Script(_whole)
    client = make(script)
    assert len(client.get_metrics(EXP_ID)) == 3
    only = list(client.iter_metrics(EXP_ID, key="loss", worker="worker-1"))
    assert [(m.key, m.worker_index) for m in only] == [("loss", "worker-1")]
    assert script.paths().count("GET /api/v1/experiment/ping") == 1


@pytest.mark.parametrize("bad_id", ["", "  "])
def test_a_bad_id_is_refused_before_anything_is_sent(make, bad_id: str) -> None:
    script = Script(_paged)
    with pytest.raises(ValueError, match="experiment id must be"):
        make(script).get_metrics(bad_id)
    assert script.requests == []


# 0.8.0's answer of POST /api/metric/selective: Gson writes the row's java.sql.Timestamp as
# "yyyy-MM-dd HH:mm:ss" (the server's zone), a Java Float value, then BaseEntity's keys.
ROWS_080 = [
    {"key": "loss", "value": 0.5, "workerIndex": "master-0", "timestamp": "2023-05-23 09:01:12",
     "step": 0, "isNan": False, "id": EXP_ID, "createBy": None,
     "createTime": "2023-05-23 09:05:00", "updateBy": None, "updateTime": "2023-05-23 09:05:00"},
    {"key": "loss", "value": 0.0, "workerIndex": "master-0", "timestamp": "2023-05-23 09:01:13",
     "step": 1, "isNan": True, "id": EXP_ID, "createBy": None,
     "createTime": "2023-05-23 09:05:00", "updateBy": None, "updateTime": "2023-05-23 09:05:00"},
    {"key": "loss", "value": -3.40282e38, "workerIndex": "master-0",
     "timestamp": "2023-05-23 09:01:14", "step": 2, "isNan": False, "id": EXP_ID,
     "createBy": None, "createTime": "2023-05-23 09:05:00", "updateBy": None,
     "updateTime": "2023-05-23 09:05:00"},
]  # fmt: skip
PARAMS_080 = [
    {"key": "lr", "value": "0.01", "workerIndex": "worker-1", "id": EXP_ID, "createBy": None,
     "createTime": "2023-05-23 09:05:00", "updateBy": None, "updateTime": "2023-05-23 09:05:00"}
]  # fmt: skip


def _submarine_080(request: httpx.Request) -> httpx.Response:
    if request.url.path.endswith("/ping"):
        return ok("Pong")  # 0.8.0 has no extensions
    if request.url.path == "/api/param/selective":
        return ok(PARAMS_080)
    assert request.url.path == "/api/metric/selective"
    return ok(ROWS_080)


def test_0_8_0_rows_are_read_into_the_same_typed_records(make) -> None:
    client = make(Script(_submarine_080))
    loss, nan, inf = client.get_metrics(EXP_ID)
    assert all(isinstance(m, Metric) for m in (loss, nan, inf))
    # 0.8.0's zone-less time is read as UTC: 2023-05-23T09:01:12Z.
    assert [int(m.timestamp) for m in (loss, nan, inf)] == [
        1684832472000,
        1684832473000,
        1684832474000,
    ]
    assert loss.timestamp.text == "2023-05-23 09:01:12"
    assert (loss.value, loss.step, loss.worker_index, loss.is_nan) == (0.5, 0, "master-0", False)
    assert nan.value is not None
    assert math.isnan(nan.value)
    assert inf.value == -math.inf  # 0.8.0's FLOAT column: at most 3.40282e38
    assert loss.create_time == "2023-05-23 09:05:00"
    assert loss.create_by is None
    assert [m.to_dict() for m in (loss, nan, inf)] == ROWS_080  # what came, given back
    (param,) = client.get_params(EXP_ID)
    assert (param.key, param.value, param.worker_index) == ("lr", "0.01", "worker-1")
    assert param.to_dict() == PARAMS_080[0]


def test_the_local_servers_infinity_reads_back_as_an_infinity(make) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/ping"):
            return ok("Pong", attributes={"extensions": ["tracking-page"]})
        points = [[0, 1.7976931348623157e308, 5], [1, -1.7976931348623157e308, 6], [2, 3e38, 7]]
        series = [{"key": "edge", "workerIndex": "worker-0", "points": points}]
        return ok({"experimentId": EXP_ID, "series": series, "cursor": "t1.2.0", "more": False})

    metrics = make(Script(answer)).get_metrics(EXP_ID)
    # A local server's float64 holds 3e38: only the largest double stands for infinity.
    assert [m.value for m in metrics] == [math.inf, -math.inf, 3e38]
    assert [m.is_nan for m in metrics] == [False, False, False]

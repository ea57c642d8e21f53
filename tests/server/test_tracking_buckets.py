"""Metrics thinned for a chart (``GET /api/metric/page?buckets=N``): each bucket's lowest
and highest records kept, over real HTTP, and the cursor it answers continues with what
came since."""

from __future__ import annotations

import math
import random
from typing import Any

import httpx
import pytest

from submarine.models.trackwire import encode_metrics
from submarine.server.tracking.buckets import thin
from tests.support import make_spec

from .api_support import create, fail, ok

JSON = {"Content-Type": "application/json"}


def _add(http: httpx.Client, experiment_id: str, worker: str, records: list[Any]) -> None:
    for at in range(0, len(records), 20_000):
        body = encode_metrics(experiment_id, worker, records[at : at + 20_000])
        assert ok(http.post("/api/metric/add", content=body, headers=JSON)) is True


def _buckets(http: httpx.Client, **params: Any) -> dict[str, Any]:
    result: dict[str, Any] = ok(http.get("/api/metric/page", params=params))
    return result


@pytest.mark.slow
def test_each_bucket_keeps_its_lowest_and_highest_records(server: Any) -> None:
    rng = random.Random(7)
    values = [math.sin(n / 500) + rng.gauss(0, 0.3) for n in range(50_000)]
    values[12_345] = 40.0  # one spike, and one dip: neither may be lost
    values[33_333] = -40.0
    with httpx.Client(base_url=server.url, timeout=120) as http:
        experiment_id = create(http, make_spec(name="thinned"))["experimentId"]
        _add(
            http,
            experiment_id,
            "worker-0",
            [("loss", v, n, 1000 + n) for n, v in enumerate(values)],
        )
        _add(http, experiment_id, "worker-0", [("acc", 0.5, n, 0) for n in range(10)])
        answer = _buckets(http, id=experiment_id, buckets="100")
        assert (answer["buckets"], answer["more"]) == (100, False)
        series = {s["key"]: s for s in answer["series"]}
        loss = series["loss"]
        assert (loss["workerIndex"], loss["count"]) == ("worker-0", 50_000)
        assert 200 <= len(loss["points"]) <= 400  # at most 4 a bucket
        kept = {point[3]: point for point in loss["points"]}
        for bucket in range(100):
            first, last = bucket * 500, bucket * 500 + 499
            chunk = values[first : last + 1]
            low = first + chunk.index(min(chunk))
            high = first + chunk.index(max(chunk))
            for index in (first, last, low, high):
                assert kept[index] == [index, values[index], 1000 + index, index]
        assert [p[3] for p in loss["points"]] == sorted(kept)  # in the order they came
        assert series["acc"]["count"] == 10  # a short series comes whole
        assert [p[0] for p in series["acc"]["points"]] == list(range(10))

        # What came after the cursor is what the next page holds.
        _add(http, experiment_id, "worker-1", [("loss", 1.5, 7, 0)])
        page = ok(
            http.get("/api/metric/page", params={"id": experiment_id, "cursor": answer["cursor"]})
        )
        assert [(s["workerIndex"], s["points"][0][:2]) for s in page["series"]] == [
            ("worker-1", [7, 1.5])
        ]

        zoomed = _buckets(
            http,
            id=experiment_id,
            buckets="10",
            key="loss",
            workerIndex="worker-0",
            start="12000",
            end="12999",
        )
        (only,) = zoomed["series"]
        assert only["count"] == 1000
        assert [12_345, 40.0] in [p[:2] for p in only["points"]]
        assert all(12_000 <= p[0] <= 12_999 for p in only["points"])

        fail(http.get("/api/metric/page", params={"id": experiment_id, "buckets": "0"}), 400)
        message = fail(
            http.get(
                "/api/metric/page", params={"id": experiment_id, "buckets": "1", "start": "x"}
            ),
            400,
        )
        assert "start='x'" in message


def test_thinning_leaves_out_what_cannot_be_drawn() -> None:
    values = [1.0, math.nan, 3.0, math.inf, 2.0, -math.inf, math.nan, math.nan, 0.5]
    kept = thin(values, 3)
    assert [values[i] for i in kept] == [1.0, 3.0, 2.0, 0.5]
    assert thin([1.0, 2.0, 3.0], 2) == [0, 1, 2]  # short enough: all of it

"""The summary of each experiment's latest metric and param values: the last value by step
(then time, then arrival) over every worker, the last param received, its bounds, an older
data dir folded once, and the route over real HTTP with its ETag and the token."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine.models.trackwire import encode_metrics, read_batch
from submarine.server.tracking import summary
from submarine.server.tracking.store import TrackingStore
from tests.support import make_spec

from .api_support import create, fail, ok

ONE = "experiment-1700000000000-0001"
TWO = "experiment-1700000000000-0002"
TOKEN = "summary-token-of-the-test"


def _metrics(
    store: TrackingStore,
    experiment_id: str,
    worker: str,
    records: list[tuple[str, float, int, int]],
) -> None:
    document = json.loads(encode_metrics(experiment_id, worker, records))
    _, batch, count = read_batch(document, "metric", 7)
    store.add("metric", experiment_id, batch, count=count)


def _params(store: TrackingStore, experiment_id: str, worker: str, **values: str) -> None:
    store.add("param", experiment_id, [(key, value, worker) for key, value in values.items()])


@pytest.fixture
def store(tmp_path: Path) -> TrackingStore:
    return TrackingStore(tmp_path / "tracking.db")


def test_a_metric_is_its_value_at_the_highest_step_over_every_worker(
    store: TrackingStore,
) -> None:
    # (key, value, step, timestamp)
    _metrics(store, ONE, "worker-0", [("loss", 0.9, 1, 10), ("loss", 0.5, 3, 30)])
    _metrics(store, ONE, "worker-1", [("loss", 0.7, 2, 99), ("acc", 0.1, 1, 5)])
    _metrics(store, ONE, "worker-1", [("acc", 0.2, 1, 6), ("acc", 0.3, 1, 4)])
    # The same step and time as a value already held: the one received last wins.
    _metrics(store, ONE, "worker-1", [("loss", 0.25, 3, 30)])
    _metrics(store, TWO, "master-0", [("loss", float("nan"), 4, 1), ("big", float("inf"), 1, 1)])
    got = store.summary()
    assert got["truncated"] is False
    assert got["experiments"][ONE]["metrics"] == {
        "acc": {"value": 0.2, "step": 1, "workerIndex": "worker-1"},
        "loss": {"value": 0.25, "step": 3, "workerIndex": "worker-1"},
    }
    assert got["experiments"][TWO]["metrics"] == {
        "big": {"value": 1.7976931348623157e308, "step": 1, "workerIndex": "master-0"},
        "loss": {"value": None, "step": 4, "workerIndex": "master-0"},
    }
    # A lower step logged later changes nothing.
    _metrics(store, ONE, "worker-0", [("loss", 9.0, 2, 1000)])
    assert store.summary([ONE])["experiments"][ONE]["metrics"]["loss"]["value"] == 0.25


def test_a_param_is_the_value_received_last_and_forget_drops_it(store: TrackingStore) -> None:
    _params(store, ONE, "worker-0", lr="0.1", optimizer="sgd")
    _params(store, ONE, "worker-1", lr="0.01")
    _params(store, TWO, "worker-0", lr="1")
    before = store.version()
    assert store.summary([ONE])["experiments"] == {
        ONE: {"metrics": {}, "params": {"lr": "0.01", "optimizer": "sgd"}}
    }
    store.forget(ONE)
    assert store.version() > before
    assert list(store.summary()["experiments"]) == [TWO]
    assert store.summary([ONE, "experiment-1-1"])["experiments"] == {}


def test_the_answer_is_bounded_in_keys_values_and_characters(
    store: TrackingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summary, "MAX_KEYS", 3)
    _metrics(store, ONE, "worker-0", [(f"m{n}", float(n), 1, 1) for n in range(5)])
    _params(store, ONE, "worker-0", long="x" * 1000)
    got = store.summary()
    assert list(got["experiments"][ONE]["metrics"]) == ["m0", "m1", "m2"]
    assert got["experiments"][ONE]["params"]["long"] == "x" * summary.MAX_VALUE_CHARS
    assert got["truncated"] is True

    monkeypatch.setattr(summary, "MAX_KEYS", 100)
    monkeypatch.setattr(summary, "MAX_VALUES", 4)
    _params(store, TWO, "worker-0", a="1", b="2")
    got = store.summary()
    counted = sum(len(e["metrics"]) + len(e["params"]) for e in got["experiments"].values())
    assert (counted, got["truncated"]) == (4, True)


def test_an_older_data_dir_is_summarised_when_first_opened(tmp_path: Path) -> None:
    path = tmp_path / "tracking.db"
    old = TrackingStore(path)
    _metrics(old, ONE, "worker-0", [("loss", 0.4, 2, 1), ("loss", 0.8, 1, 2)])
    _params(old, ONE, "worker-0", lr="0.3")
    old.close()
    with sqlite3.connect(path) as db:  # as a server without the summary left it
        db.execute("DROP TABLE tracking_latest")
        db.execute("DROP TABLE tracking_facts")
    db.close()
    got = TrackingStore(path).summary()
    assert got["experiments"][ONE] == {
        "metrics": {"loss": {"value": 0.4, "step": 2, "workerIndex": "worker-0"}},
        "params": {"lr": "0.3"},
    }


@pytest.mark.slow
def test_the_route_answers_values_304_while_unchanged_and_needs_the_token(
    server_factory: Any,
) -> None:
    server = server_factory.start("--token", TOKEN)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with httpx.Client(base_url=server.url, headers=auth, timeout=60) as http:
        first = create(http, make_spec())["experimentId"]
        second = create(http, make_spec())["experimentId"]
        metrics = [
            {"id": first, "key": "loss", "value": 0.9, "workerIndex": "worker-0", "step": 1},
            {"id": first, "key": "loss", "value": 0.4, "workerIndex": "worker-1", "step": 5},
            {"id": first, "key": "loss", "value": 0.6, "workerIndex": "worker-0", "step": 4},
        ]
        assert ok(http.post("/api/metric/add", json=metrics)) is True
        params = [{"id": second, "key": "lr", "value": "0.01", "workerIndex": "worker-1"}]
        assert ok(http.post("/api/param/add", json=params)) is True

        answer = http.get("/api/metric/summary")
        result = ok(answer)
        tag = answer.headers["etag"]
        assert tag.startswith('W/"tracking-')
        assert result["experiments"][first]["metrics"] == {
            "loss": {"value": 0.4, "step": 5, "workerIndex": "worker-1"}
        }
        assert result["experiments"][second] == {"metrics": {}, "params": {"lr": "0.01"}}

        same = http.get("/api/metric/summary", headers={"If-None-Match": tag})
        assert (same.status_code, same.content, same.headers["etag"]) == (304, b"", tag)
        # Some experiments only: a tag of their own.
        some = http.get(f"/api/param/summary?ids={second}", headers={"If-None-Match": tag})
        assert list(ok(some)["experiments"]) == [second]

        more = [{"id": first, "key": "loss", "value": 0.1, "workerIndex": "worker-0", "step": 6}]
        assert ok(http.post("/api/metric/add", json=more)) is True
        changed = http.get("/api/metric/summary", headers={"If-None-Match": tag})
        assert changed.headers["etag"] != tag
        assert ok(changed)["experiments"][first]["metrics"]["loss"]["value"] == 0.1

        # Bounded: the first MAX_KEYS keys of an experiment, a param cut, and it says so.
        many = [
            {"id": second, "key": f"k{n:03d}", "value": n, "workerIndex": "worker-0", "step": 1}
            for n in range(summary.MAX_KEYS + 1)
        ]
        assert ok(http.post("/api/metric/add", json=many)) is True
        long = [{"id": second, "key": "note", "value": "y" * 5000, "workerIndex": "worker-0"}]
        assert ok(http.post("/api/param/add", json=long)) is True
        bounded = ok(http.get("/api/metric/summary", params={"ids": second}))
        held = bounded["experiments"][second]
        assert sorted(held["metrics"]) == [f"k{n:03d}" for n in range(summary.MAX_KEYS)]
        assert held["params"]["note"] == "y" * summary.MAX_VALUE_CHARS
        assert bounded["truncated"] is True

        ids = ",".join(f"experiment-1-{n}" for n in range(summary.MAX_IDS + 1))
        message = fail(http.get("/api/metric/summary", params={"ids": ids}), 400)
        assert f"at most {summary.MAX_IDS}" in message

        ok(http.delete(f"/api/v1/experiment/{first}"))
        assert list(ok(http.get("/api/metric/summary"))["experiments"]) == [second]

    for headers in ({}, {"Authorization": f"Bearer {TOKEN}x"}):
        refused = httpx.get(f"{server.url}/api/metric/summary", headers=headers, timeout=60)
        assert refused.status_code == 401
        assert "experiments" not in refused.text

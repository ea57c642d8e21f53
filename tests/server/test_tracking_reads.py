"""Reads of metrics and params in bounded memory: 0.8.0's answers streamed from the store,
the paged read that gives only what is new, per-experiment quotas, and records that are not
Unicode text (stored by an older server) that reads answer anyway."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import httpx
import pytest

from submarine.models.trackwire import encode_metrics, read_batch
from submarine.server.tracking.reads import (
    MAX_PAGE,
    PAGE_BYTES,
    decode_cursor,
    read_page,
    selective_pieces,
)
from submarine.server.tracking.store import QuotaError, TrackingQuota, TrackingStore
from tests.support import make_spec

from .api_support import create, fail, ok

EXPERIMENT = "experiment-1700000000000-0001"
JSON = {"Content-Type": "application/json"}


def _columns(experiment_id: str, worker: str, records: list[tuple[str, float, int, int]]) -> Any:
    return read_batch(json.loads(encode_metrics(experiment_id, worker, records)), "metric", 7)


@pytest.fixture
def store(tmp_path: Path) -> TrackingStore:
    return TrackingStore(tmp_path / "tracking.db")


def _page(store: TrackingStore, cursor: str | None = None, **options: Any) -> dict[str, Any]:
    body = read_page(store, "metric", EXPERIMENT, cursor=cursor, **options)
    envelope = json.loads(body)
    assert envelope["success"] is True
    result: dict[str, Any] = envelope["result"]
    return result


def test_a_page_gives_the_records_after_its_cursor_per_key_and_worker(
    store: TrackingStore,
) -> None:
    for worker in ("worker-0", "worker-1"):
        _, batch, count = _columns(
            EXPERIMENT, worker, [("loss", 1.0, 1, 5), ("acc", 0.5, 1, 5), ("loss", 0.9, 2, 6)]
        )
        store.add("metric", EXPERIMENT, batch, count=count)
    page = _page(store)
    assert page["more"] is False
    assert [(s["key"], s["workerIndex"], s["points"]) for s in page["series"]] == [
        ("loss", "worker-0", [[1, 1.0, 5], [2, 0.9, 6]]),
        ("acc", "worker-0", [[1, 0.5, 5]]),
        ("loss", "worker-1", [[1, 1.0, 5], [2, 0.9, 6]]),
        ("acc", "worker-1", [[1, 0.5, 5]]),
    ]
    assert _page(store, page["cursor"])["series"] == []  # nothing new
    _, batch, count = _columns(EXPERIMENT, "worker-1", [("loss", 0.8, 3, 7)])
    store.add("metric", EXPERIMENT, batch, count=count)
    newer = _page(store, page["cursor"])
    assert [(s["key"], s["workerIndex"], s["points"]) for s in newer["series"]] == [
        ("loss", "worker-1", [[3, 0.8, 7]])
    ]


def test_pages_cut_a_batch_and_resume_inside_it(store: TrackingStore) -> None:
    records = [("loss", float(step), step, 1) for step in range(25)]
    _, batch, count = _columns(EXPERIMENT, "worker-0", records)
    store.add("metric", EXPERIMENT, batch, count=count)
    seen: list[int] = []
    cursor = None
    for _ in range(10):
        page = _page(store, cursor, limit=7, key="loss", worker="worker-0")
        seen += [point[0] for series in page["series"] for point in series["points"]]
        cursor = page["cursor"]
        if not page["more"]:
            break
    assert seen == list(range(25))
    assert _page(store, limit=7, key="other")["series"] == []


def test_a_page_is_bounded_in_bytes_whatever_its_keys(store: TrackingStore) -> None:
    # Every record its own series, each with the longest key of control characters
    # (six bytes each in JSON): the page still stays near its byte budget.
    for start in range(0, 6000, 1000):
        records = [("\x01" * 240 + f"{n:08d}", 1.0, n, 1) for n in range(start, start + 1000)]
        _, batch, count = _columns(EXPERIMENT, "w" * 64, records)
        store.add("metric", EXPERIMENT, batch, count=count)
    page = read_page(store, "metric", EXPERIMENT, cursor=None, limit=MAX_PAGE)
    assert len(page) < PAGE_BYTES + 4096
    assert json.loads(page)["result"]["more"] is True


@pytest.mark.parametrize("cursor", ["x", "t1.1", "t1.-1.0", "t1.1.1.1", "t2.1.1"])
def test_a_cursor_no_page_answered_is_refused(cursor: str) -> None:
    with pytest.raises(ValueError, match="is not valid"):
        decode_cursor(cursor)


def test_the_selective_answer_is_written_in_pieces_of_the_same_json(
    store: TrackingStore,
) -> None:
    for worker in ("worker-0", "worker-1"):
        records = [("loss" if n % 2 else "acc", n / 3, n, 0) for n in range(20_000)]
        _, batch, count = _columns(EXPERIMENT, worker, records)
        store.add("metric", EXPERIMENT, batch, count=count)
    pieces = list(selective_pieces(store, "metric", EXPERIMENT))
    assert len(pieces) > 4
    assert max(len(piece) for piece in pieces) < 1 << 20
    whole = json.loads(b"".join(pieces))
    assert whole["result"] == store.select("metric", EXPERIMENT)
    assert len(whole["result"]) == 40_000
    only = json.loads(
        b"".join(selective_pieces(store, "metric", EXPERIMENT, key="acc", worker="worker-1"))
    )
    assert len(only["result"]) == 10_000
    assert {(m["key"], m["workerIndex"]) for m in only["result"]} == {("acc", "worker-1")}
    assert json.loads(b"".join(selective_pieces(store, "param", EXPERIMENT)))["result"] == []


def test_rows_that_are_not_unicode_text_are_answered_with_a_replacement(
    store: TrackingStore, tmp_path: Path
) -> None:
    # An older server stored keys and values with lone surrogates, as JSON escapes.
    store.add("metric", EXPERIMENT, [("ok", 1.0, "worker-0", 5, 1, False)])
    store.close()
    with sqlite3.connect(tmp_path / "tracking.db") as db:
        rows = json.dumps([["bad\ud800", 2.0, "w\udc00", 6, 2, False]])
        db.execute(
            "INSERT INTO metric_batches (experiment_id, rows) VALUES (?, ?)", (EXPERIMENT, rows)
        )
        params = json.dumps([["lr", "0.1\udfff", "worker-0"]])
        db.execute(
            "INSERT INTO param_batches (experiment_id, rows) VALUES (?, ?)", (EXPERIMENT, params)
        )
    answer = json.loads(b"".join(selective_pieces(store, "metric", EXPERIMENT)))["result"]
    assert [(m["key"], m["workerIndex"]) for m in answer] == [
        ("ok", "worker-0"),
        ("bad\ufffd", "w\ufffd"),
    ]
    params = json.loads(b"".join(selective_pieces(store, "param", EXPERIMENT)))["result"]
    assert params[0]["value"] == "0.1\ufffd"
    page = _page(store)
    assert [s["key"] for s in page["series"]] == ["ok", "bad\ufffd"]


def test_a_quota_refuses_what_would_pass_it_and_stores_none_of_it(
    store: TrackingStore,
) -> None:
    quota = TrackingQuota(records=10, bytes=1 << 20)
    _, batch, count = _columns(EXPERIMENT, "worker-0", [("loss", 1.0, n, 1) for n in range(8)])
    store.add("metric", EXPERIMENT, batch, count=count, quota=quota)
    store.add("param", EXPERIMENT, [("lr", "0.1", "worker-0")], quota=quota)
    _, batch, count = _columns(EXPERIMENT, "worker-0", [("loss", 1.0, n, 1) for n in range(2)])
    with pytest.raises(QuotaError) as refused:
        store.add("metric", EXPERIMENT, batch, count=count, quota=quota)
    message = str(refused.value)
    assert EXPERIMENT in message
    assert "tracking quota of 10 records" in message
    assert "--tracking-max-records" in message
    assert store.usage(EXPERIMENT)[0] == 9
    assert len(store.select("metric", EXPERIMENT)) == 8
    store.add("metric", "experiment-1700000000000-0002", batch, count=count, quota=quota)
    small = TrackingQuota(records=1000, bytes=store.usage(EXPERIMENT)[1] + 10)
    with pytest.raises(QuotaError, match="--tracking-max-bytes"):
        store.add("param", EXPERIMENT, [("note", "x" * 50, "worker-0")], quota=small)
    store.forget(EXPERIMENT)
    assert store.usage(EXPERIMENT) == (0, 0)


def test_usage_is_counted_from_batches_an_older_server_stored(
    store: TrackingStore, tmp_path: Path
) -> None:
    _, batch, count = _columns(EXPERIMENT, "worker-0", [("loss", 1.0, n, 1) for n in range(30)])
    store.add("metric", EXPERIMENT, batch, count=count)
    store.add("param", EXPERIMENT, [("lr", "0.1", "worker-0"), ("bs", "32", "worker-0")])
    counted = store.usage(EXPERIMENT)
    store.close()
    with sqlite3.connect(tmp_path / "tracking.db") as db:
        db.execute("DELETE FROM tracking_usage")  # as an older server left it
    assert store.usage(EXPERIMENT) == counted
    assert counted[0] == 32


def test_the_routes_page_stream_and_refuse_past_the_quota(server_factory: Any) -> None:
    server = server_factory.start("--tracking-max-records", "5000")
    with httpx.Client(base_url=server.url, timeout=60) as http:
        experiment_id = create(http, make_spec())["experimentId"]
        records = [("loss", n / 7, n, 0) for n in range(4000)]
        body = encode_metrics(experiment_id, "worker-0", records)
        assert ok(http.post("/api/metric/add", content=body, headers=JSON)) is True
        message = fail(http.post("/api/metric/add", content=body, headers=JSON), 413)
        assert f"experiment {experiment_id} has reached its tracking quota" in message
        assert "--tracking-max-records" in message

        page = ok(http.get("/api/metric/page", params={"id": experiment_id, "limit": "1500"}))
        assert (page["experimentId"], page["more"]) == (experiment_id, True)
        assert len(page["series"][0]["points"]) == 1500
        rest = ok(
            http.get("/api/metric/page", params={"id": experiment_id, "cursor": page["cursor"]})
        )
        assert len(rest["series"][0]["points"]) == 2500
        assert rest["more"] is False
        fail(http.get("/api/metric/page", params={"id": experiment_id, "cursor": "?"}), 400)
        fail(http.get("/api/param/page", params={"id": experiment_id, "limit": "0"}), 400)
        assert ok(http.get("/api/param/page", params={"id": experiment_id}))["series"] == []

        with http.stream("POST", "/api/metric/selective", json={"id": experiment_id}) as answer:
            assert answer.status_code == 200
            assert answer.headers.get("transfer-encoding") == "chunked"
            assert "content-length" not in answer.headers
            streamed = json.loads(answer.read())["result"]
        assert [m["step"] for m in streamed] == list(range(4000))
        listed = ok(http.get("/api/metric/list", params={"id": experiment_id, "metricKey": "x"}))
        assert listed == []
        bad_id = b'{"id": "experiment-1-\\ud800"}'
        fail(http.post("/api/metric/selective", content=bad_id, headers=JSON), 400)


def test_ping_advertises_the_paged_reads_by_the_name_the_clients_look_for() -> None:
    from submarine.client._records import TRACKING_PAGE
    from submarine.server.api.experiments import EXTENSIONS
    from submarine.server.tracking.routes import PAGE_EXTENSION

    assert PAGE_EXTENSION == TRACKING_PAGE
    assert PAGE_EXTENSION in EXTENSIONS

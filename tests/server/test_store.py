"""The SQLite store: WAL, commits before return, ids, names that may repeat, scans, delete."""

from __future__ import annotations

import contextlib
import sqlite3
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from submarine.server.store.experiments import (
    KEEP_REMOVED,
    ExperimentRecord,
    StorageError,
    Store,
)

T0 = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=timezone(timedelta(hours=8)))


def record(store: Store, name: str = "mnist", status: str = "Accepted") -> ExperimentRecord:
    experiment_id = store.next_experiment_id()
    spec: dict[str, Any] = {
        "meta": {"name": name, "experimentId": experiment_id, "framework": "TensorFlow"},
        "environment": {"image": "x"},
        "spec": {"Worker": {"replicas": 1, "resourceMap": {}}},
    }
    return ExperimentRecord(experiment_id, str(uuid.uuid4()), name, status, spec, T0)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    opened = Store(tmp_path / "data" / "submarine.db")
    yield opened
    opened.close()


def other_connection(path: Path) -> sqlite3.Connection:
    """A second connection, as another process would open the database."""
    return sqlite3.connect(str(path))


def test_database_is_in_wal_mode(store: Store, tmp_path: Path) -> None:
    assert store.journal_mode == "wal"
    with other_connection(tmp_path / "data" / "submarine.db") as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_every_write_is_committed_before_it_returns(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "data" / "submarine.db"
    first = record(store)
    store.insert(first)
    db = other_connection(path)
    try:

        def row() -> tuple[Any, ...]:
            query = "SELECT status, created_time, spec FROM experiments WHERE experiment_id = ?"
            found = db.execute(query, (first.experiment_id,)).fetchone()
            return tuple(found) if found else ()

        assert row()[0] == "Accepted"
        store.set_status(first.experiment_id, "Created", at=T0 + timedelta(seconds=1))
        assert row()[:2] == ("Created", (T0 + timedelta(seconds=1)).isoformat())
        store.replace_spec(first.experiment_id, {**first.spec, "code": None})
        assert '"code": null' in row()[2]
        store.delete(first.experiment_id)
        assert row() == ()
    finally:
        db.close()


def test_round_trip_keeps_every_field(store: Store) -> None:
    first = record(store)
    store.insert(first)
    assert store.get(first.experiment_id) == first
    # Created at insert, as on Submarine 0.8.0: the created time is never missing.
    assert first.created_time == first.accepted_time == T0


def test_status_changes_set_their_times(store: Store) -> None:
    first = record(store)
    store.insert(first)
    for offset, status in enumerate(["Created", "Running", "Failed"], start=1):
        store.set_status(first.experiment_id, status.lower(), at=T0 + timedelta(seconds=offset))
    got = store.get(first.experiment_id)
    assert got is not None
    assert got.status == "Failed"
    assert got.created_time == T0 + timedelta(seconds=1)
    assert got.running_time == T0 + timedelta(seconds=2)
    assert got.finished_time == T0 + timedelta(seconds=3)


def test_naive_times_are_refused(store: Store) -> None:
    first = record(store)
    first.accepted_time = datetime(2024, 1, 1)
    with pytest.raises(ValueError, match="no timezone"):
        store.insert(first)
    assert store.list() == []


def test_ids_have_submarines_shape_and_are_unique_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "submarine.db"
    seen: list[str] = []
    for _ in range(3):
        opened = Store(path)
        seen += [opened.next_experiment_id() for _ in range(3)]
        opened.close()
    assert len(set(seen)) == 9
    starts = [int(seen[k].split("-")[1]) for k in (0, 3, 6)]
    assert starts[0] < starts[1] < starts[2]  # one epoch per start, each later than the last
    assert {int(i.split("-")[1]) for i in seen} == set(starts)
    assert [i.split("-")[2] for i in seen[:3]] == ["0001", "0002", "0003"]


def test_names_may_repeat_among_live_experiments(store: Store) -> None:
    first, second = record(store, "mnist"), record(store, "mnist")
    store.insert(first)
    store.insert(second)
    assert [r.experiment_id for r in store.list()] == [first.experiment_id, second.experiment_id]
    other = record(store, "other")
    store.insert(other)
    renamed = {**other.spec, "meta": {**other.spec["meta"], "name": "MNIST"}}
    store.replace_spec(other.experiment_id, renamed)
    got = store.get(other.experiment_id)
    assert got is not None
    assert (got.name, got.spec) == ("mnist", renamed)


def test_a_database_that_cannot_be_written_raises_storage_error(store: Store) -> None:
    first = record(store)
    store.insert(first)
    store._db.execute("PRAGMA query_only = ON")  # what a read-only or full disk does to writes
    with pytest.raises(StorageError, match="readonly"):
        store.set_status(first.experiment_id, "Running", at=T0)
    with pytest.raises(StorageError):
        store.insert(record(store, "refused"))
    assert isinstance(StorageError("x"), OSError)
    got = store.get(first.experiment_id)  # reads go on
    assert got is not None
    assert got.status == "Accepted"
    assert [r.experiment_id for r in store.list()] == [first.experiment_id]


def test_list_filters_by_status_in_any_case_in_accepted_order(store: Store) -> None:
    records = [record(store, f"e{i}") for i in range(4)]
    for item in records:
        store.insert(item)
    store.set_status(records[1].experiment_id, "Running", at=T0)
    store.set_status(records[3].experiment_id, "Running", at=T0)
    assert [r.experiment_id for r in store.list()] == [r.experiment_id for r in records]
    running = [r.experiment_id for r in store.list("rUnNiNg")]
    assert running == [records[1].experiment_id, records[3].experiment_id]
    assert store.list("Succeeded") == []
    with pytest.raises(ValueError, match="Accepted, Created, Running"):
        store.list("Sleeping")


def test_delete_forgets_the_experiment(store: Store) -> None:
    first = record(store)
    store.insert(first)
    store.delete(first.experiment_id)
    assert store.get(first.experiment_id) is None
    assert store.list() == []


def test_everything_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "submarine.db"
    opened = Store(path)
    first = record(opened)
    opened.insert(first)
    opened.set_status(first.experiment_id, "Running", at=T0)
    opened.close()
    reopened = Store(path)
    try:
        got = reopened.get(first.experiment_id)
        assert got is not None
        assert (got.status, got.running_time, got.spec) == ("Running", T0, first.spec)
    finally:
        reopened.close()


def test_scans_give_the_records_of_list_in_batches(store: Store) -> None:
    records = [record(store, f"e{i}") for i in range(7)]
    records[0].spec["meta"]["cmd"] = 'echo "ünïcödé ☃" \\ \t \u0001 done'
    records[1].spec["meta"]["envVars"] = {"F": 1.5e-7, "N": None, "B": True, "L": [1, "x"]}
    for item in records:
        store.insert(item)
    store.set_status(records[2].experiment_id, "Running", at=T0 + timedelta(seconds=2))
    store.set_status(records[2].experiment_id, "Failed", at=T0 + timedelta(seconds=3))
    batches = list(store.scan(batch=3))
    assert [len(b) for b in batches] == [3, 3, 1]
    assert [r for batch in batches for r in batch] == store.list()
    assert batches[0][0].spec == records[0].spec
    failed = [r for batch in store.scan("fAiLeD") for r in batch]
    assert failed == store.list("Failed")
    assert [r.running_time for r in failed] == [T0 + timedelta(seconds=2)]
    assert list(store.scan("Succeeded")) == []
    with pytest.raises(ValueError, match="Accepted, Created, Running"):
        store.scan("Sleeping")  # at once, not on the first batch


def test_a_scan_is_one_snapshot_and_does_not_hold_up_writes(store: Store, tmp_path: Path) -> None:
    for index in range(5):
        store.insert(record(store, f"e{index}"))
    scan = store.scan(batch=2)
    seen = [r.experiment_id for r in next(scan)]
    late = record(store, "late")
    store.insert(late)  # a write while the scan is open goes through at once
    store.delete(seen[0])
    assert store.get(late.experiment_id) is not None
    seen += [r.experiment_id for batch in scan for r in batch]
    assert len(seen) == 5
    assert late.experiment_id not in seen
    assert {r.experiment_id for r in store.list()} == {*seen[1:], late.experiment_id}


def test_a_closed_scan_releases_its_snapshot(store: Store, tmp_path: Path) -> None:
    for index in range(4):
        store.insert(record(store, f"e{index}"))
    checkpoints = sqlite3.connect(str(tmp_path / "data" / "submarine.db"), timeout=0)
    try:

        def truncate_is_busy() -> bool:
            store.insert(record(store, f"w{uuid.uuid4().hex[:6]}"))
            return bool(checkpoints.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])

        scan = store.scan(batch=1)
        next(scan)
        assert truncate_is_busy()  # the open read holds its snapshot of the WAL
        scan.close()
        assert not truncate_is_busy()
    finally:
        checkpoints.close()


def test_a_scan_reads_through_the_store_when_no_reader_can_open(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [record(store, f"e{i}") for i in range(3)]
    for item in records:
        store.insert(item)

    def refuse(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(sqlite3, "connect", refuse)
    batches = list(store.scan(batch=2))
    assert [[r.experiment_id for r in batch] for batch in batches] == [
        [records[0].experiment_id, records[1].experiment_id],
        [records[2].experiment_id],
    ]
    assert batches[0] == records[:2]


def _change_number(store: Store) -> int:
    return int(store.version.split(".")[1])


def test_tombstones_of_deleted_experiments_are_bounded(store: Store, tmp_path: Path) -> None:
    """Each delete left a tombstone for the list's change reads, for ever: a soak of 2,000
    experiments grew the database by their tombstones. At most ``KEEP_REMOVED`` are kept; a
    ``since`` older than the oldest kept one gets a full answer."""
    kept = [record(store, f"kept-{i}") for i in range(2)]
    for one in kept:
        store.insert(one)
    start = _change_number(store)
    doomed = [record(store, f"doomed-{i}") for i in range(KEEP_REMOVED + 5)]
    for one in doomed:
        store.insert(one)
    for one in doomed[:5]:
        store.delete(one.experiment_id)
    early = _change_number(store)
    for one in doomed[5:]:
        store.delete(one.experiment_id)

    path = tmp_path / "data" / "submarine.db"
    with contextlib.closing(other_connection(path)) as db:
        assert db.execute("SELECT COUNT(*) FROM experiments_removed").fetchone()[0] == KEEP_REMOVED
    # Older than the oldest tombstone kept: every experiment, and no ids of deleted ones.
    changed, removed, now, full = store.changes_since(start)
    assert full is True
    assert removed == []
    assert {r.experiment_id for r in changed} == {r.experiment_id for r in kept}
    assert now == _change_number(store)
    # Recent enough: exactly the ids deleted after it.
    changed, removed, _, full = store.changes_since(early)
    assert full is False
    assert changed == []
    assert sorted(removed) == sorted(r.experiment_id for r in doomed[5:])


def test_a_new_start_forgets_the_tombstones_of_the_last(tmp_path: Path) -> None:
    path = tmp_path / "data" / "submarine.db"
    first = Store(path)
    one = record(first)
    first.insert(one)
    first.delete(one.experiment_id)
    first.close()
    again = Store(path)
    try:
        with contextlib.closing(other_connection(path)) as db:
            assert db.execute("SELECT COUNT(*) FROM experiments_removed").fetchone()[0] == 0
    finally:
        again.close()

"""SQLite persistence of the local server's experiments; knows nothing of HTTP.

One table of experiments (the stored spec as JSON, and the reason of a failure) and one of
server facts (the id epoch).
Rows are read by column name into :class:`ExperimentRecord`; what the API writes of them
is :mod:`submarine.server.api.wire`'s job. Names need not be unique (as on Submarine 0.8.0):
experiments are told apart by id only.
The database runs in WAL mode; every method commits before it returns, so a state change
the API reports has been written (``synchronous=NORMAL``: it survives a crash or kill of
the server; a power loss may lose the last commits). Calls are short and synchronous, so
they are safe to make from the event loop thread; a lock serializes them. A database that
cannot be written or read (a full or read-only disk) raises :class:`StorageError`. Big reads
(:meth:`Store.scan`) use a connection of their own instead, from any one thread at a time:
in WAL mode they read a consistent snapshot while writes go on.

Ids are ``experiment-<epoch millis>-<4-digit counter>`` as on Submarine, where the epoch
is this server's start time. The epoch is kept in the database and each start takes one
later than the last, so ids are unique across restarts.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final, TypeAlias
from urllib.parse import quote

from pydantic_core import from_json

from submarine.models import ExperimentStatus, parse_status
from submarine.server.store.datadir import DIR_MODE, create_private
from submarine.server.store.sqlite import Database, StorageError, storage

__all__ = ["ExperimentRecord", "RecordBatch", "StorageError", "Store"]

_TIME_COLUMNS: Final = {
    ExperimentStatus.CREATED.value: "created_time",
    ExperimentStatus.RUNNING.value: "running_time",
    ExperimentStatus.SUCCEEDED.value: "finished_time",
    ExperimentStatus.FAILED.value: "finished_time",
    ExperimentStatus.DELETED.value: "finished_time",
}
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS experiments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    experiment_id TEXT NOT NULL UNIQUE,
    uid TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    spec TEXT NOT NULL,
    accepted_time TEXT NOT NULL,
    created_time TEXT,
    running_time TEXT,
    finished_time TEXT,
    reason TEXT
);
CREATE INDEX IF NOT EXISTS experiments_name ON experiments (name, status);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""
_BUMP: Final = (
    "UPDATE facts SET value = CAST(value AS INTEGER) + 1 WHERE key = 'experiments_version'; "
)
_NOW: Final = "(SELECT CAST(value AS INTEGER) FROM facts WHERE key = 'experiments_version')"
_CHANGE_LOG: Final = (
    "CREATE TABLE IF NOT EXISTS experiments_removed "
    "(experiment_id TEXT PRIMARY KEY, changed INTEGER NOT NULL)",
    "CREATE INDEX IF NOT EXISTS experiments_changed ON experiments (changed)",
    "CREATE INDEX IF NOT EXISTS experiments_removed_changed ON experiments_removed (changed)",
    "INSERT OR IGNORE INTO facts (key, value) VALUES ('experiments_version', '0')",
    "CREATE TRIGGER IF NOT EXISTS experiments_changed_insert AFTER INSERT ON experiments BEGIN "
    f"{_BUMP}UPDATE experiments SET changed = {_NOW} WHERE seq = NEW.seq; "
    "DELETE FROM experiments_removed WHERE experiment_id = NEW.experiment_id; END",
    "CREATE TRIGGER IF NOT EXISTS experiments_changed_update AFTER UPDATE OF "
    "experiment_id, uid, name, status, spec, accepted_time, created_time, running_time, "
    f"finished_time, reason ON experiments BEGIN {_BUMP}"
    f"UPDATE experiments SET changed = {_NOW} WHERE seq = NEW.seq; END",
    "CREATE TRIGGER IF NOT EXISTS experiments_changed_delete AFTER DELETE ON experiments BEGIN "
    f"{_BUMP}INSERT OR REPLACE INTO experiments_removed (experiment_id, changed) "
    f"VALUES (OLD.experiment_id, {_NOW}); END",
)
"""The experiments' changes, counted by the database itself: each insert, update and delete
moves the count and stamps the row (``changed``) or a tombstone (``experiments_removed``)
with it (see ``Store.version`` and ``Store.changes_since``)."""
_COLUMNS: Final = (
    "experiment_id, uid, name, status, spec, accepted_time, created_time, running_time, "
    "finished_time, reason"
)
KEEP_REMOVED: Final = 256
"""Tombstones of deleted experiments kept at most (the oldest are dropped): a ``since``
older than the oldest kept one gets a full answer, as one of an earlier start does (a page
polls every few seconds: more deletes than this between two of its polls are rare)."""
SCAN_BATCH: Final = 500
"""Records per batch of :meth:`Store.scan` unless told otherwise."""


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError(f"time {value!r} has no timezone: the store keeps aware times only")
    return value.isoformat()


@dataclass
class ExperimentRecord:
    """One stored experiment.

    >>> from datetime import timezone
    >>> record = ExperimentRecord("experiment-1700000000000-0001", "u1", "mnist", "Accepted",
    ...     {"meta": {"name": "mnist"}}, datetime(2024, 1, 1, tzinfo=timezone.utc))
    >>> record.status
    'Accepted'
    """

    experiment_id: str
    """``experiment-<epoch millis>-<counter>``."""
    uid: str
    """A UUID."""
    name: str
    """meta.name, lower-cased."""
    status: str
    """An :class:`~submarine.models.ExperimentStatus` value."""
    spec: dict[str, Any]
    """The stored spec in wire form (meta.experimentId and each role's resourceMap filled)."""
    accepted_time: datetime
    """When the server accepted the experiment."""
    created_time: datetime | None = None
    """Set at insert (to the accepted time unless given), then when its processes spawned."""
    running_time: datetime | None = None
    """When all its processes were up."""
    finished_time: datetime | None = None
    """When it succeeded, failed or was deleted."""
    reason: str | None = None
    """Why it failed (the failing pod and how it ended), set with its status."""


RecordBatch: TypeAlias = list[ExperimentRecord]
"""Records of one batch of :meth:`Store.scan`."""


def _record(row: sqlite3.Row) -> ExperimentRecord:
    accepted = _time(row["accepted_time"])
    assert accepted is not None
    return ExperimentRecord(
        experiment_id=row["experiment_id"],
        uid=row["uid"],
        name=row["name"],
        status=row["status"],
        spec=from_json(row["spec"]),
        accepted_time=accepted,
        created_time=_time(row["created_time"]),
        running_time=_time(row["running_time"]),
        finished_time=_time(row["finished_time"]),
        reason=row["reason"],
    )


class Store:
    """The experiments of one server, in ``SQLite`` (WAL) at the given path.

    >>> store = Store(Path("/tmp/sub/submarine.db"))  # doctest: +SKIP
    >>> store.next_experiment_id()                     # doctest: +SKIP
    'experiment-1700000000000-0001'

    Args:
        path: the database file; it (mode 0600) and its directory (0700) are created when
            missing.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        # Created private before SQLite opens it: SQLite gives the write-ahead log and the
        # shared-memory file the database's mode.
        create_private(path)
        self._path = path
        self._database = Database(path, _SCHEMA, foreign_keys=True)
        self._lock = self._database.lock
        self._db = self._database.db
        with self._transaction():
            columns = {row["name"] for row in self._db.execute("PRAGMA table_info(experiments)")}
            if "reason" not in columns:  # a data dir of an earlier version
                self._db.execute("ALTER TABLE experiments ADD COLUMN reason TEXT")
            if "changed" not in columns:
                self._db.execute(
                    "ALTER TABLE experiments ADD COLUMN changed INTEGER NOT NULL DEFAULT 0"
                )
            for statement in _CHANGE_LOG:
                self._db.execute(statement)
            # Tombstones answer a `since` of this start only: an earlier start's go.
            self._db.execute("DELETE FROM experiments_removed")
            self._db.execute("DELETE FROM facts WHERE key = 'removed_horizon'")
            row = self._db.execute("SELECT value FROM facts WHERE key = 'epoch'").fetchone()
            last = int(row["value"]) if row is not None else 0
            self._epoch = max(int(time.time() * 1000), last + 1)
            self._db.execute(
                "INSERT INTO facts (key, value) VALUES ('epoch', ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (str(self._epoch),),
            )
        self._counter = 0

    @property
    def epoch(self) -> int:
        """This start's epoch, in milliseconds: the time part of the ids made in it."""
        return self._epoch

    @property
    def version(self) -> str:
        """A token that changes whenever an experiment is inserted, changed or deleted, by
        any connection (triggers count the changes in the database): equal tokens mean an
        unchanged table. Lists compare them to answer ``304 Not Modified``."""
        with self._lock, storage():
            row = self._db.execute(
                "SELECT value FROM facts WHERE key = 'experiments_version'"
            ).fetchone()
        return f"{self._epoch}.{row['value'] if row is not None else 0}"

    def changes_since(self, since: int) -> tuple[list[ExperimentRecord], list[str], int, bool]:
        """The experiments inserted or changed after change number ``since`` (in accepted
        order), the ids of those deleted after it, the change number now, and whether the
        answer is full (``since`` is older than the tombstones kept: every experiment, no
        ids of deleted ones): one snapshot. (``version`` is ``"<epoch>.<change number>"``.)"""
        full = False
        with self._lock, storage():
            self._db.execute("BEGIN")
            try:
                now = self._db.execute(f"SELECT {_NOW}").fetchone()[0]
                horizon = self._db.execute(
                    "SELECT value FROM facts WHERE key = 'removed_horizon'"
                ).fetchone()
                if horizon is not None and since < int(horizon[0]):
                    since, full = 0, True
                rows = self._db.execute(
                    f"SELECT {_COLUMNS} FROM experiments WHERE changed > ? ORDER BY seq", (since,)
                ).fetchall()
                removed = self._db.execute(
                    "SELECT experiment_id FROM experiments_removed WHERE changed > ?", (since,)
                ).fetchall()
            finally:
                self._db.execute("COMMIT")
        removed_ids = [] if full else [row[0] for row in removed]
        return [_record(row) for row in rows], removed_ids, int(now or 0), full

    @property
    def journal_mode(self) -> str:
        """The SQLite journal mode in effect (``"wal"``)."""
        with self._lock:
            return str(self._db.execute("PRAGMA journal_mode").fetchone()[0])

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def close(self) -> None:
        """Close the database (a checkpoint folds the WAL back into the file)."""
        self._database.close()

    def next_experiment_id(self) -> str:
        """A new id: ``experiment-<this server's epoch millis>-<4-digit counter>``."""
        with self._lock:
            self._counter += 1
            return f"experiment-{self._epoch}-{self._counter:04d}"

    def insert(self, record: ExperimentRecord) -> None:
        """Store a new experiment; its created time is its accepted time unless given."""
        created = record.created_time or record.accepted_time
        with self._transaction():
            self._db.execute(
                f"INSERT INTO experiments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.experiment_id,
                    record.uid,
                    record.name,
                    record.status,
                    json.dumps(record.spec, ensure_ascii=False),
                    _text(record.accepted_time),
                    _text(created),
                    _text(record.running_time),
                    _text(record.finished_time),
                    record.reason,
                ),
            )
        record.created_time = created

    def get(self, experiment_id: str) -> ExperimentRecord | None:
        """The experiment with this id, or None."""
        with self._lock, storage():
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM experiments WHERE experiment_id = ?", (experiment_id,)
            ).fetchone()
        return _record(row) if row is not None else None

    def list(self, status: str | None = None) -> list[ExperimentRecord]:
        """Every experiment, or those of one status (any case), in accepted order.

        Raises ``ValueError`` (listing the valid ones) for an unknown status name.
        """
        query, params = self._select(status)
        with self._lock, storage():
            rows = self._db.execute(query, params).fetchall()
        return [_record(row) for row in rows]

    @staticmethod
    def _select(status: str | None) -> tuple[str, tuple[str, ...]]:
        query = f"SELECT {_COLUMNS} FROM experiments"
        params: tuple[str, ...] = ()
        if status is not None:
            query += " WHERE status = ?"
            params = (parse_status(status).value,)
        return query + " ORDER BY seq", params

    def scan(self, status: str | None = None, *, batch: int = SCAN_BATCH) -> Iterator[RecordBatch]:
        """Every experiment (or those of one status), in accepted order, in batches of up to
        ``batch`` records, read lazily so that a big list is never held whole.

        The rows come from a read-only connection of the scan's own, opened on the first
        batch and closed after the last one (or by ``close()`` on the iterator), so that
        writes go on while a big list is read; all batches are one consistent snapshot.
        Read it from one thread at a time (any thread). When no such connection can be
        opened, the rows are read at once through the store's own connection.
        Raises ``ValueError`` (listing the valid ones) for an unknown status name, at once.
        """
        query, params = self._select(status)
        return self._scan(query, params, max(1, batch))

    def _scan(self, query: str, params: tuple[str, ...], batch: int) -> Iterator[RecordBatch]:
        reader: sqlite3.Connection | None = None
        try:
            reader = sqlite3.connect(
                f"file:{quote(str(self._path.absolute()))}?mode=ro",
                uri=True,
                isolation_level=None,
                check_same_thread=False,
                timeout=30.0,
            )
            reader.row_factory = sqlite3.Row
            # In autocommit mode one SELECT is one read transaction: the batches fetched
            # from its cursor are a single snapshot, however long the reader takes.
            cursor = reader.execute(query, params)
        except sqlite3.Error:
            if reader is not None:
                reader.close()
            reader = None
        if reader is None:
            yield from self._scan_shared(query, params, batch)
            return
        try:
            while True:
                with storage():
                    found = cursor.fetchmany(batch)
                if not found:
                    break
                yield [_record(row) for row in found]
        finally:
            reader.close()

    def _scan_shared(
        self, query: str, params: tuple[str, ...], batch: int
    ) -> Iterator[RecordBatch]:
        """The rows at once through the store's connection (when a reader cannot open)."""
        with self._lock, storage():
            rows = self._db.execute(query, params).fetchall()
        for start in range(0, len(rows), batch):
            yield [_record(row) for row in rows[start : start + batch]]

    def set_status(
        self, experiment_id: str, status: str, *, at: datetime, reason: str | None = None
    ) -> None:
        """Record a status change and its reason (None: none, the one before is dropped):
        Created, Running and the terminal ones also set their time."""
        value = parse_status(status).value
        column = _TIME_COLUMNS.get(value)
        with self._transaction():
            if column is None:
                self._db.execute(
                    "UPDATE experiments SET status = ?, reason = ? WHERE experiment_id = ?",
                    (value, reason, experiment_id),
                )
            else:
                self._db.execute(
                    f"UPDATE experiments SET status = ?, reason = ?, {column} = ? "
                    "WHERE experiment_id = ?",
                    (value, reason, _text(at), experiment_id),
                )

    def replace_spec(self, experiment_id: str, spec: dict[str, Any]) -> None:
        """Store a new spec (and its lower-cased name)."""
        name = str(spec.get("meta", {}).get("name", "")).lower()
        with self._transaction():
            self._db.execute(
                "UPDATE experiments SET spec = ?, name = ? WHERE experiment_id = ?",
                (json.dumps(spec, ensure_ascii=False), name, experiment_id),
            )

    def delete(self, experiment_id: str) -> None:
        """Forget the experiment (a later get returns None); keep at most
        :data:`KEEP_REMOVED` tombstones of deleted ones."""
        with self._transaction():
            self._db.execute("DELETE FROM experiments WHERE experiment_id = ?", (experiment_id,))
            oldest_kept = self._db.execute(
                "SELECT changed FROM experiments_removed ORDER BY changed DESC LIMIT 1 OFFSET ?",
                (KEEP_REMOVED - 1,),
            ).fetchone()
            if oldest_kept is not None:
                dropped = self._db.execute(
                    "DELETE FROM experiments_removed WHERE changed < ?", (oldest_kept[0],)
                ).rowcount
                if dropped:
                    # Changes after this number are answered in full: their tombstones went.
                    self._db.execute(
                        "INSERT INTO facts (key, value) VALUES ('removed_horizon', ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        (str(oldest_kept[0] - 1),),
                    )

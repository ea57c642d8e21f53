"""Metrics and params in SQLite: the server's database file, tables of their own, on a
connection of their own.

A replica sends records by the thousand, so a batch is stored as one row: its records as a
JSON list of rows, or a :class:`~submarine.models.trackwire.ColumnBatch` as received
(a JSON object of its columns). Writing costs one insert a batch, and an experiment's
records are read back in the order they came, a batch at a time (:meth:`TrackingStore.
batches`), so no read holds more than one batch.

Each experiment's records and stored bytes are counted (``tracking_usage``, kept with each
insert), and a batch that would take an experiment past its :class:`TrackingQuota` is
refused with :class:`QuotaError`.
"""

from __future__ import annotations

import base64
import binascii
import json
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from submarine.models.trackwire import ColumnBatch, metric_wire, param_wire
from submarine.server.tracking.summary import (
    ensure_summary,
    fold_rows,
    forget_summary,
    read_summary,
    summary_version,
)

__all__ = ["QuotaError", "TrackingQuota", "TrackingStore", "stored_rows"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS metric_batches (
    seq INTEGER PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    rows TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS metric_batches_experiment ON metric_batches (experiment_id);
CREATE TABLE IF NOT EXISTS param_batches (
    seq INTEGER PRIMARY KEY,
    experiment_id TEXT NOT NULL,
    rows TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS param_batches_experiment ON param_batches (experiment_id);
CREATE TABLE IF NOT EXISTS tracking_usage (
    experiment_id TEXT PRIMARY KEY,
    records INTEGER NOT NULL,
    bytes INTEGER NOT NULL
);
"""
_TABLES: Final = {"metric": "metric_batches", "param": "param_batches"}


@dataclass(frozen=True)
class TrackingQuota:
    """The most one experiment may hold: records (metrics and params together) and bytes
    as stored (a record sent in columns takes about 37).

    >>> TrackingQuota(records=10, bytes=1000).records
    10
    """

    records: int
    """Records, metrics and params together."""
    bytes: int
    """Bytes of stored batches."""


class QuotaError(ValueError):
    """A batch that would take its experiment past its quota; the message names the quota,
    the experiment and how to raise it."""


def _stored(batch: ColumnBatch) -> str:
    """A column batch as the store keeps it (a JSON object; a list of rows is a list)."""
    document = {"worker": batch.worker, "keys": batch.keys, "now": batch.now, **batch.columns}
    return json.dumps(document, separators=(",", ":"))


def _loaded(text: str) -> ColumnBatch:
    """A column batch the store kept."""
    document = json.loads(text)
    columns = {name: document[name] for name in ("key", "value", "step", "timestamp")}
    return ColumnBatch(document["worker"], document["keys"], columns, document["now"])


def stored_rows(text: str) -> Iterator[Sequence[Any]]:
    """The rows of a stored batch, one at a time (see the trackwire module for their shape)."""
    if text[:1] == "{":
        return _loaded(text).iter_rows()
    return iter(json.loads(text))


def _count(text: str) -> int:
    """How many records a stored batch holds, without decoding its rows."""
    if text[:1] != "{":
        return len(json.loads(text))
    try:
        return len(base64.b64decode(json.loads(text)["key"])) // 4
    except (KeyError, ValueError, binascii.Error):
        return 0


class TrackingStore:
    """Metrics and params of experiments, by batch (see the module's doc).

    Args:
        path: the server's SQLite file.
    """

    def __init__(self, path: Path) -> None:
        self._path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            db = sqlite3.connect(self._path, check_same_thread=False, timeout=30)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.executescript(_SCHEMA)
            ensure_summary(db, self._every_batch(db))
            self._db = db
        return self._db

    @staticmethod
    def _every_batch(db: sqlite3.Connection) -> Iterator[tuple[str, str, Iterator[Any]]]:
        """Every stored batch, one at a time, in the order it came: (kind, id, rows)."""
        for kind, table in _TABLES.items():
            sql = f"SELECT seq, experiment_id, rows FROM {table} WHERE seq > ? ORDER BY seq LIMIT 1"
            seq = -1
            while (found := db.execute(sql, (seq,)).fetchone()) is not None:
                seq = int(found[0])
                yield kind, str(found[1]), iter(stored_rows(str(found[2])))

    def _usage(self, db: sqlite3.Connection, experiment_id: str) -> tuple[int, int]:
        """(records, bytes) the experiment holds; counted from its batches the first time
        (a data dir of an older server has no count yet)."""
        row = db.execute(
            "SELECT records, bytes FROM tracking_usage WHERE experiment_id = ?", (experiment_id,)
        ).fetchone()
        if row is not None:
            return int(row[0]), int(row[1])
        records = size = 0
        for table in _TABLES.values():
            sql = (
                f"SELECT seq, rows FROM {table} WHERE experiment_id = ? AND seq > ? "
                "ORDER BY seq LIMIT 1"
            )
            seq = -1
            while (found := db.execute(sql, (experiment_id, seq)).fetchone()) is not None:
                seq = int(found[0])
                records += _count(found[1])
                size += len(found[1])
        return records, size

    def add(
        self,
        kind: str,
        experiment_id: str,
        rows: Sequence[Sequence[Any]] | ColumnBatch,
        *,
        count: int | None = None,
        quota: TrackingQuota | None = None,
    ) -> None:
        """Store a batch of one experiment (``kind``: metric or param), as
        :func:`~submarine.models.trackwire.read_batch` gives it.

        Args:
            kind: ``metric`` or ``param``.
            experiment_id: whose records they are.
            rows: the batch.
            count: how many records it holds (counted when not given).
            quota: the most the experiment may hold; None for no limit.

        Raises:
            QuotaError: the batch would take the experiment past ``quota`` (nothing stored).
        """
        parsed = rows.iter_rows() if isinstance(rows, ColumnBatch) else rows
        if isinstance(rows, ColumnBatch):
            text = _stored(rows)
            count = _count(text) if count is None else count
        else:
            text = json.dumps(rows, separators=(",", ":"))
            count = len(rows) if count is None else count
        with self._lock:
            db = self._conn()
            records, size = self._usage(db, experiment_id)
            if quota is not None:
                _check(quota, experiment_id, records, size, count, len(text))
            with db:
                db.execute(
                    f"INSERT INTO {_TABLES[kind]} (experiment_id, rows) VALUES (?, ?)",
                    (experiment_id, text),
                )
                db.execute(
                    "INSERT OR REPLACE INTO tracking_usage (experiment_id, records, bytes) "
                    "VALUES (?, ?, ?)",
                    (experiment_id, records + count, size + len(text)),
                )
                fold_rows(db, kind, experiment_id, parsed)

    def usage(self, experiment_id: str) -> tuple[int, int]:
        """(records, bytes) an experiment holds, metrics and params together."""
        with self._lock:
            return self._usage(self._conn(), experiment_id)

    def batches(self, kind: str, experiment_id: str, first: int = 0) -> Iterator[tuple[int, str]]:
        """An experiment's stored batches from sequence number ``first`` on, in the order
        they came: (sequence number, stored text). One batch is read at a time, and the
        store is not held between two, so a slow reader holds back no writer."""
        sql = (
            f"SELECT seq, rows FROM {_TABLES[kind]} WHERE experiment_id = ? AND seq >= ? "
            "ORDER BY seq LIMIT 1"
        )
        while True:
            with self._lock:
                found = self._conn().execute(sql, (experiment_id, first)).fetchone()
            if found is None:
                return
            seq, text = int(found[0]), str(found[1])
            yield seq, text
            first = seq + 1

    def select(
        self, kind: str, experiment_id: str, *, key: str | None = None, worker: str | None = None
    ) -> list[dict[str, Any]]:
        """An experiment's records in the order they came, with 0.8.0's wire names, of one
        key and one worker if given (whole, in memory: for small experiments and tests;
        the routes stream them)."""
        wire = metric_wire if kind == "metric" else param_wire
        return [
            wire(experiment_id, row)
            for _, text in self.batches(kind, experiment_id)
            for row in stored_rows(text)
            if (key is None or row[0] == key) and (worker is None or row[2] == worker)
        ]

    def forget(self, experiment_id: str) -> None:
        """Drop an experiment's records (it was deleted)."""
        with self._lock:
            db = self._conn()
            with db:
                for table in (*_TABLES.values(), "tracking_usage"):
                    db.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (experiment_id,))
                forget_summary(db, experiment_id)

    def version(self) -> int:
        """A count that moves with every stored batch and forgotten experiment."""
        with self._lock:
            return summary_version(self._conn())

    def summary(self, ids: Sequence[str] | None = None) -> dict[str, Any]:
        """Each experiment's latest metric and param values (of ``ids`` only if given),
        bounded (see :mod:`.summary`). Blocking: run it in a worker thread."""
        with self._lock:
            return read_summary(self._conn(), ids)

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _check(
    quota: TrackingQuota, experiment_id: str, records: int, size: int, count: int, length: int
) -> None:
    """Raise :class:`QuotaError` when a batch of ``count`` records and ``length`` bytes
    would take the experiment past ``quota``."""
    if records + count > quota.records:
        held, limit, flag, unit = records, quota.records, "--tracking-max-records", "records"
        adding = f"{count} more"
    elif size + length > quota.bytes:
        held, limit, flag, unit = size, quota.bytes, "--tracking-max-bytes", "bytes"
        adding = f"{length} more"
    else:
        return
    raise QuotaError(
        f"experiment {experiment_id} has reached its tracking quota of {limit} {unit} of "
        f"metrics and params: it holds {held}, this batch adds {adding}; nothing of it was "
        f"stored. Start the server with a larger {flag} to record more"
    )

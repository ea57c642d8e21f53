"""Metrics and params in SQLite: the server's database file, tables of their own, on a
connection of their own.

A replica sends records by the thousand, so a batch is stored as one row: its records as a
JSON list of rows, or a :class:`~submarine.models.trackwire.ColumnBatch` as received
(a JSON object of its columns). Writing costs one insert a batch, and an experiment's
records are read back in the order they came.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

from submarine.models.trackwire import ColumnBatch, metric_wire, param_wire

__all__ = ["TrackingStore"]

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
"""
_TABLES: Final = {"metric": "metric_batches", "param": "param_batches"}


def _stored(batch: ColumnBatch) -> str:
    """A column batch as the store keeps it (a JSON object; a list of rows is a list)."""
    document = {"worker": batch.worker, "keys": batch.keys, "now": batch.now, **batch.columns}
    return json.dumps(document, separators=(",", ":"))


def _loaded(text: str) -> ColumnBatch:
    """A column batch the store kept."""
    document = json.loads(text)
    columns = {name: document[name] for name in ("key", "value", "step", "timestamp")}
    return ColumnBatch(document["worker"], document["keys"], columns, document["now"])


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
            self._db = db
        return self._db

    def add(
        self, kind: str, experiment_id: str, rows: Sequence[Sequence[Any]] | ColumnBatch
    ) -> None:
        """Store a batch of one experiment (``kind``: metric or param), as
        :func:`~submarine.models.trackwire.read_batch` gives it."""
        if isinstance(rows, ColumnBatch):
            text = _stored(rows)
        else:
            text = json.dumps(rows, separators=(",", ":"))
        with self._lock:
            db = self._conn()
            with db:
                db.execute(
                    f"INSERT INTO {_TABLES[kind]} (experiment_id, rows) VALUES (?, ?)",
                    (experiment_id, text),
                )

    def select(
        self, kind: str, experiment_id: str, *, key: str | None = None, worker: str | None = None
    ) -> list[dict[str, Any]]:
        """An experiment's records in the order they came, with 0.8.0's wire names, of one
        key and one worker if given."""
        sql = f"SELECT rows FROM {_TABLES[kind]} WHERE experiment_id = ? ORDER BY seq"
        with self._lock:
            batches = self._conn().execute(sql, (experiment_id,)).fetchall()
        wire = metric_wire if kind == "metric" else param_wire
        return [
            wire(experiment_id, row)
            for (text,) in batches
            for row in (_loaded(text).rows() if text[:1] == "{" else json.loads(text))
            if (key is None or row[0] == key) and (worker is None or row[2] == worker)
        ]

    def forget(self, experiment_id: str) -> None:
        """Drop an experiment's records (it was deleted)."""
        with self._lock:
            db = self._conn()
            with db:
                for table in _TABLES.values():
                    db.execute(f"DELETE FROM {table} WHERE experiment_id = ?", (experiment_id,))

    def close(self) -> None:
        """Close the connection (it reopens on next use)."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

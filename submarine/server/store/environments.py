"""SQLite persistence of the local server's environments; knows nothing of HTTP.

One table in the server's database, beside the experiments: each environment's id, its
name (unique: environments are reached by name, as on Submarine 0.8.0) and its spec as
JSON, as the API stored it. Every method commits before it returns; a lock serializes the
calls of one store, which has a connection of its own (WAL mode: the experiment store and
this one write the same file in turns). A database that cannot be written or read raises
:class:`~submarine.server.store.sqlite.StorageError`.

Ids are ``environment_<epoch millis>_<4-digit counter>`` as on Submarine, where the epoch
is the server's start time (the experiment store's, so that both speak of the same start).
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Final

from pydantic_core import from_json

from submarine.server.store.sqlite import Database, storage

__all__ = ["EnvironmentExistsError", "EnvironmentRecord", "EnvironmentStore"]

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS environments (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    environment_id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL UNIQUE,
    spec TEXT NOT NULL,
    create_time TEXT NOT NULL,
    update_time TEXT NOT NULL
)
"""
_COLUMNS: Final = "environment_id, name, spec, create_time, update_time"


class EnvironmentExistsError(ValueError):
    """An environment of that name is stored already."""


@dataclass
class EnvironmentRecord:
    """One stored environment.

    >>> from datetime import timezone
    >>> now = datetime(2024, 1, 1, tzinfo=timezone.utc)
    >>> EnvironmentRecord("environment_1700000000000_0001", "my-env", {"name": "my-env"},
    ...                   now, now).name
    'my-env'
    """

    environment_id: str
    """``environment_<epoch millis>_<counter>``."""
    name: str
    """The environment's name (its key)."""
    spec: dict[str, Any]
    """The spec as stored, in wire form (camelCase keys)."""
    create_time: datetime
    """When it was created."""
    update_time: datetime
    """When its spec was last replaced."""


def _record(row: sqlite3.Row) -> EnvironmentRecord:
    return EnvironmentRecord(
        environment_id=row["environment_id"],
        name=row["name"],
        spec=from_json(row["spec"]),
        create_time=datetime.fromisoformat(row["create_time"]),
        update_time=datetime.fromisoformat(row["update_time"]),
    )


class EnvironmentStore:
    """The environments of one server, in the SQLite database at ``path``.

    >>> environments = EnvironmentStore(Path("/tmp/sub/submarine.db"), epoch=1700000000000)
    >>> environments.get("my-env") is None  # doctest: +SKIP
    True

    Args:
        path: the server's database (made by the experiment store, which opens it first).
        epoch: the server's start time in epoch milliseconds, for new ids.
    """

    def __init__(self, path: Path, *, epoch: int) -> None:
        self._epoch = epoch
        self._counter = 0
        self._database = Database(path, _SCHEMA)
        self._lock = self._database.lock
        self._db = self._database.db

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def close(self) -> None:
        """Close this store's connection."""
        self._database.close()

    def _next_id(self) -> str:
        self._counter += 1
        return f"environment_{self._epoch}_{self._counter:04d}"

    def create(self, name: str, spec: dict[str, Any], *, at: datetime) -> EnvironmentRecord:
        """Store a new environment under a new id.

        Raises :class:`EnvironmentExistsError` when one of that name is stored.
        """
        with self._transaction():
            found = self._db.execute("SELECT 1 FROM environments WHERE name = ?", (name,))
            if found.fetchone() is not None:
                raise EnvironmentExistsError(name)
            record = EnvironmentRecord(self._next_id(), name, spec, at, at)
            self._db.execute(
                f"INSERT INTO environments ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
                (
                    record.environment_id,
                    name,
                    json.dumps(spec, ensure_ascii=False),
                    at.isoformat(),
                    at.isoformat(),
                ),
            )
        return record

    def get(self, name: str) -> EnvironmentRecord | None:
        """The environment of this name, or None."""
        with self._lock, storage():
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM environments WHERE name = ?", (name,)
            ).fetchone()
        return _record(row) if row is not None else None

    def list(self) -> list[EnvironmentRecord]:
        """Every environment, in the order they were created."""
        with self._lock, storage():
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM environments ORDER BY seq").fetchall()
        return [_record(row) for row in rows]

    def replace(self, name: str, spec: dict[str, Any], *, at: datetime) -> EnvironmentRecord | None:
        """Store a new spec for the environment of this name (its id stays); None when
        there is none."""
        with self._transaction():
            changed = self._db.execute(
                "UPDATE environments SET spec = ?, update_time = ? WHERE name = ?",
                (json.dumps(spec, ensure_ascii=False), at.isoformat(), name),
            )
            if changed.rowcount == 0:
                return None
        return self.get(name)

    def delete(self, name: str) -> EnvironmentRecord | None:
        """Forget the environment of this name; what it was, or None when there was none."""
        with self._transaction():
            row = self._db.execute(
                f"SELECT {_COLUMNS} FROM environments WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                return None
            self._db.execute("DELETE FROM environments WHERE name = ?", (name,))
        return _record(row)

"""What the stores of the local server share: one SQLite connection each, on the server's
one database file, in WAL mode.

A :class:`Database` connection is used by the event loop's thread and worker threads in
turn (a lock serializes them); every write is a transaction that commits before it returns
(``synchronous=NORMAL``: it survives a crash or kill of the server; a power loss may lose the
last commits). A database that cannot be written or read (a full or read-only disk, an I/O
error) raises :class:`StorageError`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["Database", "StorageError", "storage"]


class StorageError(OSError):
    """The database cannot be written or read (a full or read-only disk, an I/O error)."""


@contextmanager
def storage() -> Iterator[None]:
    """SQLite's operational errors (disk full, read-only, I/O) as :class:`StorageError`."""
    try:
        yield
    except sqlite3.OperationalError as exc:
        raise StorageError(str(exc)) from exc


class Database:
    """A store's connection to the server's database, with its schema made.

    Args:
        path: the database file.
        schema: ``CREATE ... IF NOT EXISTS`` statements, separated by ``;``.
        foreign_keys: whether SQLite enforces foreign keys on this connection.
    """

    def __init__(self, path: Path, schema: str, *, foreign_keys: bool = False) -> None:
        self.lock = threading.RLock()
        """Held while the connection is used."""
        with storage():
            self.db = sqlite3.connect(
                str(path), isolation_level=None, check_same_thread=False, timeout=30.0
            )
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            if foreign_keys:
                self.db.execute("PRAGMA foreign_keys=ON")
        with self.transaction():
            for statement in schema.split(";"):
                if statement.strip():
                    self.db.execute(statement)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """The connection, in a transaction committed at the end (rolled back on an
        error); storage errors as :class:`StorageError`."""
        with self.lock, storage():
            self.db.execute("BEGIN IMMEDIATE")
            try:
                yield self.db
            except BaseException:
                self.db.execute("ROLLBACK")
                raise
            self.db.execute("COMMIT")

    def close(self) -> None:
        """Close the connection (the last one closed folds the WAL back into the file)."""
        with self.lock:
            self.db.close()

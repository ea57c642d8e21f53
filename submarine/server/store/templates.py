"""SQLite persistence of the local server's experiment templates; knows nothing of HTTP.

Templates live in the experiments' database (:mod:`.experiments`), in a table of their own:
one row per template, keyed by its unique name, holding the template as the server stores
it (its parameters with each role's made ones, its spec with each role's ``resourceMap``)
as JSON. Rows are listed in the order they were inserted; a patch keeps a template's place.

The store has a connection of its own to the database (WAL: it and the experiments' store
read and write side by side); every method commits before it returns, a lock serializes
them, and a database that cannot be written or read raises
:class:`~submarine.server.store.sqlite.StorageError`.

Example templates are offered once per data dir (:meth:`TemplateStore.seed`): the database
records that they were, so a seeded template that is deleted stays deleted.
"""

from __future__ import annotations

import builtins
import json
import sqlite3
import time
from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Final

from pydantic_core import from_json

from submarine.server.store.sqlite import Database, storage

__all__ = ["SEEDED_FACT", "DuplicateTemplateError", "TemplateStore"]

SEEDED_FACT: Final = "templates-seeded"
"""The key of the server fact that says the example templates were offered."""
_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS templates (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL UNIQUE,
    template TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS facts (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class DuplicateTemplateError(ValueError):
    """A template of that name is already stored."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a template named {name!r} already exists")


def _dump(template: Mapping[str, Any]) -> str:
    return json.dumps(template, ensure_ascii=False)


class TemplateStore:
    """The templates of one server, in the SQLite database at ``path`` (already created by
    :class:`~submarine.server.store.experiments.Store`, or created here).

    >>> templates = TemplateStore(Path("/tmp/sub/submarine.db"))  # doctest: +SKIP
    >>> templates.insert({"name": "tf-mnist", "parameters": [], "experimentSpec": {...}})
    ...                                                            # doctest: +SKIP
    >>> [t["name"] for t in templates.list()]                      # doctest: +SKIP
    ['tf-mnist']

    ``server_timestamp`` (this store's start, epoch milliseconds) and :meth:`next_id` give
    the ids that create and patch answers carry (as Submarine 0.8.0 gives them; never
    stored).
    """

    def __init__(self, path: Path) -> None:
        self._database = Database(path, _SCHEMA)
        self._lock = self._database.lock
        self._db = self._database.db
        self.server_timestamp = int(time.time() * 1000)
        """When this store opened, in epoch milliseconds."""
        self._counter = 0

    def _transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return self._database.transaction()

    def close(self) -> None:
        """Close the store's connection."""
        self._database.close()

    def next_id(self) -> int:
        """The next number of a create or patch answer's ``experimentTemplateId``."""
        with self._lock:
            self._counter += 1
            return self._counter

    def insert(self, template: Mapping[str, Any]) -> None:
        """Store a new template, last in the list.

        Raises:
            DuplicateTemplateError: one of that name is stored already.
        """
        name = str(template["name"])
        try:
            with self._transaction():
                self._db.execute(
                    "INSERT INTO templates (name, template) VALUES (?, ?)",
                    (name, _dump(template)),
                )
        except sqlite3.IntegrityError:
            raise DuplicateTemplateError(name) from None

    def get(self, name: str) -> dict[str, Any] | None:
        """The template of that name, or None."""
        with self._lock, storage():
            row = self._db.execute(
                "SELECT template FROM templates WHERE name = ?", (name,)
            ).fetchone()
        return dict(from_json(row["template"])) if row is not None else None

    def list(self) -> list[dict[str, Any]]:
        """Every template, in the order they were inserted."""
        with self._lock, storage():
            rows = self._db.execute("SELECT template FROM templates ORDER BY seq").fetchall()
        return [dict(from_json(row["template"])) for row in rows]

    def replace(self, name: str, template: Mapping[str, Any]) -> bool:
        """Store a new version of the template ``name`` (same name, same place in the list);
        False when there is none of that name."""
        with self._transaction():
            cursor = self._db.execute(
                "UPDATE templates SET template = ? WHERE name = ?", (_dump(template), name)
            )
        return cursor.rowcount > 0

    def delete(self, name: str) -> bool:
        """Forget the template ``name``; False when there is none of that name."""
        with self._transaction():
            cursor = self._db.execute("DELETE FROM templates WHERE name = ?", (name,))
        return cursor.rowcount > 0

    def seed(self, templates: Iterable[Mapping[str, Any]]) -> builtins.list[str]:
        """Store ``templates`` unless this database has been seeded before (whatever was
        deleted since); the names stored. A name already taken is left as it is."""
        stored: builtins.list[str] = []
        with self._transaction():
            row = self._db.execute(
                "SELECT value FROM facts WHERE key = ?", (SEEDED_FACT,)
            ).fetchone()
            if row is not None:
                return stored
            for template in templates:
                name = str(template["name"])
                cursor = self._db.execute(
                    "INSERT OR IGNORE INTO templates (name, template) VALUES (?, ?)",
                    (name, _dump(template)),
                )
                if cursor.rowcount > 0:
                    stored.append(name)
            self._db.execute(
                "INSERT INTO facts (key, value) VALUES (?, ?)",
                (SEEDED_FACT, str(int(time.time() * 1000))),
            )
        return stored

"""The latest value of each metric and param of each experiment, kept in SQLite as records
arrive: what the experiment list's metric and param columns show, read in one query.

Each stored batch is folded into ``tracking_latest`` (one row per experiment, kind and key)
in the transaction that stores it, by an upsert whose condition picks the value:

* a metric's value is the one at the **highest step over all its workers**; at equal steps
  the one with the latest timestamp, and at equal timestamps the one received last (so
  ``workerIndex`` says whose value it is, which need not be worker-0's);
* a param's value is the one **received last**, from whichever worker sent it.

A NaN is null; an infinity ±1.7976931348623157e308, as the other reads write it. Every write
and every forgotten experiment moves a change count (``tracking_facts``), so a reader can
tell in one small query that nothing changed (the summary route's ETag).
A data dir of an older server, which has batches but no summary yet, is folded once when the
store first opens it.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any, Final

from submarine.models.trackwire import wire_value

__all__ = [
    "MAX_IDS",
    "MAX_KEYS",
    "MAX_VALUES",
    "MAX_VALUE_CHARS",
    "SUMMARY_SCHEMA",
    "ensure_summary",
    "fold_rows",
    "forget_summary",
    "read_summary",
    "summary_version",
]

MAX_KEYS: Final = 100
"""The most metric keys (and, apart, param keys) an answer gives per experiment (the first
in key order)."""
MAX_VALUES: Final = 50_000
"""The most values (metrics and params together) one answer gives; past it the answer says
``truncated`` and the rest can be asked for with ``ids``."""
MAX_IDS: Final = 1000
"""The most experiment ids one request may name."""
MAX_VALUE_CHARS: Final = 200
"""A param's value is cut to this many characters in the answer."""

SUMMARY_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS tracking_latest (
    experiment_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT,
    step REAL NOT NULL,
    timestamp INTEGER NOT NULL,
    worker TEXT NOT NULL,
    PRIMARY KEY (experiment_id, kind, key)
);
CREATE TABLE IF NOT EXISTS tracking_facts (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
INSERT OR IGNORE INTO tracking_facts (key, value) VALUES ('version', 0);
"""

_UPSERT: Final = """
INSERT INTO tracking_latest (experiment_id, kind, key, value, step, timestamp, worker)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (experiment_id, kind, key) DO UPDATE SET
    value = excluded.value, step = excluded.step, timestamp = excluded.timestamp,
    worker = excluded.worker
WHERE excluded.step > tracking_latest.step
    OR (excluded.step = tracking_latest.step AND excluded.timestamp >= tracking_latest.timestamp)
"""
_BUMP: Final = "UPDATE tracking_facts SET value = value + 1 WHERE key = 'version'"


def _number(value: Any, default: float = 0) -> float:
    return (
        float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else default
    )


def fold_rows(
    db: sqlite3.Connection, kind: str, experiment_id: str, rows: Iterable[Sequence[Any]]
) -> None:
    """Fold a batch's rows (as :func:`~.store.stored_rows` gives them) into the summary and
    move the change count; the caller holds the transaction."""
    best: dict[str, tuple[float, float, Any, str]] = {}
    for row in rows:
        key = str(row[0])
        if kind == "metric":
            step, stamp = _number(row[4]), _number(row[3])
            held = best.get(key)
            if held is None or (step, stamp) >= held[:2]:
                best[key] = (step, stamp, json.dumps(wire_value(row[1])), str(row[2]))
        else:
            best[key] = (0, 0, json.dumps(row[1]), str(row[2]))
    db.executemany(
        _UPSERT,
        [
            (experiment_id, kind, key, value, step, int(stamp), worker)
            for key, (step, stamp, value, worker) in best.items()
        ],
    )
    db.execute(_BUMP)


def forget_summary(db: sqlite3.Connection, experiment_id: str) -> None:
    """Drop an experiment's summary and move the change count (in the caller's transaction)."""
    db.execute("DELETE FROM tracking_latest WHERE experiment_id = ?", (experiment_id,))
    db.execute(_BUMP)


def summary_version(db: sqlite3.Connection) -> int:
    """The change count: it moves with every stored batch and forgotten experiment."""
    row = db.execute("SELECT value FROM tracking_facts WHERE key = 'version'").fetchone()
    return int(row[0]) if row else 0


def ensure_summary(
    db: sqlite3.Connection, batches: Iterable[tuple[str, str, Iterable[Sequence[Any]]]]
) -> None:
    """Create the summary's tables; fold ``batches`` (kind, experiment id, rows), every
    batch already stored, once, when the tables are new in an older data dir."""
    db.executescript(SUMMARY_SCHEMA)
    if db.execute("SELECT 1 FROM tracking_facts WHERE key = 'built'").fetchone():
        return
    with db:
        for kind, experiment_id, rows in batches:
            fold_rows(db, kind, experiment_id, rows)
        db.execute("INSERT OR IGNORE INTO tracking_facts (key, value) VALUES ('built', 1)")


def read_summary(db: sqlite3.Connection, ids: Sequence[str] | None) -> dict[str, Any]:
    """The summary of the experiments ``ids`` (every experiment with records when None):
    ``{"version", "experiments": {id: {"metrics": {key: {"value", "step", "workerIndex"}},
    "params": {key: value}}}, "truncated"}``, at most :data:`MAX_KEYS` keys of each kind per
    experiment and :data:`MAX_VALUES` values in all."""
    where, args = "", list[Any]()
    if ids is not None:
        where = f"WHERE experiment_id IN ({','.join('?' * len(ids))})"
        args.extend(ids)
    sql = f"""
        SELECT experiment_id, kind, key, value, step, worker, n FROM (
            SELECT experiment_id, kind, key, value, step, worker,
                ROW_NUMBER() OVER (PARTITION BY experiment_id, kind ORDER BY key) AS n
            FROM tracking_latest {where}
        ) WHERE n <= ? ORDER BY experiment_id, kind, key LIMIT ?
    """
    args.extend((MAX_KEYS + 1, MAX_VALUES + 1))
    version = summary_version(db)
    experiments: dict[str, dict[str, dict[str, Any]]] = {}
    truncated = False
    taken = 0
    for experiment_id, kind, key, value, step, worker, n in db.execute(sql, args):
        if n > MAX_KEYS or taken >= MAX_VALUES:
            truncated = True
            continue
        taken += 1
        held = experiments.setdefault(experiment_id, {"metrics": {}, "params": {}})
        decoded = json.loads(value) if value is not None else None
        if kind == "metric":
            whole = step == int(step)
            held["metrics"][key] = {
                "value": decoded,
                "step": int(step) if whole else step,
                "workerIndex": worker,
            }
        else:
            if isinstance(decoded, str) and len(decoded) > MAX_VALUE_CHARS:
                decoded = decoded[:MAX_VALUE_CHARS]
                truncated = True
            held["params"][key] = decoded
    return {"version": version, "experiments": experiments, "truncated": truncated}

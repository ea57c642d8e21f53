"""Batches of records into a Submarine 0.8.0 database, as 0.8.0's SDK writes them.

Inside a pod of Submarine 0.8.0, ``SUBMARINE_TRACKING_URI`` is a SQLAlchemy URL of the
server's MySQL database (``mysql+pymysql://user:password@host:3306/submarine``), and 0.8.0's
SDK writes each metric and param as a row of its ``metric`` and ``param`` tables:

* ``metric(id, key, value, worker_index, timestamp DATETIME(3), step, is_nan)``, primary
  key ``(id, key, timestamp, worker_index)``: NaN is written as ``value`` 0 with ``is_nan``
  true, and an infinity as the largest number the ``value`` column holds, with its sign
  (±1.7976931348623157e308 in a ``DOUBLE``; ±3.4028234663852886e38 in 0.8.0's own
  ``FLOAT``, which refuses 0.8.0's ±1.797e308);
* ``param(id, key, value, worker_index)``, primary key ``(id, key, worker_index)``: a param
  already recorded for its key and worker keeps its first value.

Unlike 0.8.0, rows go in batches (a multi-row ``INSERT`` of up to a few thousand, through
the same buffer and retries as the HTTP path, :mod:`submarine._tracksend`), and two values
of one key logged in the same millisecond are not lost: 0.8.0's key holds the time to the
millisecond, so each value of a key gets a millisecond of its own (the next free one when
several fall in one). Times are the replica's local wall-clock time without a zone, as
0.8.0 writes them (``datetime.now()``); Submarine's server reads them in its own zone, so
pods and server should share one (containers run in UTC unless told otherwise).

Rows a column cannot hold (a key longer than it, a step past its range) and rows of an
experiment the ``experiment`` table does not know are given up, counted and said once, as
the HTTP path does with what the server refuses.

Needs SQLAlchemy and a MySQL driver (PyMySQL): ``pip install 'submarine-sdk[tracking-db]'``.
``mysql://`` and ``mariadb://`` URLs are read as ``+pymysql``.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
import threading
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Final

from submarine._tracksend import Outcome, TrackingError, TransientError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

__all__ = [
    "DB_URI_ENV",
    "DEFAULT_DB_URI",
    "EXTRA",
    "DatabaseTransport",
    "db_uri_given",
    "get_db_uri",
    "is_database_url",
    "set_db_uri",
    "shown",
]

DB_URI_ENV: Final = "SUBMARINE_DB_URI"
"""The database 0.8.0's SDK writes to when :func:`set_db_uri` was not called."""
DEFAULT_DB_URI: Final = "mysql+pymysql://submarine:password@submarine-database:3306/submarine"
"""0.8.0's database inside its Kubernetes cluster: the last resort of :func:`get_db_uri`."""
EXTRA: Final = "tracking-db"
"""The package extra that brings SQLAlchemy and PyMySQL."""

_SCHEME: Final = re.compile(r"([A-Za-z][A-Za-z0-9]*)(\+[A-Za-z0-9_]+)?://")
_PASSWORD: Final = re.compile(r"(://[^:/@]*:)[^@/]*@")
_EPOCH: Final = datetime(1970, 1, 1)
_MS: Final = timedelta(milliseconds=1)
_FLOAT32_MAX: Final = 3.4028234663852886e38
_REFUSED: Final = frozenset({1044, 1045, 1049, 1054, 1142, 1146, 1216, 1452})
"""MySQL errors that trying again will not mend: access denied, unknown database, table or
column, a foreign key that names no experiment."""
_DUPLICATE: Final = 1062
_NO_EXPERIMENT: Final = frozenset({1216, 1452})
_SHIFTS: Final = 8
"""How many times a batch whose times collide with stored rows is moved and tried again."""
_INSERT_METRIC: Final = (
    "INSERT INTO metric (id, `key`, value, worker_index, `timestamp`, step, is_nan) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_INSERT_PARAM: Final = (
    "INSERT INTO param (id, `key`, value, worker_index) VALUES (%s, %s, %s, %s) "
    "ON DUPLICATE KEY UPDATE id = id"
)
_COLUMNS: Final = (
    "SELECT TABLE_NAME, COLUMN_NAME, DATA_TYPE, CHARACTER_MAXIMUM_LENGTH "
    "FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() "
    "AND TABLE_NAME IN ('metric', 'param')"
)
_INT_BITS: Final = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "bigint": 64}

_db_uri: str | None = None


def set_db_uri(uri: str | None) -> None:
    """Record metrics and params into the database at ``uri`` from now on (0.8.0's
    ``submarine.set_db_uri``); None forgets it.

    :param uri: a SQLAlchemy URL like ``mysql+pymysql://user:password@host:3306/submarine``.
    """
    global _db_uri
    _db_uri = uri


def get_db_uri() -> str:
    """The database 0.8.0's SDK would write to: the one given to :func:`set_db_uri`, else
    ``$SUBMARINE_DB_URI``, else 0.8.0's in-cluster default (:data:`DEFAULT_DB_URI`)."""
    if _db_uri is not None:
        return _db_uri
    return os.environ.get(DB_URI_ENV) or DEFAULT_DB_URI


def db_uri_given() -> str | None:
    """The URI of :func:`set_db_uri`, else ``$SUBMARINE_DB_URI``; None when neither is."""
    return _db_uri or os.environ.get(DB_URI_ENV) or None


def is_database_url(uri: str) -> bool:
    """Whether ``uri`` is a database URL (``dialect[+driver]://...``), not an HTTP one.

    >>> is_database_url("mysql+pymysql://u:p@db:3306/submarine"), is_database_url("http://h:1")
    (True, False)
    """
    match = _SCHEME.match(uri)
    return match is not None and match[1].lower() not in ("http", "https")


def shown(uri: str) -> str:
    """``uri`` with its password hidden, for messages.

    >>> shown("mysql+pymysql://submarine:secret@db:3306/submarine")
    'mysql+pymysql://submarine:***@db:3306/submarine'
    """
    return _PASSWORD.sub(r"\1***@", uri)


@dataclass(frozen=True)
class _Schema:
    """What the columns of the database's ``metric`` and ``param`` tables hold."""

    metric: dict[str, tuple[str, int | None]] | None
    param: dict[str, tuple[str, int | None]] | None

    def length(self, table: str, column: str) -> int | None:
        columns: dict[str, tuple[str, int | None]] = getattr(self, table) or {}
        return columns.get(column, ("", None))[1]

    def value_limit(self) -> float:
        kind = (self.metric or {}).get("value", ("double", None))[0]
        return _FLOAT32_MAX if kind == "float" else sys.float_info.max

    def step_range(self) -> tuple[int, int]:
        bits = _INT_BITS.get((self.metric or {}).get("step", ("bigint", None))[0], 64)
        return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1


def _fold(key: str) -> str:
    """A key as MySQL's case- and accent-blind collations compare it (``Loss`` is
    ``loss``; trailing spaces do not count)."""
    decomposed = unicodedata.normalize("NFKD", key.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).rstrip(" ")


def _naive_ms(ms: int) -> int:
    """A time in milliseconds since the epoch as the local wall-clock time, in
    milliseconds from 1970-01-01 (what a zone-less ``DATETIME(3)`` holds)."""
    local = datetime.fromtimestamp(ms // 1000).replace(microsecond=(ms % 1000) * 1000)
    return (local - _EPOCH) // _MS


def _code(exc: BaseException) -> int | None:
    """MySQL's error number of a driver error wrapped by SQLAlchemy."""
    args = getattr(getattr(exc, "orig", None), "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _message(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) or exc
    args: tuple[Any, ...] = tuple(getattr(orig, "args", ()))
    if len(args) >= 2 and isinstance(args[0], int):
        return f"({args[0]}) {args[1]}"
    return str(orig) or type(orig).__name__


class DatabaseTransport:
    """Batches into the ``metric`` and ``param`` tables of the database at ``uri``.

    A sender's transport (``kept``) keeps a connection open between batches; one that is
    not (a :class:`~submarine.tracking.SubmarineClient`'s, perhaps made anew for each call
    as 0.8.0's SDK does) opens one a call and closes it.

    Raises:
        TrackingError: SQLAlchemy or the driver is not installed, or ``uri`` is no MySQL
            (MariaDB) URL.
    """

    def __init__(self, uri: str, *, kept: bool = True) -> None:
        self.where = f"the database at {shown(uri)}"
        """The database, for messages (no password)."""
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str, str], int] = {}
        self._folds: dict[str, str] = {}
        self._schema: _Schema | None = None
        try:
            import sqlalchemy
            from sqlalchemy.engine import make_url
            from sqlalchemy.exc import ArgumentError
            from sqlalchemy.pool import NullPool
        except ImportError:
            raise TrackingError(
                f"recording into {self.where} needs SQLAlchemy and PyMySQL: "
                f"pip install 'submarine-sdk[{EXTRA}]'"
            ) from None
        self._errors = sqlalchemy.exc
        try:
            url = make_url(uri)
        except ArgumentError:
            raise TrackingError(
                f"{shown(uri)!r} is not a database URL like "
                "mysql+pymysql://user:password@host:3306/submarine"
            ) from None
        backend = url.get_backend_name()
        if backend not in ("mysql", "mariadb"):
            raise TrackingError(
                f"{shown(uri)!r}: Submarine keeps metrics and params in MySQL; give a "
                f"mysql+pymysql:// (or mariadb+pymysql://) URL, not {backend}://"
            )
        if "+" not in url.drivername:
            url = url.set(drivername=f"{backend}+pymysql")
        driver = url.get_driver_name()
        if importlib.util.find_spec(driver) is None:
            raise TrackingError(
                f"recording into {self.where} needs the {driver} driver: "
                + (f"pip install 'submarine-sdk[{EXTRA}]'" if driver == "pymysql" else "")
            )
        timeouts = {"connect_timeout": 10, "read_timeout": 30, "write_timeout": 30}
        pooling: dict[str, Any] = (
            {"pool_pre_ping": True, "pool_recycle": 3600} if kept else {"poolclass": NullPool}
        )
        self._engine: Engine = sqlalchemy.create_engine(
            url, connect_args=timeouts if driver in ("pymysql", "MySQLdb") else {}, **pooling
        )

    # -- sending -------------------------------------------------------------------------

    def send(self, kind: str, experiment_id: str, worker: str, batch: list[Any]) -> Outcome:
        """Write ``batch`` (of ``kind``) whole; :class:`TransientError` when the database
        cannot be reached or is busy."""
        errors = self._errors
        with self._lock:
            try:
                schema = self._schema
                if schema is None or getattr(schema, kind) is None:
                    schema = self._schema = self._read_schema()
                if getattr(schema, kind) is None:
                    return Outcome(
                        len(batch),
                        len(batch),
                        f"{self.where} has no `{kind}` table of Submarine 0.8.0: "
                        f"{len(batch)} {kind}s were not recorded",
                    )
                if kind == "param":
                    return self._params(schema, experiment_id, worker, batch)
                return self._metrics(schema, experiment_id, worker, batch)
            except errors.DBAPIError as exc:
                code = _code(exc)
                text = f"{len(batch)} {kind}s were not recorded by {self.where}: {_message(exc)}"
                if code in _NO_EXPERIMENT:
                    return Outcome(len(batch), len(batch), self._no_experiment(experiment_id))
                if code in _REFUSED or isinstance(exc, errors.ProgrammingError):
                    return Outcome(len(batch), len(batch), text)
                if isinstance(exc, (errors.IntegrityError, errors.DataError)):
                    return Outcome(len(batch), len(batch), text)
                raise TransientError(
                    f"cannot write {len(batch)} {kind}s to {self.where}: {_message(exc)}"
                ) from exc

    def _no_experiment(self, experiment_id: str) -> str:
        return (
            f"{self.where} has no experiment {experiment_id!r} (JOB_ID): Submarine 0.8.0 "
            "keeps metrics and params only of the experiments of its `experiment` table"
        )

    def _read_schema(self) -> _Schema:
        tables: dict[str, dict[str, tuple[str, int | None]]] = {}
        with self._engine.connect() as conn:
            for table, column, kind, length in conn.exec_driver_sql(_COLUMNS):
                size = int(length) if length is not None else None
                tables.setdefault(str(table).lower(), {})[str(column).lower()] = (
                    str(kind).lower(),
                    size,
                )
        return _Schema(tables.get("metric"), tables.get("param"))

    def _too_long(self, schema: _Schema, table: str, column: str, text: str) -> str | None:
        limit = schema.length(table, column)
        if limit is not None and len(text) > limit:
            return (
                f"{table} {column} {text[:40]!r} is longer than the {limit} characters of "
                f"the {table} table's column of {self.where}"
            )
        return None

    def _params(
        self, schema: _Schema, experiment_id: str, worker: str, batch: Sequence[Any]
    ) -> Outcome:
        worker_long = self._too_long(schema, "param", "worker_index", worker)
        if worker_long:
            return Outcome(len(batch), len(batch), worker_long)
        rows, reason = [], None
        for key, value in batch:
            problem = self._too_long(schema, "param", "key", key) or self._too_long(
                schema, "param", "value", value
            )
            if problem:
                reason = problem
                continue
            rows.append((experiment_id, key, value, worker))
        lost = len(batch) - len(rows)
        if rows:
            failed, problem = self._insert_params(rows)
            lost, reason = lost + failed, reason or problem
        return Outcome(len(batch), lost, reason)

    def _metrics(
        self, schema: _Schema, experiment_id: str, worker: str, batch: Sequence[Any]
    ) -> Outcome:
        worker_long = self._too_long(schema, "metric", "worker_index", worker)
        if worker_long:
            return Outcome(len(batch), len(batch), worker_long)
        limit = schema.value_limit()
        low, high = schema.step_range()
        rows: list[list[Any]] = []
        reason = None
        last: dict[tuple[str, str, str], int] = {}
        for key, value, step, ms in batch:
            problem = self._too_long(schema, "metric", "key", key)
            if problem is None and not low <= step <= high:
                problem = f"metric step {step} is outside the range {low}..{high} of {self.where}"
            if problem is not None:
                reason = problem
                continue
            nan = value != value
            number = 0.0 if nan else max(-limit, min(limit, float(value)))
            fold = self._folds.get(key)
            if fold is None:
                fold = self._folds[key] = _fold(key)
            name = (experiment_id, worker, fold)
            when = _naive_ms(ms)
            before = last.get(name, self._last.get(name))
            if before is not None and when <= before:
                when = before + 1
            last[name] = when
            rows.append([experiment_id, key, number, worker, when, step, nan])
        lost = len(batch) - len(rows)
        if rows:
            failed, problem = self._insert_metrics(rows, experiment_id, worker)
            lost, reason = lost + failed, reason or problem
            for row in rows:
                name = (experiment_id, worker, self._folds[row[1]])
                self._last[name] = max(self._last.get(name, row[4]), row[4])
        return Outcome(len(batch), lost, reason)

    # -- inserting -------------------------------------------------------------------------

    def _insert_params(self, rows: Sequence[Sequence[Any]]) -> tuple[int, str | None]:
        """Insert param rows in one transaction (a param stored already keeps its value);
        when the database refuses a value of one, insert them one by one. How many were
        not inserted, and why."""
        errors = self._errors
        try:
            with self._engine.begin() as conn:
                conn.exec_driver_sql(_INSERT_PARAM, list(map(tuple, rows)))
            return 0, None
        except errors.DataError:
            pass
        lost, problem = 0, None
        for row in rows:
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(_INSERT_PARAM, tuple(row))
            except errors.DataError as exc:
                lost += 1
                problem = f"{self.where} refused a param: {_message(exc)}"
        return lost, problem

    def _insert_metrics(
        self, rows: list[list[Any]], experiment_id: str, worker: str
    ) -> tuple[int, str | None]:
        """Insert metric rows (their times as milliseconds) in one transaction; rows whose
        time a stored row of their key holds move to the next free millisecond, and rows
        the database refuses a value of are given up, the others inserted one by one.
        How many were not inserted, and why."""
        errors = self._errors
        for _ in range(_SHIFTS):
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(_INSERT_METRIC, list(_with_times(rows)))
                return 0, None
            except errors.IntegrityError as exc:
                if _code(exc) != _DUPLICATE:
                    raise
                with self._engine.connect() as conn:
                    self._move(conn, rows, experiment_id, worker)
            except errors.DataError:
                break
        lost, problem = 0, None
        for row in rows:
            trouble = self._insert_metric(row)
            if trouble is not None:
                lost, problem = lost + 1, trouble
        return lost, problem

    def _insert_metric(self, row: list[Any]) -> str | None:
        """Insert one metric row, at the next free millisecond if its own is taken; None,
        or why it was not inserted."""
        errors = self._errors
        for _ in range(_SHIFTS * 8):
            try:
                with self._engine.begin() as conn:
                    conn.exec_driver_sql(_INSERT_METRIC, next(iter(_with_times([row]))))
                return None
            except errors.IntegrityError as exc:
                if _code(exc) != _DUPLICATE:
                    raise
                row[4] += 1
            except errors.DataError as exc:
                return f"{self.where} refused a metric: {_message(exc)}"
        return f"{self.where} holds a row at every millisecond tried for a metric"

    def _move(
        self, conn: Connection, rows: list[list[Any]], experiment_id: str, worker: str
    ) -> None:
        """Give each row a millisecond no stored row of its key (as the database compares
        keys) holds, nor another row."""
        low = min(row[4] for row in rows)
        high = max(row[4] for row in rows) + len(rows)
        keys = sorted({row[1] for row in rows})
        marks = ", ".join(["%s"] * len(keys))
        stored = conn.exec_driver_sql(
            "SELECT `key`, `timestamp` FROM metric WHERE id = %s AND worker_index = %s "
            f"AND `timestamp` BETWEEN %s AND %s AND `key` IN ({marks})",
            (experiment_id, worker, _time(low), _time(high + 1000), *keys),
        )
        taken = {(_fold(key), (when - _EPOCH) // _MS) for key, when in stored}
        for row in sorted(rows, key=lambda r: r[4]):
            fold = _fold(row[1])
            while (fold, row[4]) in taken:
                row[4] += 1
            taken.add((fold, row[4]))


def _time(naive_ms: int) -> datetime:
    return _EPOCH + naive_ms * _MS


def _with_times(rows: Iterable[list[Any]]) -> Iterable[tuple[Any, ...]]:
    """Metric rows with their times as ``datetime`` values."""
    for row in rows:
        yield (row[0], row[1], row[2], row[3], _time(row[4]), row[5], row[6])

"""``submarine.tracking.SubmarineClient``: Submarine 0.8.0's tracking client, which records
a metric or param of any experiment and worker at once, and where records go.

Records go to, in this order: the database given to :func:`submarine.set_db_uri`; else
``SUBMARINE_TRACKING_URI`` (the local server's address in its replicas, a database URL in
0.8.0's pods); else ``SUBMARINE_DB_URI``. An ``http(s)://`` address is a local server
(:mod:`submarine._trackhttp`), anything else a database URL (:mod:`submarine._trackdb`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn

import submarine._trackdb as _trackdb
from submarine._trackdb import DB_URI_ENV, DatabaseTransport, get_db_uri, is_database_url
from submarine._trackhttp import HttpTransport
from submarine._trackrules import check_key, metric_step, metric_value, param_text
from submarine._tracksend import TrackingError, TransientError, Transport
from submarine.models.trackwire import MAX_KEY, MAX_WORKER, TOKEN_ENV, URI_ENV, is_text

if TYPE_CHECKING:
    from submarine._savemodel import SavedModel

__all__ = ["SubmarineClient", "checked_key", "target_uri", "transport_for"]


def target_uri(environ: Mapping[str, str]) -> str | None:
    """Where records go (see the module), or None when nothing says."""
    return _trackdb._db_uri or environ.get(URI_ENV) or environ.get(DB_URI_ENV) or None


def transport_for(uri: str, environ: Mapping[str, str], *, kept: bool = True) -> Transport:
    """The transport to ``uri``: a database, or the local server (with the replica's
    credential; ``kept``: a connection kept open, for a sender).

    Raises:
        TrackingError: not a URL this package can record to.
    """
    if is_database_url(uri):
        return DatabaseTransport(uri, kept=kept)
    return HttpTransport(uri, environ.get(TOKEN_ENV), kept=kept)


def checked_key(key: Any, kind: str) -> str:
    """A key by 0.8.0's rule and at most :data:`MAX_KEY` characters of Unicode text."""
    key = check_key(key, kind)
    assert isinstance(key, str)
    if len(key) > MAX_KEY:
        raise ValueError(
            f"key must be at most {MAX_KEY} characters, got {len(key)}: {key[:40]!r}..."
        )
    if not is_text(key):
        raise ValueError(f"key must be Unicode text (no lone surrogate), got {key!r}")
    return key


def _milliseconds(moment: datetime) -> int:
    """A time in milliseconds since the epoch (a naive time is local, as 0.8.0 takes it)."""
    if moment.tzinfo is None:
        whole = int(moment.replace(microsecond=0).timestamp())
    else:
        whole = int(moment.astimezone(timezone.utc).replace(microsecond=0).timestamp())
    return whole * 1000 + moment.microsecond // 1000


def _worker(worker_index: Any) -> str:
    if not isinstance(worker_index, str) or not worker_index or len(worker_index) > MAX_WORKER:
        raise ValueError(
            f"worker_index must be a name like 'worker-0' of at most {MAX_WORKER} "
            f"characters, got {worker_index!r}"
        )
    return worker_index


def _job(job_id: Any) -> str:
    if not isinstance(job_id, str) or not job_id or not is_text(job_id):
        raise ValueError(f"job_id must be an experiment id, got {job_id!r}")
    return job_id


class SubmarineClient:
    """Records metrics and params of any experiment and worker, each at once (Submarine
    0.8.0's ``submarine.tracking.SubmarineClient``, with its signatures).

    >>> client = SubmarineClient("mysql+pymysql://submarine:password@db:3306/submarine")
    >>> client.log_metric("experiment-1-0001", "loss", 0.5, "worker-0", step=3)  # doctest: +SKIP

    Unlike :func:`submarine.log_metric`, each call waits for the database or server and
    raises :class:`~submarine.tracking.TrackingError` when it cannot record.

    :param db_uri: where records go: a database URL, or a local server's ``http(s)://``
        address (default: see :mod:`submarine.tracking`; else 0.8.0's default database).
    :param s3_registry_uri: kept as given (0.8.0's model registry; models are not saved
        through this client).
    :param aws_access_key_id: kept as given, as ``s3_registry_uri``.
    :param aws_secret_access_key: kept as given, as ``s3_registry_uri``.
    :param host: the Submarine server (0.8.0: ``http://$SUBMARINE_SERVER_DNS_NAME:$SUBMARINE_SERVER_PORT``).
    :raises TrackingError: ``db_uri`` is a database URL and SQLAlchemy is not installed,
        or not a MySQL one.
    """

    def __init__(
        self,
        db_uri: str | None = None,
        s3_registry_uri: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        host: str | None = None,
    ) -> None:
        environ = os.environ
        self.db_uri = db_uri or target_uri(environ) or get_db_uri()
        """Where records go."""
        self.s3_registry_uri = s3_registry_uri
        self.aws_access_key_id = aws_access_key_id
        self.aws_secret_access_key = aws_secret_access_key
        if host is None and environ.get("SUBMARINE_SERVER_DNS_NAME"):
            server = environ["SUBMARINE_SERVER_DNS_NAME"]
            host = f"http://{server}:{environ.get('SUBMARINE_SERVER_PORT', '8080')}"
        self.host = host
        """The Submarine server, when known."""
        self.experiment_id = environ.get("JOB_ID")
        """The experiment of this process (``JOB_ID``), if it runs in one."""
        self._transport = transport_for(self.db_uri, environ, kept=False)

    def log_metric(
        self,
        job_id: str,
        key: str,
        value: float,
        worker_index: str,
        timestamp: datetime | None = None,
        step: int = 0,
    ) -> None:
        """Record a metric's value of experiment ``job_id`` and worker ``worker_index``.

        :param job_id: the experiment id.
        :param key: the metric's name (0.8.0's rule: letters, digits, ``_-. /``).
        :param value: a number; NaN and infinities are recorded (see :mod:`submarine.tracking`).
        :param worker_index: the worker, like ``worker-0``.
        :param timestamp: when it was computed (default: now; a naive time is local).
        :param step: the training step (default 0).
        :raises TypeError, ValueError: a bad argument.
        :raises TrackingError: the database or server could not record it.
        """
        key = checked_key(key, "metric")
        number = metric_value(key, value)
        whole = metric_step(key, step)
        if timestamp is not None and not isinstance(timestamp, datetime):
            raise TypeError(f"timestamp of metric {key!r} must be a datetime, got {timestamp!r}")
        ms = _milliseconds(timestamp or datetime.now())
        self._send("metric", _job(job_id), _worker(worker_index), (key, number, whole, ms))

    def log_param(self, job_id: str, key: str, value: str, worker_index: str) -> None:
        """Record a param of experiment ``job_id`` and worker ``worker_index`` (a param
        recorded before for its key and worker keeps its first value).

        :param job_id: the experiment id.
        :param key: the param's name (0.8.0's rule, at most 250 characters).
        :param value: its value, recorded as ``str(value)`` (at most 250 characters).
        :param worker_index: the worker, like ``worker-0``.
        :raises TypeError, ValueError: a bad argument.
        :raises TrackingError: the database or server could not record it.
        """
        key = checked_key(key, "param")
        text = param_text(key, value)
        if not is_text(text):
            raise ValueError(f"value of param {key!r} must be Unicode text, got {text[:40]!r}")
        self._send("param", _job(job_id), _worker(worker_index), (key, text))

    def _send(self, kind: str, job_id: str, worker: str, record: tuple[Any, ...]) -> None:
        try:
            outcome = self._transport.send(kind, job_id, worker, [record])
        except TransientError as exc:
            raise TrackingError(str(exc)) from None
        if outcome.lost:
            raise TrackingError(outcome.reason or f"{self._transport.where} refused the {kind}")

    def save_model(
        self,
        model: Any,
        model_type: str,
        registered_model_name: str | None = None,
        input_dim: list[int] | None = None,
        output_dim: list[int] | None = None,
    ) -> SavedModel:
        """Save a model as the experiment's next artifact folder: the same as
        :func:`submarine.save_model` (inside a replica of the local server)."""
        from submarine._savemodel import save_model

        return save_model(model, model_type, registered_model_name, input_dim, output_dim)

    def create_serve(self, model_name: str, model_version: int, async_req: bool = True) -> NoReturn:
        """Not supported here: 0.8.0 serves models through Seldon Core."""
        raise NotImplementedError(
            "SubmarineClient.create_serve asks Submarine 0.8.0 to serve a model through "
            "Seldon Core; this package does not serve models"
        )

    def delete_serve(self, model_name: str, model_version: int, async_req: bool = True) -> NoReturn:
        """Not supported here: 0.8.0 serves models through Seldon Core."""
        raise NotImplementedError(
            "SubmarineClient.delete_serve stops a model Submarine 0.8.0 serves through "
            "Seldon Core; this package does not serve models"
        )

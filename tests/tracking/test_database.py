"""Tracking into a Submarine 0.8.0 database: ``log_metric``/``log_param`` inside a 0.8.0
pod (``SUBMARINE_TRACKING_URI`` a MySQL URL), ``set_db_uri`` and ``SubmarineClient`` write
0.8.0's rows to a real MariaDB with 0.8.0's tables, in batches, losing no value."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest

import submarine
from submarine._savemodel import SaveModelError
from submarine.models import Metric
from submarine.tracking import SubmarineClient, TrackingError

from .conftest import MariaDB

pytestmark = pytest.mark.slow  # a database server, and Pythons of their own

FLOAT32_MAX = 3.4028234663852886e38
"""The largest single-precision number (MySQL answers it with six digits, 3.40282e38)."""


def _experiment(mariadb: MariaDB) -> str:
    return mariadb.add_experiment(f"experiment-{uuid.uuid4().hex[:13]}-0001")


def _python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh Python that sees ``env`` as a 0.8.0 pod's environment."""
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SUBMARINE_") and k not in {"JOB_ID", "TF_CONFIG", "RANK"}
    }
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _pod(mariadb: MariaDB, experiment_id: str, **more: str) -> dict[str, str]:
    """What 0.8.0's server puts in each pod's environment (``ExperimentManager``)."""
    return {"JOB_ID": experiment_id, "SUBMARINE_TRACKING_URI": mariadb.url, **more}


def _metrics(mariadb: MariaDB, experiment_id: str) -> list[tuple[Any, ...]]:
    return mariadb.query(
        "SELECT `key`, value, worker_index, `timestamp`, step, is_nan FROM metric "
        "WHERE id = %s ORDER BY `key`, `timestamp`",
        experiment_id,
    )


def _inserts(mariadb: MariaDB) -> int:
    ((_, count),) = mariadb.query("SHOW GLOBAL STATUS LIKE 'Com_insert'")
    return int(count)


LOGGER_080 = """
import math
import submarine
submarine.log_param("name_1", "a")
submarine.log_param("name_1", "b")  # a param keeps its first value
submarine.log_param("batch size", 32)
submarine.log_metric("name_1", 5)
submarine.log_metric("name_1", 6)
submarine.log_metric("eval/loss", 0.25, step=7)
submarine.log_metric("edge", math.nan, step=1)
submarine.log_metric("edge", math.inf, step=2)
submarine.log_metric("edge", -math.inf, step=3)
submarine.log_metric("edge", 1e39, step=4)  # past what 0.8.0's FLOAT column holds
print("trained", flush=True)
"""


def test_a_0_8_0_pod_writes_0_8_0_rows(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    result = _python(LOGGER_080, _pod(mariadb, experiment_id, RANK="0"))
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout
    assert result.stderr == ""  # nothing lost, nothing to say

    params = mariadb.query(
        "SELECT `key`, value, worker_index FROM param WHERE id = %s ORDER BY `key`", experiment_id
    )
    assert params == [("batch size", "32", "master-0"), ("name_1", "a", "master-0")]

    rows = _metrics(mariadb, experiment_id)
    by_key: dict[str, list[tuple[Any, ...]]] = {}
    for key, value, worker, when, step, nan in rows:
        assert worker == "master-0"  # RANK 0, as the PyTorch master's pod
        assert isinstance(when, datetime)
        by_key.setdefault(key, []).append((value, step, nan))
    assert by_key["name_1"] == [(5.0, 0, 0), (6.0, 0, 0)]  # no step is step 0
    assert by_key["eval/loss"] == [(0.25, 7, 0)]
    # NaN as 0.8.0 stores it; infinities as the largest number the FLOAT column holds.
    assert by_key["edge"] == [
        (0.0, 1, 1),
        (pytest.approx(FLOAT32_MAX, rel=1e-5), 2, 0),
        (pytest.approx(-FLOAT32_MAX, rel=1e-5), 3, 0),
        (pytest.approx(FLOAT32_MAX, rel=1e-5), 4, 0),
    ]


def _as_0_8_0_answers(row: tuple[Any, ...], experiment_id: str) -> dict[str, Any]:
    """A stored row as 0.8.0's ``POST /api/metric/selective`` answers it (Gson: the time to
    the second, in the server's zone; a Java Float; BaseEntity's keys)."""
    key, value, worker, when, step, nan = row
    return {
        "key": key,
        "value": value,
        "workerIndex": worker,
        "timestamp": when.strftime("%Y-%m-%d %H:%M:%S"),
        "step": step,
        "isNan": bool(nan),
        "id": experiment_id,
        "createBy": None,
        "createTime": "2023-05-23 09:05:00",
        "updateBy": None,
        "updateTime": "2023-05-23 09:05:00",
    }


def test_what_was_logged_reads_back_as_it_was_logged(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    code = (
        "import math, submarine\n"
        "for step, value in enumerate([0.5, math.nan, math.inf, -math.inf]):\n"
        "    submarine.log_metric('loss', value, step=step)\n"
    )
    result = _python(code, _pod(mariadb, experiment_id))
    assert result.returncode == 0, result.stderr
    stored = _metrics(mariadb, experiment_id)
    read = [Metric.model_validate(_as_0_8_0_answers(row, experiment_id)) for row in stored]
    assert [m.step for m in read] == [0, 1, 2, 3]
    assert [m.worker_index for m in read] == ["worker-0"] * 4
    values = [m.value for m in read]
    assert values[0] == 0.5
    assert values[1] is not None
    assert math.isnan(values[1])
    assert values[2:] == [math.inf, -math.inf]


def test_values_logged_in_one_millisecond_are_all_kept_in_few_inserts(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    code = (
        "import submarine\n"
        "for step in range(10_000):\n"
        "    submarine.log_metric('loss', step % 1000 / 8, step=step)\n"
        "    submarine.log_metric('Loss', 1.0, step=step)  # the same key to MySQL\n"
    )
    before = _inserts(mariadb)
    result = _python(code, _pod(mariadb, experiment_id))
    assert result.returncode == 0, result.stderr
    inserts = _inserts(mariadb) - before
    rows = _metrics(mariadb, experiment_id)
    assert len(rows) == 20_000  # 0.8.0 keeps one row a key and millisecond, losing the rest
    losses = [row for row in rows if row[0] == "loss"]
    assert [row[4] for row in losses] == list(range(10_000))  # in time order, every step
    # (0.8.0's FLOAT column is answered to six digits: these values are exact in it)
    assert [row[1] for row in losses] == [step % 1000 / 8 for step in range(10_000)]
    assert len({row[3] for row in rows}) == 20_000  # a millisecond each, 'Loss' included
    assert inserts <= 20, inserts  # in batches, not a statement a value


def test_rows_get_the_next_free_millisecond_past_stored_ones(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    at = datetime(2024, 1, 1, 12, 0, 0)
    for ms, value in ((0, 1.0), (1, 2.0)):
        mariadb.query(
            "INSERT INTO metric VALUES (%s, 'loss', %s, 'worker-0', %s, 0, 0)",
            experiment_id,
            value,
            at + timedelta(milliseconds=ms),
        )
    client = SubmarineClient(mariadb.url)
    client.log_metric(experiment_id, "loss", 3.0, "worker-0", at, 5)
    client.log_metric(experiment_id, "loss", 4.0, "worker-0", at, 6)
    rows = _metrics(mariadb, experiment_id)
    assert [(row[1], row[3], row[4]) for row in rows] == [
        (1.0, at, 0),
        (2.0, at + timedelta(milliseconds=1), 0),
        (3.0, at + timedelta(milliseconds=2), 5),
        (4.0, at + timedelta(milliseconds=3), 6),
    ]


def test_the_client_of_0_8_0_writes_at_once(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    client = SubmarineClient(db_uri=mariadb.url)
    when = datetime(2024, 5, 6, 7, 8, 9, 123456)
    client.log_metric(experiment_id, "acc", 0.5, "worker-3", when, 7)
    client.log_metric(experiment_id, "acc", 0.75, "worker-3", step=8)
    client.log_param(experiment_id, "optimizer", "adam", "worker-3")
    rows = _metrics(mariadb, experiment_id)
    assert rows[0] == ("acc", 0.5, "worker-3", when.replace(microsecond=123000), 7, 0)
    assert rows[1][1:3] == (0.75, "worker-3")
    params = mariadb.query(
        "SELECT `key`, value, worker_index FROM param WHERE id = %s", experiment_id
    )
    assert params == [("optimizer", "adam", "worker-3")]
    with pytest.raises(TrackingError, match="has no experiment 'experiment-unknown'"):
        client.log_metric("experiment-unknown", "acc", 0.5, "worker-3")
    with pytest.raises(ValueError, match="metric key 'a:b' holds ':'"):
        client.log_metric(experiment_id, "a:b", 0.5, "worker-3")
    with pytest.raises(SaveModelError, match="Run the script as an experiment"):
        client.save_model(object(), "tensorflow")  # a database is no artifact store


def test_set_db_uri_sends_later_records_to_that_database(
    mariadb: MariaDB, monkeypatch: pytest.MonkeyPatch
) -> None:
    experiment_id = _experiment(mariadb)
    monkeypatch.setenv("JOB_ID", experiment_id)
    monkeypatch.delenv("SUBMARINE_TRACKING_URI", raising=False)
    monkeypatch.setenv("TF_CONFIG", '{"task": {"type": "chief", "index": 0}}')
    submarine.set_db_uri(mariadb.url)
    try:
        assert submarine.get_db_uri() == mariadb.url
        submarine.log_metric("loss", 0.5)
        submarine.log_param("lr", 0.1)
        submarine.tracking.flush()
    finally:
        submarine.set_db_uri(None)
    assert submarine.get_db_uri() != mariadb.url
    assert [row[:3] for row in _metrics(mariadb, experiment_id)] == [("loss", 0.5, "chief-0")]
    params = mariadb.query(
        "SELECT `key`, value, worker_index FROM param WHERE id = %s", experiment_id
    )
    assert params == [("lr", "0.1", "chief-0")]


WRITES_LOCAL_TIME = """
import submarine
submarine.log_metric("loss", 1.0)
"""


def test_times_are_the_pods_local_wall_clock_as_0_8_0_writes_them(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    result = _python(WRITES_LOCAL_TIME, _pod(mariadb, experiment_id, TZ="Asia/Tokyo"))
    assert result.returncode == 0, result.stderr
    ((_, _, _, written, _, _),) = _metrics(mariadb, experiment_id)
    ((now_utc,),) = mariadb.query("SELECT UTC_TIMESTAMP()")
    # Tokyo is UTC+9 all year: the row holds the pod's time, 9 hours ahead of UTC.
    assert abs((written - now_utc) - timedelta(hours=9)) < timedelta(minutes=30)


REFUSED = """
import submarine
submarine.log_metric("k" * 200, 1.0)  # 0.8.0's key column holds 190 characters
submarine.log_metric("loss", 1.0, step=2**40)  # its step column is an INTEGER
submarine.log_metric("loss", 2.0, step=1)
submarine.log_param("note", "x" * 200)  # its value column holds 190
print("trained", flush=True)
"""


def test_rows_the_columns_cannot_hold_are_said_and_the_rest_kept(mariadb: MariaDB) -> None:
    experiment_id = _experiment(mariadb)
    result = _python(REFUSED, _pod(mariadb, experiment_id))
    assert result.returncode == 0, result.stderr
    assert "trained" in result.stdout
    assert [row[:2] for row in _metrics(mariadb, experiment_id)] == [("loss", 2.0)]
    assert "longer than the 190 characters" in result.stderr
    assert "2 metrics and 1 params of this process were not recorded" in result.stderr
    assert "password" not in result.stderr  # the URL is shown without it


def test_an_experiment_0_8_0_does_not_know_is_said_once(mariadb: MariaDB) -> None:
    code = "import submarine\nfor s in range(3): submarine.log_metric('loss', 1.0, step=s)\n"
    result = _python(code, _pod(mariadb, "experiment-1-9999"))
    assert result.returncode == 0, result.stderr
    assert result.stderr.count("has no experiment 'experiment-1-9999'") == 1, result.stderr
    assert "3 metrics and 0 params of this process were not recorded" in result.stderr
    assert mariadb.query("SELECT COUNT(*) FROM metric WHERE id = 'experiment-1-9999'") == [(0,)]


def test_a_database_that_cannot_be_reached_is_a_clear_error(mariadb: MariaDB) -> None:
    url = f"mysql+pymysql://submarine:secret@127.0.0.1:{mariadb.port}/nothere"
    url = url.replace(f":{mariadb.port}/", ":9/")  # nothing listens on port 9
    code = (
        "import submarine, submarine.tracking as t\nsubmarine.log_metric('loss', 1.0)\nt.flush()\n"
    )
    env = {"JOB_ID": "experiment-1-0001", "SUBMARINE_TRACKING_URI": url}
    result = _python(code, {**env, "SUBMARINE_TRACKING_EXIT_TIMEOUT": "1"})
    assert result.returncode != 0
    assert "TrackingError: cannot write 1 metrics to the database at " in result.stderr
    assert "mysql+pymysql://submarine:***@127.0.0.1:9/nothere" in result.stderr
    assert "secret" not in result.stderr

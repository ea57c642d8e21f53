"""A real MariaDB server with Submarine 0.8.0's ``experiment``, ``metric`` and ``param``
tables, for the tests of tracking into a database.

``mariadb`` (session scope) initialises a private instance with Debian's
``mariadb-install-db`` in a directory of its own (its data, its socket, its log), starts
``mariadbd`` on a free port of 127.0.0.1 (as the ``mysql`` account when the tests run as
root: the server refuses root), waits until it answers, creates 0.8.0's database
``submarine`` with its user ``submarine``/``password`` and the tables, and stops it at the
end. ``make test`` installs ``mariadb-server`` when it is missing.

The tables are written here from 0.8.0's DDL (``metric.value`` a single-precision FLOAT,
``metric.step`` an INTEGER, keys VARCHAR(190), worker indexes VARCHAR(32), foreign keys to
``experiment``).
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support import wait_until

MARIADBD = os.environ.get("SUBMARINE_TEST_MARIADBD", "/usr/sbin/mariadbd")
INSTALL_DB = os.environ.get("SUBMARINE_TEST_MARIADB_INSTALL_DB", "/usr/bin/mariadb-install-db")
START_TIMEOUT = 120.0

SCHEMA_080 = [
    """CREATE TABLE `experiment` (
        `id` varchar(64) NOT NULL,
        `experiment_spec` text NOT NULL,
        `create_by` varchar(32) DEFAULT NULL,
        `create_time` datetime DEFAULT NULL,
        `update_by` varchar(32) DEFAULT NULL,
        `update_time` datetime DEFAULT NULL,
        `experiment_status` varchar(20) DEFAULT NULL,
        `accepted_time` datetime DEFAULT NULL,
        `running_time` datetime DEFAULT NULL,
        `finished_time` datetime DEFAULT NULL,
        `uid` varchar(64) DEFAULT NULL,
        PRIMARY KEY (`id`)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    """CREATE TABLE `metric` (
        `id` VARCHAR(64) NOT NULL,
        `key` VARCHAR(190) NOT NULL,
        `value` FLOAT NOT NULL,
        `worker_index` VARCHAR(32) NOT NULL,
        `timestamp` DATETIME(3) NOT NULL,
        `step` INTEGER NOT NULL,
        `is_nan` BOOLEAN NOT NULL,
        CONSTRAINT `metric_pk` PRIMARY KEY (`id`, `key`, `timestamp`, `worker_index`),
        FOREIGN KEY (`id`) REFERENCES `experiment` (`id`) ON UPDATE CASCADE ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
    """CREATE TABLE `param` (
        `id` VARCHAR(64) NOT NULL,
        `key` VARCHAR(190) NOT NULL,
        `value` VARCHAR(190) NOT NULL,
        `worker_index` VARCHAR(32) NOT NULL,
        CONSTRAINT `param_pk` PRIMARY KEY (`id`, `key`, `worker_index`),
        FOREIGN KEY (`id`) REFERENCES `experiment` (`id`) ON UPDATE CASCADE ON DELETE CASCADE
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8""",
]
"""Submarine 0.8.0's tables of experiments, metrics and params (its columns and keys)."""


@dataclass
class MariaDB:
    """A running private MariaDB server holding 0.8.0's database."""

    port: int
    socket: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        """0.8.0's SQLAlchemy URL of the ``submarine`` database (as its pods get it)."""
        return f"mysql+pymysql://submarine:password@127.0.0.1:{self.port}/submarine"

    def connect(self) -> Any:
        """A connection of the ``submarine`` user, committing each statement."""
        import pymysql  # the tracking-db extra (`make test` installs it)

        return pymysql.connect(
            host="127.0.0.1",
            port=self.port,
            user="submarine",
            password="password",
            database="submarine",
            autocommit=True,
        )

    def query(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """The rows of one statement."""
        with self.connect() as conn, conn.cursor() as cursor:
            cursor.execute(sql, args)
            return list(cursor.fetchall())

    def add_experiment(self, experiment_id: str) -> str:
        """An experiment row of 0.8.0's table (metrics and params refer to it)."""
        self.query(
            "INSERT INTO experiment (id, experiment_spec, create_by, create_time) "
            "VALUES (%s, %s, %s, NOW())",
            experiment_id,
            '{"meta": {"name": "tracking"}}',
            "test",
        )
        return experiment_id


def _free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return int(probe.getsockname()[1])


def _as_root(base: Path) -> list[str]:
    """``--user=mysql`` (owning ``base``) when running as root, whom mariadbd refuses."""
    if os.geteuid() != 0:
        return []
    account = pwd.getpwnam("mysql")
    os.chown(base, account.pw_uid, account.pw_gid)
    return ["--user=mysql"]


def _root(socket_path: Path) -> Any:
    import pymysql

    return pymysql.connect(unix_socket=str(socket_path), user="root", autocommit=True)


def _answers(socket_path: Path) -> bool:
    """Whether the server greets a client on its socket (its handshake comes first)."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(10)
            client.connect(str(socket_path))
            return bool(client.recv(16))
    except OSError:
        return False


def _start(base: Path, user: list[str]) -> MariaDB:
    port, sock, log = _free_port(), base / "mysqld.sock", base / "error.log"
    process = subprocess.Popen(
        [
            MARIADBD,
            "--no-defaults",
            f"--datadir={base / 'data'}",
            f"--socket={sock}",
            f"--port={port}",
            "--bind-address=127.0.0.1",
            f"--pid-file={base / 'mysqld.pid'}",
            f"--log-error={log}",
            "--skip-name-resolve",
            "--skip-log-bin",
            "--performance-schema=OFF",
            "--innodb-buffer-pool-size=16M",
            "--innodb-log-file-size=8M",
            *user,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    database = MariaDB(port, sock, process, log)
    wait_until(
        lambda: process.poll() is not None or _answers(sock),
        what=lambda: f"mariadbd to answer on {sock}: {_tail(log)}",
        timeout=START_TIMEOUT,
    )
    return database


def _tail(log: Path) -> str:
    return log.read_text(errors="replace")[-2000:] if log.exists() else "(no log)"


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)  # a clean shutdown
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="session")
def mariadb() -> Iterator[MariaDB]:
    """A private MariaDB server with 0.8.0's ``submarine`` database, for the session."""
    for binary in (MARIADBD, INSTALL_DB):
        assert Path(binary).exists(), (
            f"{binary} is missing: `make test` installs Debian's mariadb-server "
            "(or: sudo apt-get install mariadb-server)"
        )
    # Under /tmp, not pytest's private tmp dir: the mysql account must reach it, and a
    # socket's path must stay short.
    base = Path(tempfile.mkdtemp(prefix="submarine-mariadb-"))
    try:
        user = _as_root(base)
        subprocess.run(
            [
                INSTALL_DB,
                "--no-defaults",
                f"--datadir={base / 'data'}",
                "--auth-root-authentication-method=normal",
                "--skip-test-db",
                "--skip-name-resolve",
                *user,
            ],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=True,
            timeout=START_TIMEOUT,
        )
        database = _start(base, user)
        if database.process.poll() is not None and "Bind on TCP/IP port" in _tail(database.log):
            database = _start(base, user)  # another process took the free port meanwhile
        assert database.process.poll() is None, f"mariadbd exited: {_tail(database.log)}"
        try:
            with _root(database.socket) as conn, conn.cursor() as cursor:
                cursor.execute("CREATE DATABASE submarine")
                cursor.execute("CREATE USER 'submarine'@'127.0.0.1' IDENTIFIED BY 'password'")
                cursor.execute("GRANT ALL PRIVILEGES ON submarine.* TO 'submarine'@'127.0.0.1'")
                cursor.execute("USE submarine")
                for statement in SCHEMA_080:
                    cursor.execute(statement)
            yield database
        finally:
            _stop(database.process)
    finally:
        shutil.rmtree(base, ignore_errors=True)

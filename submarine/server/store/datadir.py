"""The data dir belongs to one server at a time, and to its user alone.

:func:`claim` takes an exclusive lock (``flock``) on ``data_dir/server.lock`` and writes
the server's pid into it. It comes before anything else touches the data dir: before the
database is opened and before crash recovery, which would otherwise stop a running
server's replicas and fail its experiments. A second server on the same data dir gets
:class:`DataDirInUseError` ("data dir X is in use by the server with pid P") and changes
nothing. The kernel drops the lock when the holder exits, however it exits (a kill -9
too), so a crash never leaves a stale lock; the lock file is not inherited by replicas.

:func:`make_private` then gives the data dir mode 0700 and its database (with its
write-ahead log and shared memory) and pod logs mode 0600, fixing those an older
version left readable. New files are created private (:func:`create_private`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from submarine.server.errors import ServerStartError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "LOCK_NAME",
    "DataDirInUseError",
    "DataDirLock",
    "claim",
    "create_private",
    "make_private",
    "occupy",
]

logger = logging.getLogger(__name__)

LOCK_NAME: Final = "server.lock"
"""The lock file in the data dir (it holds the pid of the server that has the lock)."""
DIR_MODE: Final = 0o700
"""Mode of the data dir."""
FILE_MODE: Final = 0o600
"""Mode of the database, its companions and pod logs."""
_DATABASE_SUFFIXES: Final = ("", "-wal", "-shm", "-journal")


class DataDirInUseError(ServerStartError):
    """Another server holds the data dir; the message names the dir and that server's pid."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        self.data_dir = data_dir
        self.pid = pid
        who = f"the server with pid {pid}" if pid else "another server"
        super().__init__(
            f"data dir {data_dir} is in use by {who}: stop it, or give this one another --data-dir"
        )


class DataDirLock:
    """An exclusive lock on a data dir, held until :meth:`release`.

    Args:
        data_dir: the data dir (created, mode 0700, when missing).

    Raises:
        DataDirInUseError: another process holds the lock.
        ServerStartError: the data dir cannot be created or locked (read-only, no such
            parent, a file system without locks).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        try:
            data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            # Opened without truncating: the pid in it is the holder's until the lock is ours.
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            raise ServerStartError(f"cannot lock data dir {data_dir}: {exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise DataDirInUseError(data_dir, pid) from None
        except OSError as exc:
            os.close(fd)
            raise ServerStartError(f"cannot lock data dir {data_dir}: {exc}") from None
        except BaseException:
            os.close(fd)
            raise
        self._fd: int | None = fd
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        with contextlib.suppress(OSError):
            os.fchmod(fd, FILE_MODE)

    @property
    def held(self) -> bool:
        """Whether the lock is still held."""
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (the file stays; its pid is cleared)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        os.close(fd)  # closing the last descriptor drops the flock


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


_held: dict[Path, tuple[DataDirLock, int]] = {}
_held_guard = threading.Lock()


@contextlib.contextmanager
def claim(data_dir: Path) -> Iterator[DataDirLock]:
    """Hold the data dir's lock for the block (see the module's docstring).

    Re-entrant within one process: ``serve()`` claims the data dir before it binds, and
    the app's lifespan claims it again (for apps run some other way); the lock goes when
    the outermost claim ends.

    Raises:
        DataDirInUseError: another process holds the data dir.
    """
    key = Path(os.path.abspath(data_dir))
    with _held_guard:
        if key in _held:
            lock, count = _held[key]
            _held[key] = (lock, count + 1)
        else:
            lock = DataDirLock(key)
            _held[key] = (lock, 1)
    try:
        yield lock
    finally:
        with _held_guard:
            lock, count = _held[key]
            if count > 1:
                _held[key] = (lock, count - 1)
            else:
                del _held[key]
                lock.release()


def create_private(path: Path) -> None:
    """Create ``path`` (mode 0600) if it is missing; nothing happens if it exists."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE))


def _chmod(path: Path, mode: int) -> None:
    try:
        if stat.S_IMODE(path.lstat().st_mode) != mode and not path.is_symlink():
            path.chmod(mode)
    except FileNotFoundError:
        return
    except OSError as exc:
        logger.warning("cannot make %s private (mode %o): %s", path, mode, exc)


def make_private(data_dir: Path, database: Path) -> None:
    """Give the data dir mode 0700, and the database, its companions and every pod log
    0600 (those an older server made readable included).

    A directory shared by others (sticky, like ``/tmp``) is not changed: a warning says
    to give the server a directory of its own.
    """
    mode = data_dir.stat().st_mode
    if mode & stat.S_ISVTX:
        logger.warning(
            "data dir %s is a shared directory (sticky bit): give the server a directory of "
            "its own, which it keeps private (mode 0700)",
            data_dir,
        )
    else:
        _chmod(data_dir, DIR_MODE)
    for suffix in _DATABASE_SUFFIXES:
        _chmod(database.with_name(database.name + suffix), FILE_MODE)
    for log in (data_dir / "experiments").glob("*/logs/*.log"):
        _chmod(log, FILE_MODE)


@contextlib.contextmanager
def occupy(data_dir: Path, database: Path) -> Iterator[DataDirLock]:
    """:func:`claim` the data dir, then :func:`make_private` it: what a server does first.

    Raises:
        DataDirInUseError: another process holds the data dir (nothing was changed).
    """
    with claim(data_dir) as lock:
        make_private(data_dir, database)
        yield lock

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

A data dir that belongs to another user is refused (:class:`DataDirOwnerError`), as
PostgreSQL and ssh refuse theirs: that user could go on reading and changing everything the
server keeps there. The server's own secrets, the token it generates when none is given and
the key of the replicas' tracking credentials, are kept in the data dir (0600) by
:func:`keep_secret`, so that they survive a restart.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import pwd
import secrets
import stat
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Final

from submarine.server.errors import ServerStartError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "LOCK_NAME",
    "TOKEN_NAME",
    "TRACKING_SECRET_NAME",
    "DataDirInUseError",
    "DataDirLock",
    "DataDirOwnerError",
    "check_owner",
    "claim",
    "create_private",
    "keep_secret",
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
TOKEN_NAME: Final = "token"
"""The file of the data dir that keeps the token the server generated (mode 0600)."""
TRACKING_SECRET_NAME: Final = "tracking-secret"
"""The file of the data dir that keeps the key of the replicas' tracking credentials."""
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


def _user(uid: int) -> str:
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


class DataDirOwnerError(ServerStartError):
    """The data dir belongs to another user; the message names the owner and the fix."""

    def __init__(self, data_dir: Path, owner: int) -> None:
        self.data_dir = data_dir
        self.owner = owner
        me = _user(os.geteuid())
        super().__init__(
            f"data dir {data_dir} belongs to {_user(owner)}, not to {me} who runs this server: "
            "its owner could read and change everything the server keeps there; give this "
            "server a data dir of its own (--data-dir or $SUBMARINE_HOME), or if that one is "
            f"yours, have it handed over (chown -R {os.geteuid()} {data_dir})"
        )


def check_owner(data_dir: Path) -> None:
    """Refuse a data dir that belongs to another user.

    Raises:
        DataDirOwnerError: it belongs to another user.
        ServerStartError: it cannot be looked at.
    """
    try:
        owner = data_dir.stat().st_uid
    except OSError as exc:
        raise ServerStartError(f"cannot use data dir {data_dir}: {exc}") from None
    if owner != os.geteuid():
        raise DataDirOwnerError(data_dir, owner)


class DataDirLock:
    """An exclusive lock on a data dir, held until :meth:`release`.

    Args:
        data_dir: the data dir (created, mode 0700, when missing).

    Raises:
        DataDirInUseError: another process holds the lock.
        DataDirOwnerError: the data dir belongs to another user (nothing was changed).
        ServerStartError: the data dir cannot be created or locked (read-only, no such
            parent, a file system without locks).
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_NAME
        try:
            data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        except OSError as exc:
            raise ServerStartError(f"cannot lock data dir {data_dir}: {exc}") from None
        check_owner(data_dir)
        try:
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


def _read_kept(path: Path) -> str | None:
    """The secret kept in ``path``: None when the file is missing, and when it could have
    been read by other users (it is then made anew); refuses a file that is not ours."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ServerStartError(f"cannot read {path}: {exc} (remove it to get a new one)") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
            raise ServerStartError(
                f"{path} is not a file of {_user(os.geteuid())}: remove it to get a new one"
            )
        if stat.S_IMODE(info.st_mode) & (stat.S_IRWXG | stat.S_IRWXO):
            logger.warning(
                "%s could be read by other users (mode %o): it is replaced by a new one",
                path,
                stat.S_IMODE(info.st_mode),
            )
            return ""
        text = os.read(fd, 4096).decode("utf-8", "replace")
    finally:
        os.close(fd)
    lines = text.splitlines()
    return lines[0].strip() if lines else ""


def keep_secret(
    data_dir: Path, name: str, make: Callable[[], str], valid: Callable[[str], bool]
) -> str:
    """The secret kept in the file ``name`` of the data dir (mode 0600), made by ``make``
    and kept there when it is missing or not ``valid``.

    Safe against another server doing the same at once: a new file appears whole or not
    at all, and the first one made is the one every server reads.

    Raises:
        DataDirOwnerError: the data dir belongs to another user.
        ServerStartError: the file cannot be read or written.
    """
    path = data_dir / name
    try:
        data_dir.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise ServerStartError(f"cannot create data dir {data_dir}: {exc}") from None
    check_owner(data_dir)
    kept = _read_kept(path)
    if kept is not None and valid(kept):
        return kept
    secret = make()
    draft = data_dir / f".{name}.{os.getpid()}.{secrets.token_hex(4)}"
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        try:
            os.write(fd, f"{secret}\n".encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        if kept is None:
            try:
                os.link(draft, path)  # never replaces one that another server just made
            except FileExistsError:
                return keep_secret(data_dir, name, make, valid)
        else:
            os.replace(draft, path)
    except OSError as exc:
        raise ServerStartError(f"cannot write {path}: {exc}") from None
    finally:
        with contextlib.suppress(OSError):
            draft.unlink()
    return secret

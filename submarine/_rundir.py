"""Discovery files: how a local server tells its own user's clients its address and token.

A server that generated its token writes, once it listens, one file per address::

    $XDG_RUNTIME_DIR/submarine/server-127.0.0.1-8080.json    (mode 0600, in a 0700 dir)
    {"url": "http://127.0.0.1:8080", "host": "127.0.0.1", "port": 8080, "token": "...", "pid": 4242}

and removes it when it stops cleanly. Without ``XDG_RUNTIME_DIR`` (or when it is not a
private directory of this user) the files go to ``~/.submarine/run``. A server bound to
every address (``0.0.0.0``, ``::``) writes the file of the loopback address that reaches it.

Readers trust a file only when it, and the directory that holds it, belong to this user and
no one else may read or write them; a file of another address is never read for this one.
The server writes with :func:`write_discovery` and the client reads with
:func:`read_discovery`; both live here, outside the client and the server, so that they
cannot disagree on a name or a field.

>>> discovery_host("0.0.0.0"), discovery_host("::"), discovery_host("10.0.0.5")
('127.0.0.1', '::1', None)
>>> discovery_name("::1", 8080)
'server-::1-8080.json'
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

__all__ = [
    "RUNTIME_DIR_ENV",
    "Discovery",
    "discovery_dir",
    "discovery_host",
    "discovery_name",
    "read_discovery",
    "remove_discovery",
    "write_discovery",
]

RUNTIME_DIR_ENV: Final = "XDG_RUNTIME_DIR"
"""The user's runtime directory (freedesktop.org), where discovery files go when it is set."""
_MAX_FILE: Final = 64 << 10
_PRIVATE: Final = stat.S_IRWXG | stat.S_IRWXO


@dataclass(frozen=True)
class Discovery:
    """What a discovery file says."""

    host: str
    """The address it is for: a loopback address, like ``127.0.0.1`` or ``::1``."""
    port: int
    """The port the server listens on."""
    token: str
    """The server's token."""
    pid: int
    """The server's process id."""

    @property
    def url(self) -> str:
        """The server's base URL, like ``http://127.0.0.1:8080``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"


def discovery_host(host: str) -> str | None:
    """The loopback address clients of a server bound to ``host`` reach it by, or None
    when they reach it by no loopback address (then there is no discovery file)."""
    name = host.strip().strip("[]").lower()
    if name in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if name == "::":
        return "::1"
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return str(address) if address.is_loopback else None


def discovery_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where discovery files are: ``$XDG_RUNTIME_DIR/submarine`` (when it is a private
    directory of this user), else ``~/.submarine/run``.

    Raises:
        FileNotFoundError: neither is known (no runtime dir, and no home directory).
    """
    env = os.environ if environ is None else environ
    runtime = env.get(RUNTIME_DIR_ENV, "")
    if runtime and os.path.isabs(runtime) and _private_dir(Path(runtime)):
        return Path(runtime) / "submarine"
    home = env.get("HOME") or os.path.expanduser("~")
    if not os.path.isabs(home):
        raise FileNotFoundError("no home directory, and no $XDG_RUNTIME_DIR: no discovery file")
    return Path(home) / ".submarine" / "run"


def discovery_name(host: str, port: int) -> str:
    """The file name of the discovery file of ``host`` (a loopback address) and ``port``."""
    return f"server-{host}-{port}.json"


def _private_dir(path: Path) -> bool:
    """Whether ``path`` is a directory (not a link) of this user that no one else may
    enter."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return (
        stat.S_ISDIR(info.st_mode)
        and info.st_uid == os.geteuid()
        and not stat.S_IMODE(info.st_mode) & _PRIVATE
    )


def write_discovery(
    host: str, port: int, token: str, environ: Mapping[str, str] | None = None
) -> Path | None:
    """Write the discovery file of a server bound to ``host`` and listening on ``port``;
    its path, or None when it has no loopback address.

    Raises:
        OSError: the file cannot be written, or the directory is not private to this user.
    """
    address = discovery_host(host)
    if address is None:
        return None
    folder = discovery_dir(environ)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not _private_dir(folder):
        raise PermissionError(f"{folder} is not a directory of this user alone (mode 0700)")
    path = folder / discovery_name(address, port)
    found = Discovery(host=address, port=port, token=token, pid=os.getpid())
    body = {"url": found.url, "host": address, "port": port, "token": token, "pid": found.pid}
    draft = folder / f".{path.name}.{secrets.token_hex(4)}"
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(body, file)
        os.replace(draft, path)
    finally:
        with contextlib.suppress(OSError):
            draft.unlink()
    return path


def remove_discovery(path: Path) -> None:
    """Remove a discovery file this process wrote (not one that another server has
    written over it since)."""
    found = _read(path)
    if found is not None and found.pid == os.getpid():
        with contextlib.suppress(OSError):
            path.unlink()


def _read(path: Path) -> Discovery | None:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if (
            not stat.S_ISREG(info.st_mode)
            or info.st_uid != os.geteuid()
            or stat.S_IMODE(info.st_mode) & _PRIVATE
        ):
            return None
        raw = os.read(fd, _MAX_FILE)
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    host, port, token, pid = (data.get(k) for k in ("host", "port", "token", "pid"))
    if not (
        isinstance(host, str)
        and isinstance(port, int)
        and isinstance(token, str)
        and token
        and token == token.strip()
        and isinstance(pid, int)
    ):
        return None
    return Discovery(host=host, port=port, token=token, pid=pid)


def read_discovery(
    host: str, port: int, environ: Mapping[str, str] | None = None
) -> Discovery | None:
    """What the discovery file of ``host`` (a loopback address) and ``port`` says; None
    when there is none, or when it or its directory is not private to this user, or when
    it is for another address."""
    try:
        folder = discovery_dir(environ)
    except OSError:
        return None
    if not _private_dir(folder):
        return None
    found = _read(folder / discovery_name(host, port))
    if found is None or found.host != host or found.port != port:
        return None
    return found

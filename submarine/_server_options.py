"""The command-line options of the local server, defined once for its two front-ends.

``python -m submarine.server`` (argparse, :func:`submarine.server.settings.build_parser`)
and ``submarine server`` (Typer, in :mod:`submarine.cli`) are both built from
:data:`SERVER_OPTIONS`, so they take the same flags, and
:func:`submarine.server.settings.settings_from_options` reads the values of both.

The table lives outside both packages and imports nothing heavy: ``submarine`` builds its
``server`` command from it on every start, and must not load the server (asyncio) or the
models (pydantic) to do so.

>>> [option.flag for option in SERVER_OPTIONS][:3]
['--host', '--port', '--data-dir']
>>> PORT.read("0")
0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

__all__ = [
    "ALLOW_ORIGINS_ENV",
    "BACKENDS",
    "DATA_DIR_ENV",
    "DEFAULT_MAX_REPLICAS",
    "INSECURE",
    "PASSWORD",
    "PLACEMENTS",
    "PORT",
    "SECRET_FILES",
    "SERVER_OPTIONS",
    "TOKEN",
    "TOKEN_ENV",
    "TOKEN_FILE",
    "ServerOption",
]

DATA_DIR_ENV: Final = "SUBMARINE_HOME"
"""Environment variable naming the data dir (default ``~/.submarine``)."""
TOKEN_ENV: Final = "SUBMARINE_TOKEN"
"""Environment variable holding the bearer token, when ``--token`` is not given."""
ALLOW_ORIGINS_ENV: Final = "SUBMARINE_ALLOW_ORIGINS"
"""Environment variable: more origins (comma-separated) allowed to call, as ``--allow-origin``."""
DEFAULT_MAX_REPLICAS: Final = 512
"""Replica processes the server runs at once, over all experiments, unless told otherwise
(as many as one experiment may have, so no experiment that was valid becomes impossible)."""


def _text(text: str) -> str:
    return text


def _port(text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError("is not a port: give a whole number from 0 to 65535 (0 picks a free one)")
    return int(text)


def _directory(text: str) -> Path:
    if not text:
        raise ValueError("is not a path: give a directory")
    path = Path(text).expanduser()
    if path.exists() and not path.is_dir():
        raise ValueError("is a file: give a directory")
    return path


def _memory(text: str) -> int:
    if text.isdigit():
        return int(text)
    # The one import not at the top: this module is loaded by every `submarine` command,
    # the models (pydantic) only by the commands that need them.
    from submarine.models import ResourceError, Resources

    try:
        size = Resources.parse(f"memory={text}").memory_bytes
    except ResourceError:
        size = None
    if size is None:
        raise ValueError(
            "is not a size: write a number of bytes or a whole number followed by one of "
            "K, M, G, T, P, E (like 16G)"
        )
    return size


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError("is not a positive number")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise ValueError("is not a whole number of 0 or more")
    return int(text)


def _positive_count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise ValueError("is not a whole number of 1 or more")
    return int(text)


def _origins(text: str) -> tuple[str, ...]:
    """Origins like ``http://localhost:3000``, comma-separated; ``*`` allows every one."""
    origins = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        scheme, sep, rest = item.partition("://")
        if item != "*" and (
            not sep or scheme.lower() not in ("http", "https") or not rest or "/" in rest
        ):
            raise ValueError(
                "is not an origin: write scheme://host[:port] like http://localhost:3000 "
                "(no path), or * for any"
            )
        origins.append(item.lower().rstrip("/"))
    return tuple(origins)


def _hosts(text: str) -> tuple[str, ...]:
    """Host names like ``myhost.lan``, comma-separated; ``*`` allows every one."""
    hosts = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        if any(c in item for c in "/ @?#"):
            raise ValueError(
                "is not a host name: write the name or address a client puts in its Host "
                "header, like myhost.lan, 10.0.0.5 or [fd00::5], or * for any"
            )
        hosts.append(item.lower())
    return tuple(hosts)


BACKENDS: Final = ("local", "ray")
"""Where replicas run: ``local`` processes of this machine, or a ``ray`` cluster."""
PLACEMENTS: Final = ("SPREAD", "PACK", "STRICT_SPREAD")
"""How a Ray placement group lays an experiment's replicas over the cluster's nodes."""


def _backend(text: str) -> str:
    if text.lower() not in BACKENDS:
        raise ValueError(f"is not a backend: use one of {', '.join(BACKENDS)}")
    return text.lower()


def _placement(text: str) -> str:
    if text.upper() not in PLACEMENTS:
        raise ValueError(f"is not a placement strategy: use one of {', '.join(PLACEMENTS)}")
    return text.upper()


def _ray_address(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text):
        raise ValueError(
            "is not a Ray address: give host:port of the head node's GCS (like 10.0.0.5:6379), "
            "or auto"
        )
    return text.strip()


def _file(text: str) -> Path:
    if not text:
        raise ValueError("is not a path: give a file")
    path = Path(text).expanduser()
    if not path.is_file():
        raise ValueError("is not a file: give a file that holds the secret on its first line")
    return path


@dataclass(frozen=True)
class ServerOption:
    """One command-line option of the local server.

    >>> ServerOption("--gpus", "gpus", "GPU capacity", "GPUS", _count).read("two")
    Traceback (most recent call last):
    ...
    ValueError: --gpus 'two' is not a whole number of 0 or more
    """

    flag: str
    """The flag as typed, like ``--grace-period``."""
    field: str
    """The server setting it sets (a field of ``submarine.server.Settings``)."""
    help: str
    """One line for ``--help``, with the default."""
    metavar: str = ""
    """What the value is, like ``SECONDS``; empty for a switch, which takes no value."""
    convert: Callable[[str], Any] = _text
    """Reads the value's text; raises ``ValueError`` saying what is wrong with it."""
    repeatable: bool = False
    """Whether the option may be given more than once (its values are joined with commas
    and read as one list)."""

    @property
    def switch(self) -> bool:
        """Whether the option is a switch (given or not) rather than taking a value."""
        return not self.metavar

    def read(self, text: str) -> Any:
        """The value of ``text`` for this option; ``ValueError`` naming the flag, the text
        and what would be valid."""
        try:
            return self.convert(text)
        except ValueError as exc:
            raise ValueError(f"{self.flag} {text!r} {exc}") from None


TOKEN: Final = ServerOption(
    "--token",
    "token",
    f"bearer token every call must carry (default: ${TOKEN_ENV}); other users of this "
    "machine can read it in ps: prefer --token-file or the variable",
    "TOKEN",
)
TOKEN_FILE: Final = ServerOption(
    "--token-file",
    "token_file",
    "file whose first line is the bearer token (instead of --token)",
    "PATH",
    _file,
)
PASSWORD: Final = ServerOption(
    "--password",
    "password",
    "that user's password; other users of this machine can read it in ps: prefer --password-file",
    "PASSWORD",
)
SECRET_FILES: Final = {"token_file": TOKEN, "password_file": PASSWORD}
"""Options that read a secret from a file, by field, and the option of that secret: a
file's first line is the value of the secret's setting (``--token-file`` gives ``token``)."""
INSECURE: Final = ServerOption(
    "--insecure", "insecure", "allow a host other than loopback without a token"
)
PORT: Final = ServerOption(
    "--port", "port", "port to listen on; 0 picks a free one (default: 8080)", "PORT", _port
)
SERVER_OPTIONS: Final[tuple[ServerOption, ...]] = (
    ServerOption(
        "--host",
        "host",
        f"address to bind; other than loopback needs {TOKEN.flag} or {INSECURE.flag} "
        "(default: 127.0.0.1)",
        "ADDRESS",
    ),
    PORT,
    ServerOption(
        "--data-dir",
        "data_dir",
        f"where experiments are kept (default: ${DATA_DIR_ENV}, else ~/.submarine)",
        "DIR",
        _directory,
    ),
    TOKEN,
    TOKEN_FILE,
    INSECURE,
    ServerOption(
        "--username", "username", "user that POST /api/auth/token hands the token to", "NAME"
    ),
    PASSWORD,
    ServerOption(
        "--password-file",
        "password_file",
        "file whose first line is that user's password (instead of --password)",
        "PATH",
        _file,
    ),
    ServerOption("--cpus", "cpus", "CPU capacity (default: detect)", "CPUS", _positive_float),
    ServerOption(
        "--memory", "memory_bytes", "memory capacity, like 16G (default: detect)", "SIZE", _memory
    ),
    ServerOption("--gpus", "gpus", "GPU capacity (default: detect)", "GPUS", _count),
    ServerOption(
        "--workdir",
        "workdir",
        "working directory of replicas without synced code (default: the current directory)",
        "DIR",
        _directory,
    ),
    ServerOption(
        "--grace-period",
        "grace_period",
        "seconds between SIGTERM and SIGKILL when replicas are stopped (default: 5)",
        "SECONDS",
        _positive_float,
    ),
    ServerOption(
        "--allow-origin",
        "allow_origins",
        "a web origin (scheme://host:port) whose pages may call this server; repeatable "
        f"(also ${ALLOW_ORIGINS_ENV}, comma-separated); other cross-site requests get 403",
        "ORIGIN",
        _origins,
        repeatable=True,
    ),
    ServerOption(
        "--allow-host",
        "allow_hosts",
        "a name clients may put in the Host header besides this server's own addresses "
        "(repeatable); others get 421",
        "NAME",
        _hosts,
        repeatable=True,
    ),
    ServerOption(
        "--header-timeout",
        "header_timeout",
        "seconds a connection has to send a request's headers before it is closed (default: 10)",
        "SECONDS",
        _positive_float,
    ),
    ServerOption(
        "--max-connections",
        "max_connections",
        "open connections at most; past it the oldest idle one is closed "
        "(default: from the open-file limit, at most 1024)",
        "N",
        _positive_count,
    ),
    ServerOption(
        "--max-replicas",
        "max_replicas",
        "replica processes run at once over all experiments; more wait in the queue "
        f"(default: {DEFAULT_MAX_REPLICAS})",
        "COUNT",
        _positive_count,
    ),
    ServerOption(
        "--backend",
        "backend",
        "where replicas run: local (processes of this machine) or ray (a Ray cluster; "
        "needs the ray extra) (default: local)",
        "BACKEND",
        _backend,
    ),
    ServerOption(
        "--ray-address",
        "ray_address",
        "the Ray cluster of --backend ray: host:port of its head's GCS, or auto "
        "(default: $RAY_ADDRESS, else auto)",
        "ADDRESS",
        _ray_address,
    ),
    ServerOption(
        "--ray-placement",
        "ray_placement",
        "how --backend ray spreads an experiment's replicas over nodes: SPREAD, PACK or "
        "STRICT_SPREAD (default: SPREAD)",
        "STRATEGY",
        _placement,
    ),
)
"""Every option of the local server, in ``--help`` order."""

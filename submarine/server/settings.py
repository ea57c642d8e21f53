"""Settings of the local server, built from command-line arguments and the environment.

The environment (``SUBMARINE_HOME``, ``SUBMARINE_TOKEN``) is read only when settings are
built (:meth:`Settings.from_env`, :func:`settings_from_args`), never at import.

>>> settings = Settings(data_dir=Path("/tmp/sub"), workdir=Path("/tmp"))
>>> settings.host, settings.port, settings.bind_problem() is None
('127.0.0.1', 8080, True)
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from submarine.models import ResourceError, Resources

__all__ = ["Settings", "SettingsError", "build_parser", "default_data_dir", "settings_from_args"]

DATA_DIR_ENV = "SUBMARINE_HOME"
"""Environment variable naming the data dir (default ``~/.submarine``)."""
TOKEN_ENV = "SUBMARINE_TOKEN"
"""Environment variable holding the bearer token, when ``--token`` is not given."""


class SettingsError(ValueError):
    """Settings the server refuses to start with; the message says what to change."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SUBMARINE_HOME``, or ``~/.submarine`` when it is not set."""
    env = os.environ if environ is None else environ
    home = env.get(DATA_DIR_ENV)
    return Path(home).expanduser() if home else Path.home() / ".submarine"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Settings:
    """Everything the local server needs to know: where to listen, where data lives, who may call.

    Args:
        host: address to bind; anything but loopback needs ``token`` or ``insecure``.
        port: TCP port; 0 picks a free one (the listening line gives the real port).
        data_dir: where the SQLite database and experiments' files live.
        token: bearer token every request but ping and ``/api/auth/token`` must carry.
        insecure: allow a non-loopback bind without a token.
        username: user that ``POST /api/auth/token`` hands the token to.
        password: that user's password.
        cpus: CPU capacity override (None: detect).
        memory_bytes: memory capacity override in bytes (None: detect).
        gpus: GPU capacity override (None: detect).
        workdir: working directory of replicas without synced code.
        grace_period: seconds between SIGTERM and SIGKILL when stopping replicas.
        max_body_bytes: request bodies larger than this are refused with 413.
    """

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = field(default_factory=default_data_dir)
    token: str | None = None
    insecure: bool = False
    username: str | None = None
    password: str | None = None
    cpus: float | None = None
    memory_bytes: int | None = None
    gpus: int | None = None
    workdir: Path = field(default_factory=Path.cwd)
    grace_period: float = 5.0
    max_body_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise SettingsError("give both a username and a password, or neither")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range: use 0 to 65535")
        if self.token is not None and not self.token:
            raise SettingsError("the token is empty: give a non-empty token or none")
        if self.max_body_bytes < 1:
            raise SettingsError(f"max_body_bytes must be positive, got {self.max_body_bytes}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings with the data dir and token taken from the environment, then ``overrides``."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"data_dir": default_data_dir(env)}
        if env.get(TOKEN_ENV):
            values["token"] = env[TOKEN_ENV]
        values.update(overrides)
        return cls(**values)

    @property
    def loopback(self) -> bool:
        """Whether the server binds a loopback address only."""
        return _is_loopback(self.host)

    def bind_problem(self) -> str | None:
        """Why binding ``host`` is refused (non-loopback without token or insecure), or None."""
        if self.loopback or self.token or self.insecure:
            return None
        return (
            f"refusing to listen on {self.host}: anyone who can reach it could run commands "
            "on this machine; give --token (or SUBMARINE_TOKEN), or --insecure if you mean it, "
            "or bind 127.0.0.1"
        )

    def with_token(self) -> Settings:
        """These settings, with a random token when a user is configured but no token is."""
        if self.username is not None and self.token is None:
            return replace(self, token=secrets.token_urlsafe(32))
        return self

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "submarine.db"


def _memory(text: str) -> int:
    if text.isdigit():
        return int(text)
    try:
        size = Resources.parse(f"memory={text}").memory_bytes
    except ResourceError as exc:
        raise argparse.ArgumentTypeError(
            f"--memory {text!r} is not a size: write a number of bytes or a whole number "
            "followed by one of K, M, G, T, P, E (like 16G)"
        ) from exc
    assert size is not None
    return size


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of 0 or more")
    return int(text)


def build_parser(prog: str = "python -m submarine.server") -> argparse.ArgumentParser:
    """The argument parser of ``python -m submarine.server``."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a Submarine-compatible experiment server that runs experiments "
        "as local processes.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port; 0 picks a free one (8080)")
    parser.add_argument(
        "--data-dir", type=Path, help="where data lives ($SUBMARINE_HOME or ~/.submarine)"
    )
    parser.add_argument("--token", help="bearer token required on every call ($SUBMARINE_TOKEN)")
    parser.add_argument(
        "--insecure", action="store_true", help="allow a non-loopback host without a token"
    )
    parser.add_argument("--username", help="user that POST /api/auth/token hands the token to")
    parser.add_argument("--password", help="that user's password")
    parser.add_argument("--cpus", type=_positive_float, help="CPU capacity (default: detect)")
    parser.add_argument("--memory", type=_memory, help="memory capacity, like 16G (detect)")
    parser.add_argument("--gpus", type=_count, help="GPU capacity (default: detect)")
    parser.add_argument(
        "--workdir", type=Path, help="working directory of replicas (the current directory)"
    )
    parser.add_argument(
        "--grace-period",
        type=_positive_float,
        default=5.0,
        help="seconds between SIGTERM and SIGKILL (5)",
    )
    return parser


def settings_from_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from command-line arguments, falling back to the environment.

    A configured user without a token gets a random token (handed out by
    ``POST /api/auth/token``). Invalid arguments exit with status 2, as argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {
        "host": args.host,
        "port": args.port,
        "insecure": args.insecure,
        "username": args.username,
        "password": args.password,
        "cpus": args.cpus,
        "memory_bytes": args.memory,
        "gpus": args.gpus,
        "grace_period": args.grace_period,
        "workdir": (args.workdir or Path.cwd()).resolve(),
    }
    if args.data_dir is not None:
        overrides["data_dir"] = args.data_dir
    if args.token is not None:
        overrides["token"] = args.token
    try:
        settings = Settings.from_env(environ, **overrides)
    except SettingsError as exc:
        parser.error(str(exc))
    return replace(settings, data_dir=settings.data_dir.expanduser().resolve()).with_token()

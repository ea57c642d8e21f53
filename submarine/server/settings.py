"""Settings of the local server, built from command-line options and the environment.

Both command lines of the server, ``python -m submarine.server`` (:func:`build_parser`)
and ``submarine server``, are built from one table, :data:`SERVER_OPTIONS`, and both hand
the values to :func:`settings_from_options`. The environment (``SUBMARINE_HOME``,
``SUBMARINE_TOKEN``, ``SUBMARINE_ALLOW_ORIGINS``) is read only when settings are built,
never at import.

>>> settings = Settings(data_dir=Path("/tmp/sub"), workdir=Path("/tmp"))
>>> settings.host, settings.port, settings.bind_problem() is None
('127.0.0.1', 8080, True)
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import secrets
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from submarine._server_options import (
    ALLOW_ORIGINS_ENV,
    BACKENDS,
    DATA_DIR_ENV,
    DEFAULT_MAX_REPLICAS,
    INSECURE,
    PLACEMENTS,
    SECRET_FILES,
    SERVER_OPTIONS,
    TOKEN,
    TOKEN_ENV,
    ServerOption,
)

__all__ = [
    "ALLOW_ORIGINS_ENV",
    "DATA_DIR_ENV",
    "SERVER_OPTIONS",
    "TOKEN_ENV",
    "ServerOption",
    "Settings",
    "SettingsError",
    "build_parser",
    "default_data_dir",
    "read_secret",
    "settings_from_args",
    "settings_from_options",
]

logger = logging.getLogger(__name__)


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
        allow_origins: web origins (``scheme://host[:port]``, ``*`` for any) whose pages may
            call; other cross-site requests are refused with 403.
        allow_hosts: names accepted in the ``Host`` header besides the server's own
            addresses (``*`` for any); other names are refused with 421.
        header_timeout: seconds a connection has to send a request's headers.
        max_connections: open connections at most (None: from the open-file limit).
        max_replicas: replica processes run at once over all experiments.
        backend: where replicas run: ``local`` processes, or a ``ray`` cluster.
        ray_address: the Ray cluster's address (None: ``$RAY_ADDRESS``, else ``auto``).
        ray_placement: how a Ray placement group spreads an experiment's replicas:
            ``SPREAD``, ``PACK`` or ``STRICT_SPREAD``.
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
    allow_origins: tuple[str, ...] = ()
    allow_hosts: tuple[str, ...] = ()
    header_timeout: float = 10.0
    max_connections: int | None = None
    max_replicas: int = DEFAULT_MAX_REPLICAS
    backend: str = "local"
    ray_address: str | None = None
    ray_placement: str = "SPREAD"

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise SettingsError("give both a username and a password, or neither")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range: use 0 to 65535")
        if self.token is not None and not self.token:
            raise SettingsError("the token is empty: give a non-empty token or none")
        if self.max_body_bytes < 1:
            raise SettingsError(f"max_body_bytes must be positive, got {self.max_body_bytes}")
        if not self.header_timeout > 0:
            raise SettingsError(f"header_timeout must be positive, got {self.header_timeout}")
        if self.max_connections is not None and self.max_connections < 1:
            raise SettingsError(f"max_connections must be positive, got {self.max_connections}")
        if self.max_replicas < 1:
            raise SettingsError(f"max_replicas must be at least 1, got {self.max_replicas}")
        if self.backend not in BACKENDS:
            raise SettingsError(
                f"backend {self.backend!r} is unknown: use one of {', '.join(BACKENDS)}"
            )
        if self.ray_placement not in PLACEMENTS:
            raise SettingsError(
                f"ray_placement {self.ray_placement!r} is unknown: use one of "
                f"{', '.join(PLACEMENTS)}"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Settings with the data dir and token taken from the environment, then ``overrides``;
        origins in ``$SUBMARINE_ALLOW_ORIGINS`` are added to those given."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {"data_dir": default_data_dir(env)}
        if env.get(TOKEN_ENV):
            values["token"] = env[TOKEN_ENV]
        values.update(overrides)
        if env.get(ALLOW_ORIGINS_ENV):
            option = next(o for o in SERVER_OPTIONS if o.field == "allow_origins")
            try:
                extra = option.read(env[ALLOW_ORIGINS_ENV])
            except ValueError as exc:
                raise SettingsError(f"${ALLOW_ORIGINS_ENV}: {exc}") from None
            values["allow_origins"] = (*values.get("allow_origins", ()), *extra)
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
            f"on this machine; give {TOKEN.flag} (or {TOKEN_ENV}), or {INSECURE.flag} if you "
            "mean it, or bind 127.0.0.1"
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

    @property
    def secrets(self) -> tuple[str, ...]:
        """The server's own secrets (token, password): kept from replicas and logs."""
        return tuple(s for s in (self.token, self.password) if s)


def read_secret(path: Path, option: ServerOption) -> str:
    """The secret on the first line of ``path`` (surrounding whitespace dropped).

    Raises :class:`SettingsError` naming the flag and the file when it cannot be read or is
    empty; warns when other users may read the file.
    """
    flag = f"{option.flag}-file"
    try:
        text = path.read_text(encoding="utf-8")
        mode = path.stat().st_mode
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{flag} {str(path)!r} cannot be read: {exc}") from None
    lines = text.splitlines()
    secret = lines[0].strip() if lines else ""
    if not secret:
        raise SettingsError(f"{flag} {str(path)!r} is empty: put the secret on its first line")
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning(
            "%s %s can be read by other users (mode %o): chmod 600 it",
            flag,
            path,
            stat.S_IMODE(mode),
        )
    return secret


def settings_from_options(
    given: Mapping[str, str | bool | Sequence[str] | None],
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from option values as typed, falling back to the environment.

    Args:
        given: by :attr:`ServerOption.field`, the text of each option given (True for a
            switch, a list of texts for a repeatable option); None or False (or no key)
            for an option not given.
        environ: the environment (default ``os.environ``): ``SUBMARINE_HOME``,
            ``SUBMARINE_TOKEN`` and ``SUBMARINE_ALLOW_ORIGINS``.

    Paths are made absolute (``workdir`` defaults to the current directory), and a
    configured user without a token gets a random one (handed out by
    ``POST /api/auth/token``). ``--token-file`` and ``--password-file`` are read (their
    first line); ``--token`` and ``--password`` work too but get a warning, since every
    user of the machine sees them in ``ps``. Raises :class:`SettingsError` saying what to
    change.
    """
    values: dict[str, Any] = {}
    for option in SERVER_OPTIONS:
        raw = given.get(option.field)
        if raw is None or raw is False:
            continue
        if option.switch or raw is True:
            values[option.field] = True
            continue
        text = raw if isinstance(raw, str) else ",".join(str(item) for item in raw)
        if not text and not isinstance(raw, str):
            continue  # a repeatable option given no times
        try:
            values[option.field] = option.read(text)
        except ValueError as exc:
            raise SettingsError(str(exc)) from None
    for field_name, secret in SECRET_FILES.items():
        path = values.pop(field_name, None)
        if path is not None and secret.field in values:
            raise SettingsError(f"give {secret.flag} or {secret.flag}-file, not both")
        if secret.field in values:
            logger.warning(
                "%s on the command line can be read by every user of this machine (ps): "
                "give %s-file%s instead",
                secret.flag,
                secret.flag,
                f" or ${TOKEN_ENV}" if secret is TOKEN else "",
            )
        elif path is not None:
            values[secret.field] = read_secret(path, secret)
    values["workdir"] = Path(values.get("workdir") or Path.cwd()).resolve()
    settings = Settings.from_env(environ, **values)
    return replace(settings, data_dir=settings.data_dir.expanduser().resolve()).with_token()


def build_parser(prog: str = "python -m submarine.server") -> argparse.ArgumentParser:
    """The argument parser of ``python -m submarine.server``, built from SERVER_OPTIONS
    (every value is kept as text and read by :func:`settings_from_options`)."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Run a Submarine-compatible experiment server that runs experiments "
        "as local processes.",
    )
    for option in SERVER_OPTIONS:
        if option.switch:
            parser.add_argument(
                option.flag, dest=option.field, action="store_true", help=option.help
            )
        else:
            parser.add_argument(
                option.flag,
                dest=option.field,
                metavar=option.metavar,
                help=option.help,
                action="append" if option.repeatable else "store",
            )
    return parser


def settings_from_args(
    argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from command-line arguments (see :data:`SERVER_OPTIONS`), falling back to
    the environment. Invalid arguments exit with status 2 and one line saying why, as
    argparse does.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return settings_from_options(vars(args), environ)
    except SettingsError as exc:
        parser.error(str(exc))

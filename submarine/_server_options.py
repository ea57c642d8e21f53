"""The local server's settings, declared once: each field that can be given from outside
says its flag, help, environment variable and how its text is read.

:data:`SERVER_OPTIONS` lists those declarations (with a ``--FLAG-file`` option for each
secret); ``python -m submarine.server`` (argparse) and ``submarine server`` (Typer) build
their options from it, and :func:`submarine.server.settings.settings_from_options` reads
the values of both, and the environment, into :class:`Settings`.

This lives outside both packages and imports nothing heavy: ``submarine`` builds its
``server`` command from it on every start, and must not load the server (asyncio) to do so.

>>> [option.flag for option in SERVER_OPTIONS][:5]
['--host', '--port', '--data-dir', '--token', '--token-file']
>>> SERVER_OPTIONS[1].read("0")
0
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any, Final

from submarine._option_values import (
    ALLOW_ORIGINS_ENV,
    BACKENDS,
    DATA_DIR_ENV,
    DEFAULT_MAX_REPLICAS,
    DEFAULT_TRACKING_BYTES,
    DEFAULT_TRACKING_RECORDS,
    EVENT_LOOPS,
    MIN_TOKEN_LENGTH,
    PLACEMENTS,
    TOKEN_ENV,
    SettingsError,
    read_directory,
    read_file,
    read_hosts,
    read_memory,
    read_one_of,
    read_origins,
    read_port,
    read_positive_float,
    read_ray_address,
    read_text,
    read_token,
    read_whole,
    token_problem,
)

__all__ = [
    "BACKENDS",
    "PLACEMENTS",
    "SERVER_OPTIONS",
    "ServerOption",
    "Settings",
    "SettingsError",
    "default_data_dir",
]


@dataclass(frozen=True)
class ServerOption:
    """How a setting is given from outside: declared on a field of :class:`Settings`.

    >>> ServerOption("--gpus", "GPU capacity", "GPUS", read_whole(0)).read("two")
    Traceback (most recent call last):
    ...
    ValueError: --gpus 'two' is not a whole number of 0 or more
    """

    flag: str
    """The flag as typed, like ``--grace-period``."""
    help: str
    """One line for ``--help``, with the default."""
    metavar: str = ""
    """What the value is, like ``SECONDS``; empty for a switch, which takes no value."""
    convert: Callable[[str], Any] = read_text
    """Reads the value's text; raises ``ValueError`` saying what is wrong with it."""
    repeatable: bool = False
    """Whether the option may be given more than once (its values are joined with commas
    and read as one list)."""
    env: str = ""
    """The environment variable read when the flag is not given (a repeatable option's
    adds to the flags' values)."""
    secret: str = ""
    """For a secret, what it is: then a ``--FLAG-file`` option (field ``FIELD_file``)
    gives it instead, as the first line of a file."""
    field: str = ""
    """The field of :class:`Settings` it sets (``token_file`` for ``--token-file``)."""

    @property
    def switch(self) -> bool:
        """Whether the option is a switch (given or not) rather than taking a value."""
        return not self.metavar

    def read(self, text: str) -> Any:
        """The value of ``text`` for this option; ``ValueError`` naming the flag, the text
        (a secret's length only) and what would be valid."""
        try:
            return self.convert(text)
        except ValueError as exc:
            shown = "(its value not shown)" if self.secret else repr(text)
            raise ValueError(f"{self.flag} {shown} {exc}") from None


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """``$SUBMARINE_HOME``, or ``~/.submarine`` when it is not set."""
    home = (os.environ if environ is None else environ).get(DATA_DIR_ENV)
    return Path(home).expanduser() if home else Path.home() / ".submarine"


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _option(
    default: Any,
    flag: str,
    help: str,
    metavar: str = "",
    convert: Callable[[str], Any] = read_text,
    *,
    repeatable: bool = False,
    env: str = "",
    secret: str = "",
) -> Any:
    """A field of :class:`Settings` given by ``flag`` (a callable ``default`` is a factory)."""
    option = ServerOption(flag, help, metavar, convert, repeatable, env, secret)
    if callable(default):
        return field(default_factory=default, metadata={"option": option})
    return field(default=default, metadata={"option": option})


@dataclass(frozen=True)
class Settings:
    """Everything the local server needs to know: where to listen, where data lives, who may call.

    Each field that can be given from outside declares its :class:`ServerOption` (in its
    metadata), whose help says what the field is. Values are checked here too, however
    they came.
    """

    host: str = _option(
        "127.0.0.1",
        "--host",
        "address to bind; other than loopback needs --token or --insecure (default: 127.0.0.1)",
        "ADDRESS",
    )
    port: int = _option(
        8080, "--port", "port to listen on; 0 picks a free one (default: 8080)", "PORT", read_port
    )
    data_dir: Path = _option(
        default_data_dir,
        "--data-dir",
        f"where experiments are kept (default: ${DATA_DIR_ENV}, else ~/.submarine)",
        "DIR",
        read_directory,
        env=DATA_DIR_ENV,
    )
    token: str | None = _option(
        None,
        "--token",
        f"bearer token every call must carry, {MIN_TOKEN_LENGTH} characters or more "
        f"(default: ${TOKEN_ENV}, else one generated and kept in the data dir, which this "
        "user's clients find by themselves); other users of this machine can read it in "
        "ps: prefer --token-file or the variable",
        "TOKEN",
        read_token,
        env=TOKEN_ENV,
        secret="the bearer token",
    )
    insecure: bool = _option(
        False,
        "--insecure",
        "allow a host other than loopback without --token (the generated token guards it, "
        "sent in clear over the network)",
    )
    no_auth: bool = _option(
        False,
        "--no-auth",
        "no token at all, loopback only: any local user can run commands as you",
    )
    generated_token: bool = False
    """Whether :attr:`token` was generated by the server (and kept in its data dir) rather
    than given: then requests from the server's own user over loopback need none."""
    username: str | None = _option(
        None, "--username", "user that POST /api/auth/token hands the token to", "NAME"
    )
    password: str | None = _option(
        None,
        "--password",
        "that user's password; other users of this machine can read it in ps: prefer "
        "--password-file",
        "PASSWORD",
        secret="that user's password",
    )
    cpus: float | None = _option(
        None, "--cpus", "CPU capacity (default: detect)", "CPUS", read_positive_float
    )
    memory_bytes: int | None = _option(
        None, "--memory", "memory capacity, like 16G (default: detect)", "SIZE", read_memory
    )
    gpus: int | None = _option(
        None, "--gpus", "GPU capacity (default: detect)", "GPUS", read_whole(0)
    )
    workdir: Path = _option(
        Path.cwd,
        "--workdir",
        "working directory of replicas without synced code (default: the current directory)",
        "DIR",
        read_directory,
    )
    grace_period: float = _option(
        5.0,
        "--grace-period",
        "seconds between SIGTERM and SIGKILL when replicas are stopped (default: 5)",
        "SECONDS",
        read_positive_float,
    )
    stop_experiments: bool = _option(
        False,
        "--stop-experiments",
        'when the server stops, stop its running experiments too (they fail: "the server '
        'stopped"); by default they run on and the next start on this data dir adopts them',
    )
    backfill_window: float = _option(
        600.0,
        "--backfill-window",
        "seconds a queued experiment may be overtaken by newer ones that fit the free "
        "capacity; after that nothing queued after it starts first (default: 600)",
        "SECONDS",
        read_positive_float,
    )
    event_loop: str = _option(
        "auto",
        "--loop",
        "the event loop: uvloop (in C; the server extra installs it on Linux and macOS), "
        "asyncio, or auto: uvloop when it is installed (default: auto)",
        "LOOP",
        read_one_of("loop", EVENT_LOOPS, str.lower),
    )
    max_body_bytes: int = 1 << 20
    """Request bodies larger than this are refused with 413."""
    allow_origins: tuple[str, ...] = _option(
        (),
        "--allow-origin",
        "a web origin (scheme://host:port) whose pages may call this server; repeatable "
        f"(also ${ALLOW_ORIGINS_ENV}, comma-separated); other cross-site requests get 403",
        "ORIGIN",
        read_origins,
        repeatable=True,
        env=ALLOW_ORIGINS_ENV,
    )
    allow_hosts: tuple[str, ...] = _option(
        (),
        "--allow-host",
        "a name clients may put in the Host header besides this server's own addresses "
        "(repeatable); others get 421",
        "NAME",
        read_hosts,
        repeatable=True,
    )
    header_timeout: float = _option(
        10.0,
        "--header-timeout",
        "seconds a connection has to send a request's headers before it is closed (default: 10)",
        "SECONDS",
        read_positive_float,
    )
    body_timeout: float = _option(
        30.0,
        "--body-timeout",
        "seconds a request has to send its whole body, from its headers, before its "
        "connection is closed (default: 30)",
        "SECONDS",
        read_positive_float,
    )
    max_connections: int | None = _option(
        None,
        "--max-connections",
        "open connections at most; past it the one waiting longest for its client (no "
        "request, or a body not sent) is closed (default: from the open-file limit, at "
        "most 1024)",
        "N",
        read_whole(1),
    )
    max_replicas: int = _option(
        DEFAULT_MAX_REPLICAS,
        "--max-replicas",
        "replica processes run at once over all experiments; more wait in the queue "
        f"(default: {DEFAULT_MAX_REPLICAS})",
        "COUNT",
        read_whole(1),
    )
    backend: str = _option(
        "local",
        "--backend",
        "where replicas run: local (processes of this machine) or ray (a Ray cluster; "
        "needs the ray extra) (default: local)",
        "BACKEND",
        read_one_of("backend", BACKENDS, str.lower),
    )
    ray_address: str | None = _option(
        None,
        "--ray-address",
        "the Ray cluster of --backend ray: host:port of its head's GCS, or auto "
        "(default: $RAY_ADDRESS, else auto)",
        "ADDRESS",
        read_ray_address,
    )
    ray_placement: str = _option(
        "SPREAD",
        "--ray-placement",
        "how --backend ray spreads an experiment's replicas over nodes: SPREAD, PACK or "
        "STRICT_SPREAD (default: SPREAD)",
        "STRATEGY",
        read_one_of("placement strategy", PLACEMENTS, str.upper),
    )
    tracking_max_records: int = _option(
        DEFAULT_TRACKING_RECORDS,
        "--tracking-max-records",
        "metrics and params one experiment may hold; past it, adds are refused with 413 "
        f"(default: {DEFAULT_TRACKING_RECORDS:,})",
        "COUNT",
        read_whole(1),
    )
    tracking_max_bytes: int = _option(
        DEFAULT_TRACKING_BYTES,
        "--tracking-max-bytes",
        "bytes of metrics and params one experiment may hold, like 4G (a metric takes about "
        "37); past it, adds are refused with 413 (default: 2G)",
        "SIZE",
        read_memory,
    )
    artifact_max_bytes: int = _option(
        16 << 30,
        "--artifact-max-bytes",
        "bytes of saved models (artifacts) one experiment may hold, like 50G; past it, "
        "uploads are refused with 413 (default: 16G)",
        "SIZE",
        read_memory,
    )

    def __post_init__(self) -> None:
        if (self.username is None) != (self.password is None):
            raise SettingsError("give both a username and a password, or neither")
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"port {self.port} is out of range: use 0 to 65535")
        if self.token is not None and not self.token:
            raise SettingsError("the token is empty: give a non-empty token or none")
        problem = None if self.token is None else token_problem(self.token)
        if problem is not None:
            raise SettingsError(
                f"the token (--token, --token-file or ${TOKEN_ENV}) {problem}; or give none "
                "and the server generates one"
            )
        if self.no_auth and self.token is not None:
            raise SettingsError(
                "--no-auth and a token contradict each other: give one of them "
                f"(is ${TOKEN_ENV} set?)"
            )
        if self.no_auth and self.username is not None:
            raise SettingsError(
                "--no-auth and --username contradict each other: a user logs in for the "
                "token, and --no-auth has none"
            )
        if self.max_body_bytes < 1:
            raise SettingsError(f"max_body_bytes must be positive, got {self.max_body_bytes}")
        if not self.header_timeout > 0:
            raise SettingsError(f"header_timeout must be positive, got {self.header_timeout}")
        if not self.body_timeout > 0:
            raise SettingsError(f"body_timeout must be positive, got {self.body_timeout}")
        if self.max_connections is not None and self.max_connections < 1:
            raise SettingsError(f"max_connections must be positive, got {self.max_connections}")
        if self.tracking_max_records < 1 or self.tracking_max_bytes < 1:
            raise SettingsError(
                "tracking_max_records and tracking_max_bytes must be positive, got "
                f"{self.tracking_max_records} and {self.tracking_max_bytes}"
            )
        if not self.backfill_window > 0:
            raise SettingsError(f"backfill_window must be positive, got {self.backfill_window}")
        if self.artifact_max_bytes < 1:
            raise SettingsError(
                f"artifact_max_bytes must be positive, got {self.artifact_max_bytes}"
            )
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

    @property
    def loopback(self) -> bool:
        """Whether the server binds a loopback address only."""
        return _is_loopback(self.host)

    def bind_problem(self) -> str | None:
        """Why binding ``host`` is refused, or None: a host other than loopback needs a
        token given or ``insecure``, and never takes ``no_auth``."""
        if self.no_auth and not self.loopback:
            return (
                f"refusing to listen on {self.host} with --no-auth: without a token anyone "
                "who can reach it could run commands on this machine; --no-auth is for a "
                "loopback host only (127.0.0.1): drop it, and the server generates a token"
            )
        if self.loopback or (self.token and not self.generated_token) or self.insecure:
            return None
        return (
            f"refusing to listen on {self.host}: the clients of other machines could not know "
            f"the token this server generates; give --token (or {TOKEN_ENV}) and hand it to "
            "them, or --insecure if you mean to (the generated token, kept in the data dir, "
            "then crosses the network in clear), or bind 127.0.0.1"
        )

    @property
    def needs_token(self) -> bool:
        """Whether the server must generate a token (none given, and not ``no_auth``)."""
        return self.token is None and not self.no_auth

    def with_generated_token(self, token: str) -> Settings:
        """These settings with ``token``, generated by the server (see
        :attr:`generated_token`)."""
        return replace(self, token=token, generated_token=True)

    @property
    def database(self) -> Path:
        """The SQLite database file."""
        return self.data_dir / "submarine.db"

    @property
    def secrets(self) -> tuple[str, ...]:
        """The server's own secrets (token, password): kept from replicas and logs."""
        return tuple(s for s in (self.token, self.password) if s)


def _declared() -> tuple[ServerOption, ...]:
    options = []
    for declared in fields(Settings):
        option = declared.metadata.get("option")
        if option is None:
            continue
        options.append(replace(option, field=declared.name))
        if option.secret:
            text = f"file whose first line is {option.secret} (instead of {option.flag})"
            file = f"{declared.name}_file"
            options.append(ServerOption(f"{option.flag}-file", text, "PATH", read_file, field=file))
    return tuple(options)


SERVER_OPTIONS: Final = _declared()
"""Every option of the local server, in ``--help`` order: those declared on the fields of
:class:`Settings`, each secret's followed by its ``--FLAG-file``."""

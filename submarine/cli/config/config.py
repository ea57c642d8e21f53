"""The command line's settings, as Submarine 0.8.0's ``submarine config`` keeps them.

Two settings, under 0.8.0's names: ``connection.hostname`` and ``connection.port``, the
server the commands talk to when neither ``--host`` nor ``SUBMARINE_HOST`` (nor
``SUBMARINE_SERVER_DNS_NAME``/``SUBMARINE_SERVER_PORT``) names one. They are kept in the
user's configuration directory, ``$XDG_CONFIG_HOME/submarine/cli_config.yaml`` (by
default ``~/.config/submarine/cli_config.yaml``), not inside the installed package as
0.8.0 kept them, in 0.8.0's YAML form::

    connection:
      hostname: localhost
      port: 8080

Without the file, the defaults hold: the local server's address, ``localhost:8080``
(0.8.0's default port is 32080, a Kubernetes port-forward's).

0.8.0's names of the functions are kept too (``loadConfig``, ``saveConfig``,
``initConfig``), for code and tests written for it.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

__all__ = [
    "CONFIG_KEYS",
    "ConfigError",
    "ConnectionConfig",
    "SubmarineCliConfig",
    "config_path",
    "configured_host",
    "get_value",
    "initConfig",
    "init_config",
    "loadConfig",
    "load_config",
    "saveConfig",
    "save_config",
    "set_value",
]

CONFIG_KEYS: Final = ("connection.hostname", "connection.port")
"""Every setting, by its dotted name."""
HOST_VARIABLES: Final = ("SUBMARINE_HOST", "SUBMARINE_SERVER_DNS_NAME", "SUBMARINE_SERVER_PORT")
"""Environment variables that name the server, before the settings do."""


class ConfigError(ValueError):
    """A setting that cannot be read or written; the message says which and what to do."""


@dataclass
class ConnectionConfig:
    """Where the server is."""

    hostname: str = "localhost"
    """The server's host name."""
    port: int = 8080
    """The server's port."""


@dataclass
class SubmarineCliConfig:
    """The command line's settings.

    >>> SubmarineCliConfig().connection.port
    8080
    """

    connection: ConnectionConfig = field(default_factory=ConnectionConfig)
    """Where the server is."""


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    """Where the settings are kept: ``$XDG_CONFIG_HOME/submarine/cli_config.yaml``, by
    default under ``~/.config``."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "submarine" / "cli_config.yaml"


def _check_hostname(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or any(c in value for c in "/ \t\n@"):
        raise ConfigError(
            f"connection.hostname {value!r} is not a host name: give one like 'localhost' "
            "or '10.0.0.5' (no scheme, port or path)"
        )
    return value.strip()


def _check_port(value: Any) -> int:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or not 1 <= number <= 65535:
        raise ConfigError(
            f"connection.port {value!r} is not a port: give a whole number from 1 to 65535, "
            "like 8080"
        )
    return number


def _read(data: Any, where: Path) -> SubmarineCliConfig:
    connection = data.get("connection") if isinstance(data, dict) else None
    if not isinstance(connection, dict):
        raise ConfigError(
            f"{where} holds no 'connection' section: run `submarine config init` to write "
            "the defaults"
        )
    unknown = sorted(set(connection) - {"hostname", "port"})
    if unknown:
        raise ConfigError(
            f"{where}: unknown setting connection.{unknown[0]}: the settings are "
            + ", ".join(CONFIG_KEYS)
        )
    defaults = ConnectionConfig()
    return SubmarineCliConfig(
        ConnectionConfig(
            hostname=_check_hostname(connection.get("hostname", defaults.hostname)),
            port=_check_port(connection.get("port", defaults.port)),
        )
    )


def load_config(path: str | os.PathLike[str] | None = None) -> SubmarineCliConfig:
    """The settings in ``path`` (default :func:`config_path`); the defaults when there is
    no file. Raises :class:`ConfigError` for a file that cannot be read as settings."""
    where = Path(path) if path is not None else config_path()
    try:
        text = where.read_text(encoding="utf-8")
    except FileNotFoundError:
        return SubmarineCliConfig()
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror or exc}") from None
    import yaml  # only when there is a file

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"{where} is not valid YAML ({exc}): fix it, or run `submarine config init`"
        ) from None
    try:
        return _read(data, where)
    except ConfigError as exc:
        raise ConfigError(f"{exc} (in {where})") from None


def save_config(config: SubmarineCliConfig, path: str | os.PathLike[str] | None = None) -> Path:
    """Write the settings to ``path`` (default :func:`config_path`); the path written."""
    import yaml

    where = Path(path) if path is not None else config_path()
    try:
        where.parent.mkdir(parents=True, exist_ok=True)
        where.write_text(yaml.safe_dump(asdict(config)), encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {where}: {exc.strerror or exc}") from None
    return where


def init_config(path: str | os.PathLike[str] | None = None) -> Path:
    """Write the default settings (the local server's address); the path written."""
    return save_config(SubmarineCliConfig(), path)


def _split(key: str) -> tuple[str, str]:
    if key not in CONFIG_KEYS:
        raise ConfigError(f"unknown setting {key!r}: the settings are " + ", ".join(CONFIG_KEYS))
    section, _, name = key.partition(".")
    return section, name


def get_value(config: SubmarineCliConfig, key: str) -> str | int:
    """A setting by its dotted name (``connection.port``)."""
    section, name = _split(key)
    value: str | int = getattr(getattr(config, section), name)
    return value


def set_value(config: SubmarineCliConfig, key: str, text: str) -> SubmarineCliConfig:
    """The settings with one of them set from its text, checked (:class:`ConfigError`)."""
    section, name = _split(key)
    value = _check_port(text) if name == "port" else _check_hostname(text)
    changed = dataclasses.replace(getattr(config, section), **{name: value})
    return dataclasses.replace(config, **{section: changed})


def configured_host(environ: Mapping[str, str] | None = None) -> str | None:
    """The server the settings name (``http://hostname:port``), when there is a settings
    file and no environment variable names a server; else None."""
    env = os.environ if environ is None else environ
    if any(env.get(name) for name in HOST_VARIABLES):
        return None
    where = config_path(env)
    if not where.is_file():
        return None
    connection = load_config(where).connection
    return f"http://{connection.hostname}:{connection.port}"


# 0.8.0's names.
loadConfig = load_config  # noqa: N816
saveConfig = save_config  # noqa: N816
initConfig = init_config  # noqa: N816

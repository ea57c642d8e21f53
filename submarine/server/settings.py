"""Settings of the local server, read from a command line and the environment.

:class:`Settings` declares every option once (see :mod:`submarine._server_options`):
``python -m submarine.server`` (:func:`build_parser`) and ``submarine server`` take the
flags of :data:`SERVER_OPTIONS`, and both hand the values to :func:`settings_from_options`.
The environment (``SUBMARINE_HOME``, ``SUBMARINE_TOKEN``, ``SUBMARINE_ALLOW_ORIGINS``) is
read only when settings are built, never at import.

>>> settings = Settings(data_dir=Path("/tmp/sub"), workdir=Path("/tmp"))
>>> settings.host, settings.port, settings.bind_problem() is None
('127.0.0.1', 8080, True)
"""

from __future__ import annotations

import argparse
import logging
import os
import stat
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from submarine._server_options import (
    SERVER_OPTIONS,
    ServerOption,
    Settings,
    SettingsError,
    default_data_dir,
)

__all__ = [
    "SERVER_OPTIONS",
    "ServerOption",
    "Settings",
    "SettingsError",
    "build_parser",
    "default_data_dir",
    "settings_from_args",
    "settings_from_options",
]

logger = logging.getLogger(__name__)


def _read(option: ServerOption, text: str, where: str = "") -> Any:
    try:
        return option.read(text)
    except ValueError as exc:
        raise SettingsError(f"{where}{exc}") from None


def _read_secret(path: Path, flag: str) -> str:
    """The secret on the first line of ``path`` (surrounding whitespace dropped); warns when
    other users may read the file."""
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
    """Settings from option values as typed, then the environment, then the defaults.

    Args:
        given: by :attr:`ServerOption.field`, the text of each option given (True for a
            switch, a list of texts for a repeatable option); None or False (or no key)
            for an option not given.
        environ: the environment (default ``os.environ``), read for the options that
            declare a variable: a repeatable option's adds to the values given.

    Paths are made absolute. Without a token (and without ``--no-auth``) the server
    generates one when it starts (:func:`submarine.server.app.with_token`). A secret's
    ``--FLAG-file`` is read (its first line); the secret on the command line works too but
    gets a warning, since every user of the machine sees it in ``ps``. Raises
    :class:`SettingsError` saying what to change.
    """
    env = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for option in SERVER_OPTIONS:
        raw = given.get(option.field)
        if raw is None or raw is False:
            continue
        if option.switch or raw is True:
            values[option.field] = True
        elif isinstance(raw, str) or raw:  # a repeatable option may be given no times
            values[option.field] = _read(option, raw if isinstance(raw, str) else ",".join(raw))
    for secret in (option for option in SERVER_OPTIONS if option.secret):
        path = values.pop(f"{secret.field}_file", None)
        if path is not None and secret.field in values:
            raise SettingsError(f"give {secret.flag} or {secret.flag}-file, not both")
        if path is not None:
            values[secret.field] = _read_secret(path, f"{secret.flag}-file")
        elif secret.field in values:
            logger.warning(
                "%s on the command line can be read by every user of this machine (ps): "
                "give %s-file%s instead",
                secret.flag,
                secret.flag,
                f" or ${secret.env}" if secret.env else "",
            )
    for option in SERVER_OPTIONS:
        text = env.get(option.env) if option.env else None
        if not text or (option.field in values and not option.repeatable):
            continue
        value = _read(option, text, f"${option.env}: ")
        values[option.field] = (
            (*values.get(option.field, ()), *value) if option.repeatable else value
        )
    values.setdefault("data_dir", default_data_dir(env).resolve())
    return Settings(**values)


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

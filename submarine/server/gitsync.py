"""Cloning an experiment's code (``code.syncMode: git``) without leaking its credentials.

Credentials (``git.username``/``git.password``, or a ``user:password@`` in the URL) never
reach git's argv, so they show neither in ``ps`` nor in git's messages: the URL is cloned
without them, and git asks a small ``GIT_ASKPASS`` helper, which reads them from its
environment and answers only prompts for the host of the configured URL (a redirect to
another host gets nothing).

Everything but the store sees URLs through one scrubber: :func:`scrub_url` for a URL shown
in an answer (:func:`strip_credentials` splits one), :func:`scrub` for any text (log
lines, error messages). It removes every credential form, including those a URL parser
misses: a password holding an unencoded ``/``, ``?``, ``#`` or ``@`` (everything between
``://`` and the last ``@`` counts as credentials; write an ``@`` after the host as
``%40``), and the values of query parameters that carry secrets (``private_token``,
``access_token``, ``password``, ``X-Amz-Signature``, ...).

>>> scrub_url("https://bob:pa/ss#1@git.example/r.git?private_token=abc&ref=main")
'https://git.example/r.git?private_token=***&ref=main'
>>> scrub("fatal: unable to access 'https://bob:pw@git.example/r.git/': 403")
"fatal: unable to access 'https://***@git.example/r.git/': 403"
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import stat
from collections.abc import Callable, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import quote, unquote, urlsplit

from submarine.models import GitCodeSpec

__all__ = [
    "ASKPASS_SCRIPT",
    "CloneError",
    "ScrubFilter",
    "askpass_env",
    "clone",
    "query_secrets",
    "scrub",
    "scrub_url",
    "strip_credentials",
]

ASKPASS_SCRIPT: Final = """#!/bin/sh
# Written by the submarine server: answers git's credential prompts from the environment,
# for the host of the configured URL only. A prompt names what it asks for, like
#   Password for 'https://alice@git.example:8443':
# and the host is what follows the last @ (or the ://) up to the closing quote.
q="'"
described=${1#*"$q"}
described=${described%"$q"*}
scheme=${described%%://*}
host=${described#*://}
host=${host##*@}
host=${host%%/*}
asked=$(printf '%s://%s' "$scheme" "$host" | tr '[:upper:]' '[:lower:]')
if [ -z "$SUBMARINE_GIT_ORIGIN" ] || [ "$asked" != "$SUBMARINE_GIT_ORIGIN" ]; then
  echo "submarine: no credentials for $asked (they are for the configured host only)" >&2
  exit 1
fi
case "$1" in
  [Uu]sername*) printf '%s\n' "$SUBMARINE_GIT_USERNAME" ;;
  *) printf '%s\n' "$SUBMARINE_GIT_PASSWORD" ;;
esac
"""
"""The ``GIT_ASKPASS`` helper (POSIX sh); its environment is :func:`askpass_env`'s."""
_MAX_REASON_LINES = 5
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(.*)", re.DOTALL)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;#][^=&;#\s]*(?:token|pass|pwd|secret|key|sig|auth|cred)[^=&;#\s]*=)"
    r"([^&;#\s'\"<>`]*)"
)
HIDDEN: Final = "***"


class CloneError(RuntimeError):
    """A clone that failed; the message gives the reason with credentials scrubbed."""


@dataclass(frozen=True)
class _Remote:
    url: str
    username: str | None
    password: str | None


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """(scheme://, credentials, the rest) of a URL with credentials, read generously: the
    credentials are everything between ``://`` and the last ``@``."""
    match = _SCHEME.fullmatch(url)
    if match is None:
        return None
    scheme, rest = match.groups()
    at = rest.rfind("@")
    if at < 0:
        return None
    return scheme, rest[:at], rest[at + 1 :]


def _split_userinfo(userinfo: str) -> tuple[str | None, str | None]:
    user, sep, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) if sep else None)


def query_secrets(url: str) -> list[str]:
    """The values of the URL's query (and fragment) parameters that carry secrets."""
    return [m.group(2) for m in _SECRET_PARAM.finditer(url) if m.group(2)]


def scrub_url(url: str) -> str:
    """``url`` as it may be shown: without credentials (``user:password@``, however
    written) and with the values of secret query parameters replaced by ``***``."""
    found = _userinfo(url)
    if found is not None:
        url = found[0] + found[2]
    return _SECRET_PARAM.sub(lambda m: m.group(1) + (HIDDEN if m.group(2) else ""), url)


def strip_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``https://user:pw@host/repo`` into the URL as it may be shown
    (:func:`scrub_url`), the user and the password."""
    found = _userinfo(url)
    user, password = _split_userinfo(found[1]) if found is not None else (None, None)
    return scrub_url(url), user, password


def scrub(text: str, secrets: Iterable[str] = (), names: Iterable[str] = ()) -> str:
    """``text`` (a log line, an error message) with credentials replaced by ``***``.

    Every URL in it loses its credentials and its secret query values; every occurrence of
    a secret (a password, a token), raw or URL-encoded, is replaced; ``names`` (user names,
    which may be short words) only where they stand alone.
    """

    def hide_url(match: re.Match[str]) -> str:
        url = match.group(0)
        found = _userinfo(url)
        if found is not None:
            url = f"{found[0]}{HIDDEN}@{found[2]}"
        return _SECRET_PARAM.sub(lambda m: m.group(1) + (HIDDEN if m.group(2) else ""), url)

    text = _URL_IN_TEXT.sub(hide_url, text)
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, HIDDEN)
    for name in {n for n in names if n}:
        for form in {name, quote(name, safe="")}:
            text = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])", HIDDEN, text)
    return text


class ScrubFilter(logging.Filter):
    """A logging filter that passes every record through :func:`scrub` (URLs lose their
    credentials), so that no log line of the server shows one, whoever wrote it.

    >>> url = "https://a:b@h/r"
    >>> record = logging.LogRecord("x", logging.INFO, "", 0, "cloning %s", (url,), None)
    >>> ScrubFilter().filter(record), record.getMessage()
    (True, 'cloning https://***@h/r')
    """

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record's message in place; keep the record."""
        message = record.getMessage()
        scrubbed = scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def _remote(git: GitCodeSpec) -> _Remote:
    """The URL git is given (credentials out, as git itself would split them) and the
    credentials the askpass helper hands out."""
    url, user, password = git.url, None, None
    parts = urlsplit(url)
    found = _userinfo(url)
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, password = _split_userinfo(userinfo)
        if user and "ssh" in parts.scheme.lower():
            host = f"{userinfo.partition(':')[0]}@{host}"  # ssh logs in as the URL's user
        url = parts._replace(netloc=host).geturl()
    elif found is not None and ":" in found[1]:
        # A password with an unencoded / ? or #: git would not find the host; we do.
        user, password = _split_userinfo(found[1])
        url = found[0] + found[2]
    return _Remote(url, git.username or user, git.password or password)


def _origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, lower-cased, as git's prompts name it."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}".lower()


def askpass_env(url: str, username: str | None, password: str | None) -> dict[str, str]:
    """The environment :data:`ASKPASS_SCRIPT` reads: the credentials, and the origin
    (``scheme://host[:port]`` of ``url``, the URL git is given) they are for."""
    return {
        "SUBMARINE_GIT_ORIGIN": _origin(url),
        "SUBMARINE_GIT_USERNAME": username or "",
        "SUBMARINE_GIT_PASSWORD": password or "",
    }


async def clone(
    git: GitCodeSpec,
    dest: Path,
    *,
    scratch: Path,
    on_spawn: Callable[[int], None] | None = None,
    environ: Mapping[str, str] | None = None,
) -> None:
    """Clone ``git.url`` at ``git.branch`` (depth 1) into ``dest``.

    Args:
        git: the spec's repository; ``file://`` URLs work.
        dest: the directory to clone into; it must not exist yet.
        scratch: a private directory for the askpass helper (deleted again).
        on_spawn: called with git's pid (its own process group) so a crash can be
            cleaned up after.
        environ: the environment git runs in (default: the server's).

    Raises:
        CloneError: git failed; the message holds git's last lines, scrubbed of credentials.

    Cancelling the coroutine kills git's whole process group.
    """
    remote = _remote(git)
    found = _userinfo(git.url)
    userinfo = found[1] if found is not None else ""
    secrets = [userinfo if ":" in userinfo else "", remote.password or ""]
    secrets += query_secrets(git.url)
    names = (remote.username or "",)
    env = dict(os.environ if environ is None else environ)
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never")
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    if git.trust_certs:
        env["GIT_SSL_NO_VERIFY"] = "1"
    askpass = scratch / "git-askpass.sh"
    if remote.username or remote.password:
        scratch.mkdir(parents=True, exist_ok=True)
        askpass.write_text(ASKPASS_SCRIPT, encoding="utf-8")
        askpass.chmod(stat.S_IRWXU)
        env.update(askpass_env(remote.url, remote.username, remote.password))
        env["GIT_ASKPASS"] = str(askpass)
    argv = [
        "git",
        "-c",
        "credential.helper=",
        "clone",
        "--quiet",
        "--depth",
        "1",
        "--single-branch",
        "--branch",
        git.branch,
        "--",
        remote.url,
        str(dest),
    ]
    where = f"{scrub(scrub_url(remote.url), secrets, names)} (branch {git.branch!r})"
    try:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        except OSError as exc:
            raise CloneError(f"cannot run git to clone {where}: {exc.strerror or exc}") from None
        if on_spawn is not None:
            on_spawn(proc.pid)
        try:
            output, _ = await proc.communicate()
        except asyncio.CancelledError:
            with suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            raise
        if proc.returncode != 0:
            lines = output.decode("utf-8", "replace").strip().splitlines()[-_MAX_REASON_LINES:]
            said = " / ".join(line.strip() for line in lines) or "no message"
            raise CloneError(
                f"git clone of {where} failed with exit code {proc.returncode}: "
                + scrub(said, secrets, names)
            )
    finally:
        askpass.unlink(missing_ok=True)

"""Cloning an experiment's code (``code.syncMode: git``) without leaking its credentials.

Credentials (``git.username``/``git.password``, or a ``user:password@`` in the URL) never
reach git's argv, so they show neither in ``ps`` nor in git's messages: the URL is cloned
without them, and git asks a small ``GIT_ASKPASS`` helper, which reads them from its
environment and answers only prompts for the host of the configured URL (a redirect to
another host gets nothing).

Credentials are scrubbed from every message by :mod:`submarine.server.scrub`.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from submarine.models import GitCodeSpec
from submarine.server.scrub import query_secrets, scrub, scrub_url, split_userinfo, userinfo_of

__all__ = [
    "ASKPASS_SCRIPT",
    "CloneError",
    "askpass_env",
    "clone",
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


class CloneError(RuntimeError):
    """A clone that failed; the message gives the reason with credentials scrubbed."""


@dataclass(frozen=True)
class _Remote:
    url: str
    username: str | None
    password: str | None


def _remote(git: GitCodeSpec) -> _Remote:
    """The URL git is given (credentials out, as git itself would split them) and the
    credentials the askpass helper hands out."""
    url, user, password = git.url, None, None
    parts = urlsplit(url)
    found = userinfo_of(url)
    if "@" in parts.netloc:
        userinfo, _, host = parts.netloc.rpartition("@")
        user, password = split_userinfo(userinfo)
        if user and "ssh" in parts.scheme.lower():
            host = f"{userinfo.partition(':')[0]}@{host}"  # ssh logs in as the URL's user
        url = parts._replace(netloc=host).geturl()
    elif found is not None and ":" in found[1]:
        # A password with an unencoded / ? or #: git would not find the host; we do.
        user, password = split_userinfo(found[1])
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
    found = userinfo_of(git.url)
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

"""Cloning an experiment's code (``code.syncMode: git``) without leaking its credentials.

Credentials (``git.username``/``git.password``, or a ``user:password@`` in the URL) never
reach git's argv, so they show neither in ``ps`` nor in git's messages: the URL is cloned
without them, and git asks a small ``GIT_ASKPASS`` helper, which reads them from its
environment. Error messages are scrubbed of them all the same.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import stat
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from submarine.models import GitCodeSpec

__all__ = ["CloneError", "clone", "redact", "strip_credentials"]

_ASKPASS = """#!/bin/sh
# Written by the submarine server: answers git's credential prompts from the environment.
case "$1" in
  [Uu]sername*) printf '%s\\n' "$SUBMARINE_GIT_USERNAME" ;;
  *) printf '%s\\n' "$SUBMARINE_GIT_PASSWORD" ;;
esac
"""
_MAX_REASON_LINES = 5


class CloneError(RuntimeError):
    """A clone that failed; the message gives the reason with credentials scrubbed."""


@dataclass(frozen=True)
class _Remote:
    url: str
    username: str | None
    password: str | None


def strip_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``https://user:pw@host/repo`` into the bare URL, the user and the password."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    bare = urlunsplit(parts._replace(netloc=host))
    return bare, unquote(user) or None, unquote(password) if sep else None


def redact(text: str, secrets: list[str], names: tuple[str, ...] = ()) -> str:
    """``text`` with credentials replaced by ``***``.

    Every occurrence of a secret (a password, a URL holding one), raw or URL-encoded, is
    replaced; ``names`` (user names, which may be short words) only where they stand alone.
    """
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        for form in {secret, quote(secret, safe="")}:
            text = text.replace(form, "***")
    for name in {n for n in names if n}:
        for form in {name, quote(name, safe="")}:
            text = re.sub(rf"(?<![\w.-]){re.escape(form)}(?![\w.-])", "***", text)
    return text


def _remote(git: GitCodeSpec) -> _Remote:
    url, user, password = strip_credentials(git.url)
    return _Remote(url, git.username or user, git.password or password)


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
    userinfo = urlsplit(git.url).netloc.rpartition("@")[0]
    secrets = [userinfo if ":" in userinfo else "", remote.password or ""]
    names = (remote.username or "",)
    env = dict(os.environ if environ is None else environ)
    env.update(GIT_TERMINAL_PROMPT="0", GCM_INTERACTIVE="never")
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    if git.trust_certs:
        env["GIT_SSL_NO_VERIFY"] = "1"
    askpass = scratch / "git-askpass.sh"
    if remote.username or remote.password:
        scratch.mkdir(parents=True, exist_ok=True)
        askpass.write_text(_ASKPASS, encoding="utf-8")
        askpass.chmod(stat.S_IRWXU)
        env.update(
            GIT_ASKPASS=str(askpass),
            SUBMARINE_GIT_USERNAME=remote.username or "",
            SUBMARINE_GIT_PASSWORD=remote.password or "",
        )
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
    where = f"{redact(remote.url, secrets, names)} (branch {git.branch!r})"
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
                + redact(said, secrets, names)
            )
    finally:
        askpass.unlink(missing_ok=True)

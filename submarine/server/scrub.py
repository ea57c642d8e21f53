"""Credential scrubbing, in one place for the whole server.

Everything but the store sees URLs and text through one scrubber: :func:`scrub_url` for a
URL shown in an answer (:func:`strip_credentials` splits one), :func:`scrub` for any text
(log lines, error messages), :class:`ScrubFilter` for every record a log handler writes. It
removes every credential form, including those a URL parser misses: a password holding an
unencoded ``/``, ``?``, ``#`` or ``@`` (everything between ``://`` and the last ``@`` counts
as credentials; write an ``@`` after the host as ``%40``), and the values of query
parameters that carry secrets (``private_token``, ``access_token``, ``password``,
``X-Amz-Signature``, ...).

>>> scrub_url("https://bob:pa/ss#1@git.example/r.git?private_token=abc&ref=main")
'https://git.example/r.git?private_token=***&ref=main'
>>> scrub("fatal: unable to access 'https://bob:pw@git.example/r.git/': 403")
"fatal: unable to access 'https://***@git.example/r.git/': 403"
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Final
from urllib.parse import quote, unquote

__all__ = [
    "HIDDEN",
    "ScrubFilter",
    "query_secrets",
    "scrub",
    "scrub_url",
    "split_userinfo",
    "strip_credentials",
    "userinfo_of",
]

_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)(.*)", re.DOTALL)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>`]+")
_SECRET_PARAM = re.compile(
    r"(?i)([?&;#][^=&;#\s]*(?:token|pass|pwd|secret|key|sig|auth|cred)[^=&;#\s]*=)"
    r"([^&;#\s'\"<>`]*)"
)
HIDDEN: Final = "***"


def userinfo_of(url: str) -> tuple[str, str, str] | None:
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


def split_userinfo(userinfo: str) -> tuple[str | None, str | None]:
    user, sep, password = userinfo.partition(":")
    return unquote(user) or None, (unquote(password) if sep else None)


def query_secrets(url: str) -> list[str]:
    """The values of the URL's query (and fragment) parameters that carry secrets."""
    return [m.group(2) for m in _SECRET_PARAM.finditer(url) if m.group(2)]


def scrub_url(url: str) -> str:
    """``url`` as it may be shown: without credentials (``user:password@``, however
    written) and with the values of secret query parameters replaced by ``***``."""
    found = userinfo_of(url)
    if found is not None:
        url = found[0] + found[2]
    return _SECRET_PARAM.sub(lambda m: m.group(1) + (HIDDEN if m.group(2) else ""), url)


def strip_credentials(url: str) -> tuple[str, str | None, str | None]:
    """Split ``https://user:pw@host/repo`` into the URL as it may be shown
    (:func:`scrub_url`), the user and the password."""
    found = userinfo_of(url)
    user, password = split_userinfo(found[1]) if found is not None else (None, None)
    return scrub_url(url), user, password


def scrub(text: str, secrets: Iterable[str] = (), names: Iterable[str] = ()) -> str:
    """``text`` (a log line, an error message) with credentials replaced by ``***``.

    Every URL in it loses its credentials and its secret query values; every occurrence of
    a secret (a password, a token), raw or URL-encoded, is replaced; ``names`` (user names,
    which may be short words) only where they stand alone.
    """

    def hide_url(match: re.Match[str]) -> str:
        url = match.group(0)
        found = userinfo_of(url)
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

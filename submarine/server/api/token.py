"""``POST /api/auth/token``: a user and password exchanged for the token, with failed
logins limited per address (:mod:`.logins`), and on loopback per local user.

The credential is the body itself, so what an unauthenticated client can make the server
read is bounded before anything is read: an attempt is held against its address's budget
first (refused with 429 when the budget is spent, attempts in flight included), and the
body may hold :data:`LOGIN_BODY_BYTES` at most.
"""

from __future__ import annotations

import functools
import hmac
import logging
import time
from collections.abc import Mapping
from email.utils import formatdate
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from submarine.server.api.connections import EarlyAnswer
from submarine.server.api.logins import LOGIN_WINDOW, FailureLimit
from submarine.server.api.logtext import log_text
from submarine.server.api.peers import UNKNOWN, OwnUser
from submarine.server.api.rest import ApiError, dump_bytes, envelope, envelope_body, read_document
from submarine.server.api.services import ServiceEndpoint, route

__all__ = ["LOGIN_BODY_BYTES", "TOKEN_PATH", "Token", "early_refusal", "token_route"]

logger = logging.getLogger(__name__)

TOKEN_PATH: Final = "/api/auth/token"
"""Where a user and password are exchanged for the token."""
LOGIN_BODY_BYTES: Final = 4096
"""The largest login body read: a user name and a password, with room to spare."""


class Token(ServiceEndpoint):
    """``/api/auth/token``: the token, for the configured user and password."""

    async def post(self, request: Request) -> Response:
        """Check the user and password; answer the token.

        An address that failed :data:`~submarine.server.api.logins.LOGIN_FAILURES` times
        within a minute, attempts in flight counted, is refused (429, ``Retry-After``)
        before its body is read; failures are logged with the user name and address,
        never the password.
        """
        services = self._services(request)
        settings, logins = services["settings"], services["logins"]
        if settings.username is None or settings.password is None or settings.token is None:
            raise ApiError(
                401,
                "this server has no user: start it with --username and --password "
                "(and --token) to hand out tokens",
            )
        address = await _budget_key(request, services["peers"])
        # Held before the body is read: concurrent guesses cannot all pass the check.
        wait = logins.reserve(address)
        if wait is not None:
            raise _refused(address, wait)
        failed: bool | None = None
        try:
            username, password = await _credentials(request)
            # Both comparisons run every time, so timing tells nothing about which failed.
            user_ok = hmac.compare_digest(username.encode(), settings.username.encode())
            password_ok = hmac.compare_digest(password.encode(), settings.password.encode())
            failed = not (user_ok and password_ok)
        finally:
            failures = logins.release(address, failed=failed)
        if failed:
            logger.warning(
                "failed login as %s from %s (%d in the last %g s)",
                log_text(username, 64),
                address,
                failures,
                LOGIN_WINDOW,
            )
            raise ApiError(401, "Invalid username or password.")
        return envelope(result=settings.token)


def _key(address: str, uid: int | None) -> str:
    """Whose failures an attempt counts against: its client address, and on loopback, where
    every local user shares one address, the user holding its socket too (so that another
    user of the machine cannot lock the server's user out)."""
    return address if uid is None else f"{address} (uid {uid})"


async def _budget_key(request: Request, peers: OwnUser) -> str:
    address = request.client.host if request.client else "unknown"
    return _key(address, await peers.peer_uid(request.scope))


def _refused(address: str, wait: int) -> ApiError:
    return ApiError(
        429,
        f"too many failed logins from {address}: try again in {wait} s",
        headers={"Retry-After": str(wait)},
    )


@functools.lru_cache(maxsize=2)
def _http_date(second: int) -> str:
    return formatdate(second, usegmt=True)


def early_refusal(logins: FailureLimit, peers: OwnUser) -> EarlyAnswer:
    """Refuses a login from a locked-out address from the first bytes of its request, the
    same 429 as the route's, before it is parsed or reaches the app: once an address is
    locked out, guessing on costs the server a few string tests a connection.

    Requests whose request line came in pieces, and loopback ones whose user netlink
    cannot tell, take the normal way.
    """
    start = f"POST {TOKEN_PATH}".encode("ascii")

    def answer(
        data: bytes, client: tuple[str, int] | None, server: tuple[str, int | None] | None
    ) -> bytes | None:
        if not data.startswith(start) or data[len(start) : len(start) + 1] not in (b" ", b"?"):
            return None
        if client is None or server is None or server[1] is None:
            return None
        uid = peers.peer_uid_now(client, (server[0], server[1]))
        if uid is UNKNOWN:
            return None
        key = _key(client[0], uid)
        wait = logins.retry_after(key)
        if wait is None:
            return None
        error = _refused(key, wait)
        body = dump_bytes(envelope_body(error.code, message=error.message))
        head = (
            f"HTTP/1.1 429 Too Many Requests\r\n"
            f"date: {_http_date(int(time.time()))}\r\n"
            f"retry-after: {wait}\r\n"
            "content-type: application/json\r\n"
            f"content-length: {len(body)}\r\n"
            "connection: close\r\n\r\n"
        )
        return head.encode("latin-1") + body

    return answer


async def _credentials(request: Request) -> tuple[str, str]:
    """The user name and password of a login body (400 when it holds no such pair)."""
    document = await read_document(request, LOGIN_BODY_BYTES)
    if not isinstance(document, Mapping):
        raise ApiError(400, 'send {"username": "...", "password": "..."}')
    username, password = document.get("username"), document.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise ApiError(400, 'send {"username": "...", "password": "..."} as strings')
    return username, password


def token_route() -> Route:
    """The login route."""
    return route(TOKEN_PATH, Token)

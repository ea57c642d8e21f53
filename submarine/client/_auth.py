"""Authentication with Submarine, as an ``httpx.Auth`` that both clients install.

A fixed token is sent as ``Authorization: Bearer <token>``. A username and password are
exchanged for a token at ``POST /api/auth/token`` before the first request, and once more
when a request with the current token is answered 401. A lock makes concurrent requests
share one login: a request that waited for another's login uses its token.
"""

from __future__ import annotations

import json
import threading
from collections.abc import AsyncGenerator, Generator, Mapping
from typing import Final

import anyio
import httpx

from submarine.client._decode import decode, error_for_response
from submarine.client.config import Credentials
from submarine.client.errors import AuthenticationError

__all__ = ["TOKEN_PATH", "SubmarineAuth"]

TOKEN_PATH: Final = "/api/auth/token"
"""Where a username and password are exchanged for a token, below the host."""


class SubmarineAuth(httpx.Auth):
    """Bearer-token authentication; fetches the token with a username and password when
    there are some.

    :param credentials: the token, or the username and password, or neither.
    :param token_url: where to log in (``<host>/api/auth/token``).
    :param headers: headers of the login request (the client's, without Authorization).
    """

    def __init__(self, credentials: Credentials, token_url: str, headers: Mapping[str, str]):
        self.credentials = credentials
        self.token_url = token_url
        self._login_headers = {**headers, "Content-Type": "application/json"}
        self._login_headers.pop("Authorization", None)
        self._token = credentials.token
        self._thread_lock = threading.Lock()
        self._async_lock: anyio.Lock | None = None

    @property
    def _login_lock(self) -> anyio.Lock:
        """The asyncio client's login lock, made on first use: making one loads asyncio,
        which a blocking client never needs (one event loop, so no race to make it)."""
        if self._async_lock is None:
            self._async_lock = anyio.Lock()
        return self._async_lock

    def _login_request(self, request: httpx.Request) -> httpx.Request:
        creds = self.credentials
        body = {"username": creds.username, "password": creds.password}
        return httpx.Request(
            "POST",
            self.token_url,
            content=json.dumps(body, ensure_ascii=False).encode("utf-8"),
            headers=self._login_headers,
            # The request's timeout and deadline: a login is part of the call it precedes.
            extensions=dict(request.extensions),
        )

    def _take_token(self, response: httpx.Response) -> bool:
        """Keep the token of a login answer: True when there is one. A refusal of the
        username and password raises; any other failure is False (the answer is handed
        back to the client, which retries it or raises what it means)."""
        status = response.status_code
        if status in (401, 403):
            error = error_for_response(response)
            assert isinstance(error, AuthenticationError)
            raise AuthenticationError(
                status,
                f"the server refused username {self.credentials.username!r} and its "
                f"password: {error.message}",
                error.body,
                request=error.request,
            )
        if not 200 <= status < 300:
            return False
        self._token = decode(str, response)
        return True

    def _authorized(self, request: httpx.Request, token: str | None) -> httpx.Request:
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return request

    def _must_login(self, token: str | None) -> bool:
        """Whether a request about to use (or refused with) ``token`` must log in first:
        there are credentials and nobody has fetched a newer token meanwhile."""
        return self.credentials.can_login and self._token == token

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        """Authenticate a request of the blocking client."""
        token, fresh = self._token, False
        if token is None and self._must_login(None):
            with self._thread_lock:
                if self._must_login(None):
                    login = yield self._login_request(request)
                    login.read()
                    if not self._take_token(login):
                        return
                    fresh = True
            token = self._token
        response = yield self._authorized(request, token)
        if response.status_code != 401 or fresh or not self.credentials.can_login:
            return
        with self._thread_lock:
            if self._must_login(token):
                login = yield self._login_request(request)
                login.read()
                if not self._take_token(login):
                    return
        yield self._authorized(request, self._token)

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        """Authenticate a request of the asyncio client (the same steps as the blocking one)."""
        token, fresh = self._token, False
        if token is None and self._must_login(None):
            async with self._login_lock:
                if self._must_login(None):
                    login = yield self._login_request(request)
                    await login.aread()
                    if not self._take_token(login):
                        return
                    fresh = True
            token = self._token
        response = yield self._authorized(request, token)
        if response.status_code != 401 or fresh or not self.credentials.can_login:
            return
        async with self._login_lock:
            if self._must_login(token):
                login = yield self._login_request(request)
                await login.aread()
                if not self._take_token(login):
                    return
        yield self._authorized(request, self._token)

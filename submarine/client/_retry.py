"""When a request is tried again, and how long the client waits first."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass
from datetime import timezone
from typing import Final

import httpx

__all__ = ["RETRY_STATUSES", "RetryPolicy", "retry_after_seconds"]

RETRY_STATUSES: Final = frozenset({502, 503, 504})
"""Statuses a proxy answers while the server is (re)starting: worth another try."""


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """A ``Retry-After`` header as seconds from now (seconds or an HTTP date), or None."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    current = time.time() if now is None else now
    return max(0.0, when.timestamp() - current)


@dataclass(frozen=True)
class RetryPolicy:
    """When to try a request again, and how long to wait first.

    Connection errors and 502/503/504 are retried for idempotent requests (GET, PATCH,
    DELETE, ping, login); a POST that creates an experiment only when the connection was
    never made, so a retry cannot create a duplicate. 4xx answers are never retried.

    >>> RetryPolicy(max_retries=0).pause(0, True, status=503) is None
    True
    """

    max_retries: int = 2
    """How many times a request is tried again after the first attempt."""
    backoff: float = 0.5
    """Base delay in seconds: attempt n waits about ``backoff * 2**n``, with jitter."""
    max_backoff: float = 8.0
    """The longest backoff delay."""
    max_retry_after: float = 60.0
    """The longest ``Retry-After`` honoured."""

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"max_retries must be a whole number, got {self.max_retries!r}")
        if self.max_retries < 0:
            raise ValueError(f"max_retries must be 0 or more, got {self.max_retries}")
        if isinstance(self.backoff, bool) or not isinstance(self.backoff, (int, float)):
            raise TypeError(f"retry_backoff must be a number of seconds, got {self.backoff!r}")
        if self.backoff < 0:
            raise ValueError(f"retry_backoff must be 0 or more seconds, got {self.backoff}")

    def retry_error(self, attempt: int, exc: httpx.RequestError, idempotent: bool) -> bool:
        """Whether a transport error on attempt ``attempt`` (0-based) is worth another try."""
        if attempt >= self.max_retries:
            return False
        if idempotent:
            return True
        return isinstance(exc, (httpx.ConnectError, httpx.ConnectTimeout))

    def retry_status(self, attempt: int, status: int, idempotent: bool) -> bool:
        """Whether an answer with ``status`` on attempt ``attempt`` is worth another try."""
        return idempotent and status in RETRY_STATUSES and attempt < self.max_retries

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """Seconds to wait before the next attempt: ``Retry-After`` if sent, else backoff."""
        if response is not None:
            after = retry_after_seconds(response.headers.get("retry-after"))
            if after is not None:
                return min(after, self.max_retry_after)
        base: float = min(self.max_backoff, self.backoff * 2.0**attempt)
        return base * (0.5 + random.random() / 2)

    def pause(
        self,
        attempt: int,
        idempotent: bool,
        *,
        error: httpx.RequestError | None = None,
        status: int | None = None,
        response: httpx.Response | None = None,
    ) -> float | None:
        """Seconds to wait before trying attempt ``attempt`` (0-based) again after a
        transport ``error`` or an answer (its ``response``, or just its ``status``); None
        when it is not tried again."""
        if error is not None:
            return self.delay(attempt) if self.retry_error(attempt, error, idempotent) else None
        if response is not None:
            status = response.status_code
        if status is None or not self.retry_status(attempt, status, idempotent):
            return None
        return self.delay(attempt, response)

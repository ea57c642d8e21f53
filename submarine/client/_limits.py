"""How much of an answer a client holds: the answer-size cap; and where an answer's
bytes meet the call's deadline.

Every answer a client reads (the login's and a refused request's included) passes
through :class:`AnswerGuard`, an httpx response hook that replaces the answer's byte
stream with one that decodes it (gzip and deflate, a bounded piece at a time, so a small
compressed answer cannot inflate past the cap inside one read), counts what it decoded
and stops with :class:`~submarine.client.errors.ResponseTooLargeError` as soon as the
count passes ``max_answer_bytes``: an answer too large never costs more than the cap and
one piece.

The same stream checks the call's deadline (:class:`~submarine.client._deadline.Budget`,
the :data:`BUDGET` extension of the request) after every piece.
"""

from __future__ import annotations

import zlib
from collections.abc import AsyncIterator, Iterator
from typing import Final, Protocol

import httpx

from submarine.client._deadline import Budget
from submarine.client.config import DEFAULT_MAX_ANSWER_BYTES
from submarine.client.errors import InvalidResponseError, ResponseTooLargeError

__all__ = [
    "ACCEPT_ENCODING",
    "BUDGET",
    "UNCAPPED",
    "AnswerGuard",
    "check_max_answer_bytes",
    "too_large",
]

BUDGET: Final = "submarine.budget"
"""The request extension that carries a call's :class:`Budget` to the answer's stream."""
UNCAPPED: Final = "submarine.uncapped"
"""The request extension (true) of a download written to disk as it comes: no answer cap."""
ACCEPT_ENCODING: Final = "gzip, deflate"
"""The encodings the client asks for: those it can inflate a bounded piece at a time."""

_PIECE: Final = 1 << 16
"""The most one step of inflating may produce."""


# -- configuration ---------------------------------------------------------------------------


def check_max_answer_bytes(value: object) -> int | None:
    """``max_answer_bytes=`` checked: a whole number of bytes, at least 1, or None (no cap)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(
            "max_answer_bytes must be a whole number of bytes of at least 1 (the default is "
            f"{DEFAULT_MAX_ANSWER_BYTES}, 256 MiB) or None for no limit, got {value!r}"
        )
    return value


# -- decoding a bounded piece at a time ----------------------------------------------------


class _Decoder(Protocol):
    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> bytes: ...


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        if data:
            yield data

    def flush(self) -> bytes:
        return b""


_IDENTITY: Final = _Identity()


class _Inflate:
    """gzip or deflate (zlib-wrapped, else raw, as httpx reads it), at most
    :data:`_PIECE` bytes out per step."""

    def __init__(self, wbits: int, fallback: int | None = None) -> None:
        self._inflater = zlib.decompressobj(wbits)
        self._fallback = fallback
        self._first = True

    def decode(self, data: bytes) -> Iterator[bytes]:
        first, self._first = self._first, False
        try:
            out = self._inflater.decompress(data, _PIECE)
        except zlib.error:
            if not first or self._fallback is None:
                raise
            self._inflater = zlib.decompressobj(self._fallback)
            out = self._inflater.decompress(data, _PIECE)
        while True:
            if out:
                yield out
            tail = self._inflater.unconsumed_tail
            if not tail and len(out) < _PIECE:
                return
            out = self._inflater.decompress(tail, _PIECE)

    def flush(self) -> bytes:
        return self._inflater.flush()


def _decoder(content_encoding: str | None) -> _Decoder | None:
    """The decoder of a ``Content-Encoding``; None for one the client did not ask for."""
    codings = [
        coding
        for part in (content_encoding or "").split(",")
        if (coding := part.strip().lower()) and coding != "identity"
    ]
    if not codings:
        return _IDENTITY
    if codings == ["gzip"] or codings == ["x-gzip"]:
        return _Inflate(zlib.MAX_WBITS | 16)
    if codings == ["deflate"]:
        return _Inflate(zlib.MAX_WBITS, fallback=-zlib.MAX_WBITS)
    return None


# -- the answer's stream ---------------------------------------------------------------------


class _Reader:
    """Decodes, counts and times one answer's bytes."""

    def __init__(
        self, decoder: _Decoder, limit: int | None, budget: Budget | None, request: httpx.Request
    ) -> None:
        self._decoder = decoder
        self._limit = limit
        self._budget = budget
        self._request = request
        self._size = 0

    def _count(self, piece: bytes) -> bytes:
        self._size += len(piece)
        if self._limit is not None and self._size > self._limit:
            raise too_large(self._limit, self._request)
        return piece

    def take(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of a raw chunk; raises past the cap or the deadline."""
        if self._decoder is _IDENTITY:
            if raw:
                yield self._count(raw)
        else:
            try:
                for piece in self._decoder.decode(raw):
                    yield self._count(piece)
            except zlib.error as exc:
                raise self._undecodable(exc) from exc
        budget = self._budget
        if budget is not None and budget.expired():
            request = self._request
            raise budget.error(request.method, str(request.url))

    def end(self) -> Iterator[bytes]:
        """What is left in the decoder at the end of the answer."""
        try:
            tail = self._decoder.flush()
        except zlib.error as exc:
            raise self._undecodable(exc) from exc
        if tail:
            yield self._count(tail)

    def _undecodable(self, exc: zlib.error) -> httpx.DecodingError:
        return httpx.DecodingError(f"the answer cannot be inflated: {exc}", request=self._request)


def too_large(limit: int, request: httpx.Request) -> ResponseTooLargeError:
    """The error of an answer to ``request`` longer than ``limit`` bytes."""
    return ResponseTooLargeError(limit, method=request.method, path=request.url.path)


class _SyncBody(httpx.SyncByteStream):
    def __init__(self, stream: httpx.SyncByteStream, reader: _Reader) -> None:
        self._stream = stream
        self._reader = reader

    def __iter__(self) -> Iterator[bytes]:
        for raw in self._stream:
            yield from self._reader.take(raw)
        yield from self._reader.end()

    def close(self) -> None:
        self._stream.close()


class _AsyncBody(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, reader: _Reader) -> None:
        self._stream = stream
        self._reader = reader

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for raw in self._stream:
            for piece in self._reader.take(raw):
                yield piece
        for piece in self._reader.end():
            yield piece

    async def aclose(self) -> None:
        await self._stream.aclose()


class AnswerGuard:
    """The response hook of a client: every answer it reads is decoded, counted against
    ``limit`` bytes and timed against its call's :class:`Budget` (the :data:`BUDGET`
    extension of its request) while it is read.

    :param limit: the most bytes an answer may have, decoded; None for no cap.
    """

    def __init__(self, limit: int | None) -> None:
        self.limit = limit

    def _reader(self, response: httpx.Response) -> _Reader | None:
        """The reader of an answer's stream; None when it was read already (a
        ``MockTransport`` answer given as bytes), whose length is checked here."""
        request = response.request
        limit = None if request.extensions.get(UNCAPPED) else self.limit
        budget = request.extensions.get(BUDGET)
        if not isinstance(budget, Budget):
            budget = None
        if response.is_stream_consumed:
            if limit is not None and len(response.content) > limit:
                raise too_large(limit, request)
            return None
        encoding = response.headers.get("content-encoding")
        decoder = _decoder(encoding)
        if decoder is None:
            raise InvalidResponseError(
                f"{request.method} {request.url.path} answered with Content-Encoding "
                f"{encoding!r}, which the client did not ask for (it accepts "
                f"{ACCEPT_ENCODING}, which it can read a bounded piece at a time)",
                status_code=response.status_code,
                body=b"",
            )
        if decoder is _IDENTITY:
            declared = response.headers.get("content-length", "")
            if limit is not None and declared.isdigit() and int(declared) > limit:
                raise too_large(limit, request)
        else:
            # Decoded here: httpx must not decode it again.
            del response.headers["content-encoding"]
        return _Reader(decoder, limit, budget, request)

    def sync_hook(self, response: httpx.Response) -> None:
        """The blocking client's response hook."""
        reader = self._reader(response)
        if reader is not None:
            stream = response.stream
            assert isinstance(stream, httpx.SyncByteStream)
            response.stream = _SyncBody(stream, reader)

    async def async_hook(self, response: httpx.Response) -> None:
        """The asyncio client's response hook."""
        reader = self._reader(response)
        if reader is not None:
            stream = response.stream
            assert isinstance(stream, httpx.AsyncByteStream)
            response.stream = _AsyncBody(stream, reader)

"""Log answers (``GET /logs/{id}``, ``GET /logs`` and the log-stream pages) written in
bounded memory.

A pod log can be hundreds of MB. Reading it whole into a list of lines and encoding that
list took the server from 55 MB to 1.17 GB for one 300 MB log, and stalled the event loop.
Here the answer's JSON is written piece by piece while each log file is read in blocks:
a line is decoded and escaped as it comes, and one with no newline for megabytes is
written in parts of one JSON string. The bytes are those of encoding the whole answer at
once (Submarine's ExperimentLog in the envelope).

:func:`log_pieces` is a plain generator doing blocking file reads: :func:`log_response`
runs it in worker threads, one piece at a time, so the event loop keeps serving and a slow
reader holds back the reading (the server does not buffer ahead of the socket).
"""

from __future__ import annotations

import codecs
import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Final

from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from submarine.server.api.rest import dumps, envelope_body
from submarine.server.run.podlogs import ChunkPlan

__all__ = [
    "BLOCK",
    "PIECE",
    "STREAM_BLOCK",
    "STREAM_PIECE",
    "PodFiles",
    "chunk_pieces",
    "experiment_logs",
    "log_pieces",
    "log_response",
    "pod_log_pieces",
]

logger = logging.getLogger(__name__)

BLOCK: Final = 1 << 16
"""Bytes read from a log file at a time."""
PIECE: Final = 1 << 18
"""About how many characters of the answer are written at a time."""
STREAM_BLOCK: Final = 1 << 14
"""Bytes of a log read at a time for a log-stream page (:func:`chunk_pieces`)."""
STREAM_PIECE: Final = 1 << 14
"""About how many characters of a log-stream page are written at a time. With
:data:`STREAM_BLOCK`, what a client that stops reading holds on the server, besides the
connection's buffer: pages are many and short-lived, so these are small."""

PodFiles = Callable[[str], list[tuple[str, Path]]]
"""Gives an experiment's pods as (pod name, log file), in the answer's order."""


def _escaped(text: str) -> str:
    """``text`` as the inside of a JSON string (as :func:`dumps` writes it)."""
    return dumps(text)[1:-1]


def _lines(
    path: Path, start: int = 0, end: int | None = None, block: int | None = None
) -> Iterator[tuple[bool, str]]:
    """A log file's lines (of bytes ``start`` to ``end``; to its end when None) as JSON
    string pieces: (True, piece) opens a line with ``"``, (False, piece) continues or
    closes it; lines are split on ``\\n`` and decoded as
    :func:`submarine.server.run.podlogs.read_lines` does (invalid UTF-8 replaced). The file
    is read ``block`` bytes at a time (:data:`BLOCK` when None)."""
    block = BLOCK if block is None else block
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    pending = ""
    opened = False
    if end is not None and end <= start:
        return
    try:
        file = path.open("rb")
    except FileNotFoundError:
        return
    with file:
        file.seek(start)
        left = end - start if end is not None else -1
        while True:
            data = file.read(block if left < 0 else min(block, left))
            left -= len(data) if left >= 0 else 0
            text = decoder.decode(data, final=not data)
            parts = text.split("\n")
            for complete in parts[:-1]:
                yield (not opened, ("" if opened else '"') + _escaped(pending + complete) + '"')
                pending, opened = "", False
            pending += parts[-1]
            if len(pending) >= block:  # a long line: write what there is of it
                yield (not opened, ("" if opened else '"') + _escaped(pending))
                pending, opened = "", True
            if not data:
                break
    if pending or opened:
        yield (not opened, ("" if opened else '"') + _escaped(pending) + '"')


def pod_log_pieces(experiment_id: str, pods: Iterable[tuple[str, Path]]) -> Iterator[str]:
    """The JSON text of one ExperimentLog (``experimentId``, ``logContent``), in pieces."""
    yield "{" + f'"experimentId":{dumps(experiment_id)},"logContent":['
    for index, (name, path) in enumerate(pods):
        yield ("," if index else "") + f'{{"podName":{dumps(name)},"podLog":['
        first = True
        for new_line, piece in _lines(path):
            yield piece if first or not new_line else "," + piece
            first = False
        yield "]}"
    yield "]}"


def chunk_pieces(experiment_id: str, status: str, plan: ChunkPlan) -> Iterator[str]:
    """The JSON text of a log-stream page (``experimentId``, ``status``, ``pods`` with
    their ``lines``, ``cursor``, ``more``), in pieces, the lines read from the plan's spans
    as they are written."""
    yield "{" + f'"experimentId":{dumps(experiment_id)},"status":{dumps(status)},"pods":['
    for index, (name, path, start, end) in enumerate(plan.spans):
        yield ("," if index else "") + f'{{"podName":{dumps(name)},"lines":['
        first = True
        for new_line, piece in _lines(path, start, end, STREAM_BLOCK):
            yield piece if first or not new_line else "," + piece
            first = False
        yield "]}"
    yield f'],"cursor":{dumps(plan.cursor)},"more":{dumps(plan.more)}}}'


def _batched(pieces: Iterator[str], block: int) -> Iterator[bytes]:
    """Pieces joined into blocks of about ``block`` characters, UTF-8 encoded."""
    buffer: list[str] = []
    size = 0
    for piece in pieces:
        buffer.append(piece)
        size += len(piece)
        if size >= block:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


def log_pieces(result: Iterator[str], block: int | None = None) -> Iterator[bytes]:
    """The success envelope around a result written in pieces, in blocks of about
    ``block`` characters (:data:`PIECE` when None)."""
    marker = dumps("(result)")
    head, _, tail = dumps(envelope_body(result="(result)")).partition(marker)

    def everything() -> Iterator[str]:
        yield head
        yield from result
        yield tail

    return _batched(everything(), PIECE if block is None else block)


def experiment_logs(experiment_ids: Iterable[str], pod_files: PodFiles) -> Iterator[str]:
    """The JSON text of a list of ExperimentLogs, in pieces."""
    yield "["
    for index, experiment_id in enumerate(experiment_ids):
        if index:
            yield ","
        yield from pod_log_pieces(experiment_id, pod_files(experiment_id))
    yield "]"


async def log_response(pieces: Iterator[bytes]) -> Response:
    """An answer of these pieces: whole when there is one, else streamed (chunked); every
    piece is made in a worker thread."""
    done = object()

    def step() -> Any:
        return next(pieces, done)

    def close() -> None:
        close_generator = getattr(pieces, "close", None)
        if close_generator is not None:
            close_generator()

    try:
        first = await run_in_threadpool(step)
        following = await run_in_threadpool(step) if first is not done else done
    except BaseException:
        close()
        raise
    if following is done:
        return Response(first if first is not done else b"", media_type="application/json")

    async def stream() -> AsyncIterator[bytes]:
        try:
            yield first
            piece = following
            while piece is not done:
                yield piece
                piece = await run_in_threadpool(step)
        except Exception:
            logger.exception("a streamed log answer failed part way")
            raise
        finally:
            await run_in_threadpool(close)

    return StreamingResponse(stream(), media_type="application/json")

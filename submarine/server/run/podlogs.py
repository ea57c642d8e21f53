"""Pod log files: whole reads for ``logs/{id}``, incremental reads for the log-stream extension.

Each replica writes its stdout and stderr straight into its own file (the server never
pipes them), so a flood of output cannot stall the server. Reads here are bounded by the
caller's byte limit.

A cursor is an opaque string that holds, for every pod, the byte offset read so far. The
incremental read returns complete lines only (a trailing partial line is held back until
its newline arrives) unless the pods are finished.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, TypeAlias

__all__ = [
    "REASON_PREFIX",
    "ChunkPlan",
    "LogChunk",
    "LogSpan",
    "append_reason",
    "decode_cursor",
    "encode_cursor",
    "end_line",
    "has_news",
    "plan_chunk",
    "read_chunk",
    "read_lines",
    "read_span",
]

REASON_PREFIX: Final = "[submarine] "
"""The prefix of lines the server itself writes into a pod's log."""

_CURSOR_VERSION: Final = "c1."
_NEWS_WINDOW: Final = 1 << 16


@dataclass
class LogChunk:
    """New output of an experiment's pods since a cursor.

    >>> LogChunk(pods=[("exp-worker-0", ["step 1"])], cursor="c1.e30", more=False).more
    False
    """

    pods: list[tuple[str, list[str]]]
    """New complete lines since the cursor, per pod (every pod, in role order)."""
    cursor: str
    """Opaque string encoding byte offsets per pod; pass it to the next read."""
    more: bool
    """True when the byte limit cut the answer short (call again at once)."""


LogSpan: TypeAlias = tuple[str, Path, int, int]
"""Bytes of a pod's log to answer: (pod name, log file, first byte, end byte)."""


@dataclass
class ChunkPlan:
    """What a log-stream answer holds, before any line is read: the spans of every pod's
    log, the cursor after them and whether the byte limit cut the answer short."""

    spans: list[LogSpan]
    """Per pod (every pod, in role order), the bytes of its new complete lines."""
    cursor: str
    """Opaque string encoding byte offsets per pod; pass it to the next read."""
    more: bool
    """True when the byte limit cut the answer short (call again at once)."""

    @property
    def quiet(self) -> bool:
        """Whether it holds no line and nothing more is waiting."""
        return not self.more and all(end <= start for _, _, start, end in self.spans)


def _decode(data: bytes) -> list[str]:
    text = data.decode("utf-8", "replace")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def read_lines(path: Path) -> list[str]:
    """Every line of a log file so far (no file: no lines)."""
    try:
        return _decode(path.read_bytes())
    except FileNotFoundError:
        return []


def _ends_open(path: Path) -> bool:
    """Whether the file has content whose last byte is not a newline."""
    try:
        with path.open("rb") as file:
            file.seek(0, 2)
            if file.tell() == 0:
                return False
            file.seek(-1, 2)
            return file.read(1) != b"\n"
    except FileNotFoundError:
        return False


def end_line(path: Path) -> None:
    """Finish a trailing partial line with a newline, so later lines start on their own."""
    if _ends_open(path):
        with path.open("ab") as file:
            file.write(b"\n")


def append_reason(path: Path, message: str) -> None:
    """Append ``[submarine] message`` as a line of its own to a pod's log."""
    path.parent.mkdir(parents=True, exist_ok=True)
    prefix = b"\n" if _ends_open(path) else b""
    with open(
        os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600), "ab"
    ) as file:
        file.write(prefix + (REASON_PREFIX + message.replace("\n", " ") + "\n").encode())


def encode_cursor(offsets: Mapping[str, int]) -> str:
    """An opaque cursor for the given per-pod byte offsets."""
    raw = json.dumps(dict(offsets), separators=(",", ":")).encode()
    return _CURSOR_VERSION + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict[str, int]:
    """The per-pod offsets of a cursor (``None`` or ``""``: from the start).

    Raises:
        ValueError: the cursor was not made by :func:`encode_cursor`.
    """
    if not cursor:
        return {}
    bad = ValueError(
        f"cursor {cursor[:40]!r} is not valid: pass the cursor of the previous answer, "
        "or no cursor to read from the start"
    )
    if not cursor.startswith(_CURSOR_VERSION):
        raise bad
    body = cursor[len(_CURSOR_VERSION) :]
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError):
        raise bad from None
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and type(v) is int and v >= 0 for k, v in data.items()
    ):
        raise bad
    return data


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _span(
    path: Path, offset: int, budget: int, *, finished: bool, split_long: bool
) -> tuple[int, bool]:
    """Where complete lines from ``offset`` within ``budget`` bytes end: (new offset, cut
    short). Looks for the last newline from the back, a block at a time, and keeps none.

    A finished pod's last line comes even without its newline; a line longer than the
    budget comes in pieces when ``split_long``, else it waits for a bigger budget.
    """
    size = _size(path)
    if offset >= size or budget <= 0:
        return min(offset, size), offset < size
    stop = offset + min(budget, size - offset)
    cut = stop < size
    if finished and not cut:
        return stop, cut
    end = offset  # after the last newline before ``stop``, looked for from the back
    with path.open("rb") as file:
        block_end = stop
        while block_end > offset:
            block_start = max(offset, block_end - _NEWS_WINDOW)
            file.seek(block_start)
            found = file.read(block_end - block_start).rfind(b"\n")
            if found >= 0:
                end = block_start + found + 1
                break
            block_end = block_start
    if end == offset and cut and split_long:
        end = stop
    return end, cut


def plan_chunk(
    pods: Sequence[tuple[str, Path]],
    offsets: Mapping[str, int],
    limit: int,
    *,
    finished: bool,
    key: str = "",
) -> tuple[list[LogSpan], dict[str, int], bool]:
    """Which bytes of every pod's log :func:`read_chunk` answers, without keeping them:
    the caller reads and encodes each span as it writes its answer (a slow reader then
    holds back the reading instead of a whole chunk in memory).

    Returns:
        (pod name, log file, first byte, end byte) per pod, the new offsets by cursor key,
        and whether the limit cut the answer short.
    """
    limit = max(1, limit)
    keys = [name.removeprefix(key) for name, _ in pods]
    start = {k: offsets.get(k, 0) for k in keys}
    position = dict(start)
    used = 0
    cut: dict[str, bool] = {}
    share = max(1, limit // max(1, len(pods)))
    for split_long in (False, True):
        for k, (_, path) in zip(keys, pods, strict=True):
            if split_long and not (cut[k] and used < limit):
                continue
            budget = share if not split_long else limit - used
            before = position[k]
            # Only a line that kept the pod from giving anything is split: a line that
            # merely outgrows what is left of the limit waits for the next answer whole.
            position[k], cut[k] = _span(
                path,
                before,
                budget,
                finished=finished,
                split_long=split_long and before == start[k],
            )
            used += position[k] - before
    spans = [
        (name, path, start[k], max(start[k], position[k]))
        for k, (name, path) in zip(keys, pods, strict=True)
    ]
    return spans, position, any(cut.values())


def read_span(path: Path, start: int, end: int) -> list[str]:
    """The lines of a span of a log file (decoded as :func:`read_lines` does)."""
    if end <= start:
        return []
    try:
        with path.open("rb") as file:
            file.seek(start)
            return _decode(file.read(end - start))
    except FileNotFoundError:
        return []


def read_chunk(
    pods: Sequence[tuple[str, Path]],
    offsets: Mapping[str, int],
    limit: int,
    *,
    finished: bool,
    key: str = "",
) -> tuple[list[tuple[str, list[str]]], dict[str, int], bool]:
    """Read new lines of every pod from its offset, at most ``limit`` bytes in all.

    Each pod first gets an equal share of the limit, then what others left is given to
    those that had more, so one flooding pod cannot hide the others.

    Args:
        pods: (pod name, log file) in the order to answer.
        offsets: byte offsets already read, by cursor key (see ``key``).
        limit: at most this many bytes of lines are returned (at least 1 is used).
        finished: the pods have exited: a trailing partial line is returned too.
        key: a prefix removed from pod names to make the cursor's keys shorter.

    Returns:
        (pod name, new lines) per pod, the new offsets by cursor key, and whether the
        limit cut the answer short.
    """
    spans, position, more = plan_chunk(pods, offsets, limit, finished=finished, key=key)
    answer = [(name, read_span(path, start, end)) for name, path, start, end in spans]
    return answer, position, more


def has_news(
    pods: Sequence[tuple[str, Path]], offsets: Mapping[str, int], *, finished: bool, key: str = ""
) -> bool:
    """Whether some pod has output past its offset that :func:`read_chunk` would return."""
    for name, path in pods:
        offset = offsets.get(name.removeprefix(key), 0)
        size = _size(path)
        if size <= offset:
            continue
        if finished or size - offset >= _NEWS_WINDOW:
            return True
        with path.open("rb") as file:
            file.seek(offset)
            if b"\n" in file.read(size - offset):
                return True
    return False

"""Artifact paths and folder archives, shared by the replica, the server and the clients.

An artifact path is relative to an experiment's artifacts (``1/``, ``1/model.pt``,
``1/variables/variables.index``): ``/``-separated names, none empty, ``.`` or ``..``, no
control characters, at most :data:`MAX_PATH_CHARS` characters and :data:`MAX_NAME_BYTES`
bytes a name. :func:`path_problem` says what is wrong with one; nothing that passes it can
leave the folder it is taken in.

A folder travels as an uncompressed POSIX tar (PAX headers for long or non-ASCII names)
holding directories and regular files only, named relative to the folder:
:func:`tar_pieces` writes one a piece at a time from the files (never the whole archive in
memory), :func:`extract_tar` unpacks one and refuses any member that is not a plain file or
directory or whose name fails :func:`path_problem`.

Standard library only: a training process imports it.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Final

__all__ = [
    "MAX_NAME_BYTES",
    "MAX_PATH_CHARS",
    "PIECE",
    "ArchiveError",
    "extract_tar",
    "path_problem",
    "split_path",
    "tar_pieces",
]

MAX_PATH_CHARS: Final = 1024
"""The longest artifact path, in characters."""
MAX_NAME_BYTES: Final = 255
"""The longest name in an artifact path, in UTF-8 bytes (what file systems allow)."""
PIECE: Final = 1 << 20
"""Bytes of a file read at once while it is archived or copied."""
_BLOCK: Final = tarfile.BLOCKSIZE


class ArchiveError(ValueError):
    """An archive holds something that may not be unpacked (the message says what)."""


def path_problem(path: str) -> str | None:
    """What is wrong with an artifact path (a trailing ``/`` allowed), or None.

    >>> path_problem("1/model.pt") is None, path_problem("../x")
    (True, "'../x' has a '..' part: give a path inside the experiment's artifacts")
    """
    if len(path) > MAX_PATH_CHARS:
        return f"{path[:40]!r}... is {len(path)} characters long: at most {MAX_PATH_CHARS}"
    if path.startswith("/"):
        return f"{path!r} starts with '/': give a path relative to the artifacts, like 1/"
    if any(ord(c) < 32 or c in "\x7f\\" for c in path):
        return f"{path!r} holds a control character or a backslash"
    names = path.removesuffix("/").split("/") if path else []
    for name in names:
        if name in ("", ".", ".."):
            shown = "an empty" if not name else f"a {name!r}"
            return f"{path!r} has {shown} part: give a path inside the experiment's artifacts"
        try:
            size = len(name.encode("utf-8"))
        except UnicodeEncodeError:
            return f"{path!r} is not valid Unicode text"
        if size > MAX_NAME_BYTES:
            return f"{path!r} has a name of {size} bytes: at most {MAX_NAME_BYTES}"
    return None


def split_path(path: str) -> list[str]:
    """The names of a path that :func:`path_problem` passes (``ValueError`` otherwise).

    >>> split_path("1/variables/"), split_path("")
    (['1', 'variables'], [])
    """
    problem = path_problem(path)
    if problem is not None:
        raise ValueError(problem)
    return path.removesuffix("/").split("/") if path else []


def _header(name: str, kind: bytes, size: int, mode: int, mtime: float) -> bytes:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = size
    info.mode = mode
    info.mtime = int(mtime)
    return info.tobuf(format=tarfile.PAX_FORMAT, encoding="utf-8", errors="strict")


def tar_pieces(folder: Path) -> Iterator[bytes]:
    """A tar of ``folder``'s directories and regular files (names relative to it, sorted),
    a piece at a time; other kinds of file (links, sockets) are left out."""

    def walk(directory: Path, prefix: str) -> Iterator[bytes]:
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            name = f"{prefix}{entry.name}"
            if stat.S_ISDIR(info.st_mode):
                yield _header(name + "/", tarfile.DIRTYPE, 0, 0o755, info.st_mtime)
                yield from walk(Path(entry.path), name + "/")
            elif stat.S_ISREG(info.st_mode):
                yield from _file_pieces(Path(entry.path), name, info)

    yield from walk(folder, "")
    yield b"\0" * (2 * _BLOCK)


def _file_pieces(path: Path, name: str, info: os.stat_result) -> Iterator[bytes]:
    with path.open("rb") as source:
        size = os.fstat(source.fileno()).st_size
        yield _header(name, tarfile.REGTYPE, size, 0o644, info.st_mtime)
        left = size
        while left > 0:
            piece = source.read(min(PIECE, left))
            if not piece:  # shrank while read: pad, so that the archive stays readable
                piece = b"\0" * min(PIECE, left)
            left -= len(piece)
            yield piece
    if size % _BLOCK:
        yield b"\0" * (_BLOCK - size % _BLOCK)


def _checked_target(destination: Path, names: list[str]) -> Path:
    """``destination/names...``, refusing to go through a symbolic link."""
    target = destination
    for name in names:
        target = target / name
        if target.is_symlink():
            raise ArchiveError(f"{target} is a symbolic link: not written through")
    return target


def extract_tar(source: IO[bytes], destination: Path) -> list[Path]:
    """Unpack a tar read from ``source`` into ``destination`` (made if missing; files there
    are replaced), refusing links, devices and names outside it (:class:`ArchiveError`).

    Returns:
        the files written.
    """
    destination.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    try:
        with tarfile.open(fileobj=source, mode="r|") as archive:
            for member in archive:
                if not (member.isfile() or member.isdir()):
                    raise ArchiveError(f"{member.name!r} is not a file or a directory")
                problem = path_problem(member.name)
                if problem is not None or not member.name.removesuffix("/"):
                    raise ArchiveError(f"the archive names {problem or 'an empty path'}")
                target = _checked_target(destination, split_path(member.name))
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                _checked_target(destination, split_path(member.name))
                content = archive.extractfile(member)
                assert content is not None  # a regular file has content
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
                with os.fdopen(os.open(target, flags, 0o644), "wb") as out:
                    while piece := content.read(PIECE):
                        out.write(piece)
                written.append(target)
    except tarfile.TarError as exc:
        raise ArchiveError(f"the archive cannot be read: {exc}") from None
    return written

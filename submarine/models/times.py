"""Times as Submarine writes them: read as aware datetimes, written back unchanged.

Submarine 0.8.0 writes ``2023-05-23T09:01:12Z`` (UTC, seconds); 0.7.0 and older wrote
``2022-03-14T16:03:10.000+08:00``. A time read from a server is a :class:`WireTime`, an
aware ``datetime`` that remembers its text and is written back as exactly that text; a
text that is not a time stays a string.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Annotated, Any

from pydantic import PlainSerializer, PlainValidator
from pydantic_core import PydanticCustomError
from typing_extensions import Self

__all__ = ["SubmarineTime", "WireTime", "format_time", "wire_text"]


def format_time(value: datetime) -> str:
    """Submarine 0.8.0's time format, in UTC to the second: ``2023-05-23T09:01:12Z``.

    A naive time is taken as UTC.
    """
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    utc = value if value.tzinfo is timezone.utc else value.astimezone(timezone.utc)
    # isoformat, not strftime: faster (a list answer formats four times an experiment), and
    # years of four digits, as Java's yyyy writes them (glibc's %Y writes year 5 as "5").
    return utc.replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


class WireTime(datetime):
    """An aware ``datetime`` read from a server's text, written back as that very text.

    >>> t = WireTime.from_text("2022-03-14T16:03:10.000+08:00")
    >>> t.isoformat(), t.text
    ('2022-03-14T16:03:10+08:00', '2022-03-14T16:03:10.000+08:00')

    A time computed from it (``t + timedelta(1)``, ``t.replace(...)``) has no text and is
    written in Submarine's format (:func:`format_time`). A text without an offset is UTC.
    """

    __slots__ = ("_text",)
    _text: str

    @classmethod
    def from_text(cls, text: str) -> Self:
        """Read an ISO 8601 time (``...Z`` or ``...+08:00``); ``ValueError`` if it is not one."""
        try:
            moment = cls.fromisoformat(text)
        except ValueError:
            if not text.endswith(("Z", "z")):
                raise
            moment = cls.fromisoformat(text[:-1] + "+00:00")  # Python 3.10 reads no "Z"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        moment._text = text
        return moment

    @property
    def text(self) -> str | None:
        """The text this time was read from, or None for a computed time."""
        text: str | None = getattr(self, "_text", None)
        return text

    def __reduce_ex__(self, protocol: Any) -> Any:
        text = self.text
        if text is None:
            return super().__reduce_ex__(protocol)
        return (type(self).from_text, (text,))


def _read(value: Any) -> datetime | str:
    if isinstance(value, str):
        try:
            return WireTime.from_text(value)
        except ValueError:
            return value
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
    raise PydanticCustomError(
        "time",
        "a time must be a string like '2023-05-23T09:01:12Z', got {value}",
        {"value": repr(value)},
    )


def wire_text(value: datetime | str) -> str:
    """A time as it goes on the wire: the text it was read from, else Submarine's format
    (:func:`format_time`); a text that is not a time, as it is."""
    if isinstance(value, WireTime) and value.text is not None:
        return value.text
    if isinstance(value, datetime):
        return format_time(value)
    return value


SubmarineTime = Annotated[
    datetime | str,
    PlainValidator(_read, json_schema_input_type=str),
    PlainSerializer(wire_text, return_type=str),
]
"""A time a server sent: an aware :class:`WireTime` written back as received, or the text
itself when it is not a time. A ``datetime`` given in Python is written by
:func:`format_time`."""

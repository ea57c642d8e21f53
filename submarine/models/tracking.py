"""What training jobs record: metrics (a number per step and worker) and params.

The shapes are those of Submarine 0.8.0's workbench (``/api/metric``, ``/api/param``): a
metric is ``{id, key, value, workerIndex, timestamp, step, isNan}``, where ``id`` is the
experiment id; a param is ``{id, key, value, workerIndex}``. Both read the answers of the
local server and of Submarine 0.8.0 alike:

* ``timestamp``: the local server sends milliseconds since the epoch; 0.8.0 sends the text
  ``"yyyy-MM-dd HH:mm:ss"``, its server's wall-clock time to the second with no zone, which
  is read as UTC (the zone 0.8.0's server image runs in; a server run in another zone gives
  times off by its offset). Either way :attr:`Metric.timestamp` is a :class:`Millis`, an
  ``int`` of milliseconds that keeps the text it was read from (``.text``).
* ``value`` is the value as logged: NaN when ``isNan`` is true (0.8.0 stores it as 0, older
  local servers sent null), an infinity where the store holds the largest number it can
  (±1.7976931348623157e308; in 0.8.0's answers, anything at or past ±3.40282e38, the
  largest number of 0.8.0's single-precision column as MySQL writes it).
* 0.8.0's rows also carry its ``BaseEntity`` keys (``createBy``, ``createTime``,
  ``updateBy``, ``updateTime``: the time of the query, not of the record).

``to_dict()`` gives back what the server sent (0, null or the text), as for every payload.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timezone
from typing import Annotated, Any, Final

from pydantic import PlainSerializer, PlainValidator, PrivateAttr, field_serializer, model_validator
from pydantic_core import PydanticCustomError
from typing_extensions import Self

from submarine.models._base import PayloadModel

__all__ = ["Metric", "Millis", "Param"]

_LARGEST: Final = 1.7976931348623157e308
_FLOAT32_SHOWN: Final = 3.40282e38
"""The largest number of 0.8.0's single-precision ``value`` column, as MySQL writes it
(six digits): where an infinity was stored."""
_TIME_TEXT: Final = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(\.\d{1,9})?")


class Millis(int):
    """Milliseconds since the epoch, read from a number or from 0.8.0's text, which it keeps.

    >>> m = Millis.from_text("2023-05-23 09:01:12")
    >>> int(m), m.text
    (1684832472000, '2023-05-23 09:01:12')
    """

    text: str | None = None
    """The text it was read from (0.8.0's ``"yyyy-MM-dd HH:mm:ss"``), or None."""

    @classmethod
    def from_text(cls, text: str) -> Self:
        """Read 0.8.0's zone-less ``"yyyy-MM-dd HH:mm:ss"`` as UTC; ``ValueError`` if it
        is not such a time."""
        if _TIME_TEXT.fullmatch(text.strip()) is None:
            raise ValueError(f"not a time like '2023-05-23 09:01:12': {text!r}")
        moment = datetime.fromisoformat(text.strip()[:23].replace(" ", "T"))
        moment = moment.replace(tzinfo=timezone.utc)
        whole = int(moment.replace(microsecond=0).timestamp()) * 1000
        made = cls(whole + moment.microsecond // 1000)
        made.text = text
        return made

    @property
    def when(self) -> datetime:
        """The time as an aware ``datetime`` in UTC."""
        return datetime.fromtimestamp(self / 1000, tz=timezone.utc)

    def __reduce__(self) -> Any:
        if self.text is not None:
            return (type(self).from_text, (self.text,))
        return (type(self), (int(self),))


def _read_time(value: Any) -> Any:
    if isinstance(value, bool):
        raise PydanticCustomError(
            "time", "a timestamp must be a number, got {value}", {"value": value}
        )
    if isinstance(value, Millis):
        return value
    if isinstance(value, int):
        return Millis(value)
    if isinstance(value, float) and value.is_integer():
        return Millis(int(value))
    if isinstance(value, str):
        try:
            return Millis.from_text(value)
        except ValueError:
            return value  # a text that is not a time stays as it came
    raise PydanticCustomError(
        "time",
        "a timestamp must be milliseconds or a text like '2023-05-23 09:01:12', got {value}",
        {"value": repr(value)},
    )


def _write_time(value: Any) -> Any:
    if isinstance(value, Millis) and value.text is not None:
        return value.text
    return int(value) if isinstance(value, int) else value


MetricTime = Annotated[
    int | str,
    PlainValidator(_read_time, json_schema_input_type=int | str),
    PlainSerializer(_write_time),
]
"""A metric's time: :class:`Millis` (a text that is no time stays a string)."""


class Metric(PayloadModel):
    """One recorded value of a metric, as a server sends it, with the value as logged.

    >>> m = Metric.model_validate({"id": "experiment-1-0001", "key": "loss", "value": 0,
    ...     "workerIndex": "worker-0", "timestamp": "2023-05-23 09:01:12", "step": 3,
    ...     "isNan": True})
    >>> m.value, m.step, int(m.timestamp), m.to_dict()["value"]
    (nan, 3, 1684832472000, 0.0)
    """

    id: str
    """The experiment id."""
    key: str
    """The metric's name, e.g. ``loss``."""
    value: float | None = None
    """The value as logged: NaN when :attr:`is_nan`, an infinity where the server holds the
    largest number it can (see the module)."""
    worker_index: str | None = None
    """Which replica logged it, e.g. ``worker-0``, ``ps-1`` or ``master-0``."""
    timestamp: MetricTime | None = None
    """When it was logged: milliseconds since the epoch (:class:`Millis`)."""
    step: int | None = None
    """The training step it belongs to (0 when it was logged without one)."""
    is_nan: bool | None = None
    """Whether the value was NaN."""
    create_by: str | None = None
    """0.8.0's ``BaseEntity``: always null."""
    create_time: str | None = None
    """0.8.0's ``BaseEntity``: the time of the query (``"yyyy-MM-dd HH:mm:ss"``), not of
    the record."""
    update_by: str | None = None
    """0.8.0's ``BaseEntity``: always null."""
    update_time: str | None = None
    """0.8.0's ``BaseEntity``: the time of the query, as :attr:`create_time`."""

    _sent: tuple[float | None] | None = PrivateAttr(default=None)
    """The value as sent, when it differs from the value as logged."""

    @model_validator(mode="after")
    def _as_logged(self) -> Self:
        """NaN and infinities as logged (the value sent is kept for ``to_dict``)."""
        value = self.value
        if self.is_nan:
            logged = math.nan
        elif value is None or not isinstance(value, float) or not math.isfinite(value):
            return self
        elif abs(value) >= _LARGEST or (abs(value) >= _FLOAT32_SHOWN and self._from_080()):
            logged = math.copysign(math.inf, value)
        else:
            return self
        given = "value" in self.model_fields_set
        self._sent = (value,)
        self.value = logged
        if not given:
            self.model_fields_set.discard("value")
        return self

    def _from_080(self) -> bool:
        """Whether this row is an answer of Submarine 0.8.0 (its time is a text)."""
        stamp = self.timestamp
        return (
            self.create_time is not None
            or isinstance(stamp, str)
            or (isinstance(stamp, Millis) and stamp.text is not None)
        )

    @field_serializer("value")
    def _value_sent(self, value: float | None) -> float | None:
        return value if self._sent is None else self._sent[0]


class Param(PayloadModel):
    """One recorded parameter of a run, as a server sends it.

    >>> Param.model_validate({"id": "experiment-1-0001", "key": "lr", "value": "0.1",
    ...     "workerIndex": "worker-0"}).value
    '0.1'
    """

    id: str
    """The experiment id."""
    key: str
    """The parameter's name, e.g. ``learning_rate``."""
    value: str | None = None
    """Its value, as text."""
    worker_index: str | None = None
    """Which replica logged it."""
    create_by: str | None = None
    """0.8.0's ``BaseEntity``: always null."""
    create_time: str | None = None
    """0.8.0's ``BaseEntity``: the time of the query (``"yyyy-MM-dd HH:mm:ss"``), not of
    the record."""
    update_by: str | None = None
    """0.8.0's ``BaseEntity``: always null."""
    update_time: str | None = None
    """0.8.0's ``BaseEntity``: the time of the query, as :attr:`create_time`."""

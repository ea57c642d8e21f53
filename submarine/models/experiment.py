"""What a server says about experiments: payload types, nothing refused, nothing lost.

Every model here keeps the keys it does not know and gives back, in ``to_dict()``, exactly
what was received (times as their text, nulls as nulls), however it was parsed.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final, overload

from pydantic import Field, ValidationError

from submarine.models._base import PayloadModel
from submarine.models.payloads import ExperimentSpecPayload
from submarine.models.times import SubmarineTime, format_time

__all__ = [
    "Experiment",
    "ExperimentList",
    "ExperimentLog",
    "ExperimentStatus",
    "PodLog",
    "format_time",
    "parse_status",
]


class ExperimentStatus(str, enum.Enum):
    """The life cycle of an experiment on a Submarine server."""

    ACCEPTED = "Accepted"
    CREATED = "Created"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETED = "Deleted"

    @property
    def is_terminal(self) -> bool:
        """Whether the experiment is done: Succeeded, Failed or Deleted."""
        return self in TERMINAL_STATUSES

    def __str__(self) -> str:
        return self.value


TERMINAL_STATUSES: Final = frozenset(
    {ExperimentStatus.SUCCEEDED, ExperimentStatus.FAILED, ExperimentStatus.DELETED}
)


def parse_status(value: str) -> ExperimentStatus:
    """Match a status name case-insensitively; a ``ValueError`` lists the valid ones."""
    for member in ExperimentStatus:
        if member.value.lower() == value.strip().lower():
            return member
    raise ValueError(
        f"unknown experiment status {value!r}: choose one of "
        + ", ".join(m.value for m in ExperimentStatus)
    )


class Experiment(PayloadModel):
    """An experiment as the server reports it: id, status, times and the stored spec.

    >>> exp = Experiment.model_validate({"experimentId": "experiment-1647192232698-0001",
    ...                                  "status": "Running"})
    >>> exp.status.is_terminal, exp["experimentId"]
    (False, 'experiment-1647192232698-0001')
    """

    experiment_id: str
    """Server-assigned id, like experiment-1647192232698-0001."""
    uid: str | None = None
    """Unique id of the experiment's Kubernetes resource."""
    name: str | None = None
    """The experiment name; older servers repeat it here."""
    status: ExperimentStatus | str | None = Field(default=None, union_mode="left_to_right")
    """Accepted, Created, Running, Succeeded, Failed or Deleted (other strings are kept)."""
    accepted_time: SubmarineTime | None = None
    """When the server accepted the experiment."""
    created_time: SubmarineTime | None = None
    """When its replicas were created."""
    running_time: SubmarineTime | None = None
    """When all its replicas were running."""
    finished_time: SubmarineTime | None = None
    """When it succeeded, failed or was deleted."""
    spec: ExperimentSpecPayload | None = None
    """The spec as stored, with meta.experimentId filled in (submit it again through
    ``ExperimentSpec.model_validate(experiment.spec)`` or ``create_experiment``)."""
    reason: str | None = None
    """Why it waits (its place in the queue and what it needs) or why it failed (the
    failing pod and its exit code or signal), in one line; sent by the local server only
    (Submarine 0.8.0 has no such field), null when there is nothing to say."""

    @property
    def is_terminal(self) -> bool:
        """Whether the experiment is Succeeded, Failed or Deleted."""
        return isinstance(self.status, ExperimentStatus) and self.status.is_terminal

    @property
    def status_name(self) -> str:
        """The status as a plain string (``""`` when the server sent none)."""
        return str(self.status) if self.status is not None else ""


class PodLog(PayloadModel):
    """The output of one replica ("pod"): its name and its lines so far."""

    pod_name: str
    """{experimentId}-{role lower-case}-{index}."""
    pod_log: list[str] | None = None
    """The pod's output so far, one string a line."""

    @property
    def lines(self) -> list[str]:
        """The log lines (empty when the server sent none)."""
        return self.pod_log or []


class ExperimentLog(PayloadModel):
    """The logs of an experiment's pods, as ``logs/{id}`` returns them."""

    experiment_id: str
    """The experiment these logs belong to."""
    log_content: list[PodLog] | None = None
    """One entry a pod."""

    @property
    def pods(self) -> list[PodLog]:
        """The pods and their logs (empty when the server sent none)."""
        return self.log_content or []


class ExperimentList(Sequence[Experiment]):
    """Experiments as a server listed them: a sequence validated item by item, when read.

    Each item is kept as the server sent it (a dict) and becomes an :class:`Experiment`
    the first time it is read (``Experiment.model_validate`` of it), which is then kept.
    ``len()``, indexing, slicing (another ``ExperimentList``), iteration, ``in`` and ``==``
    with a list of experiments work as on a list; ``list(...)`` of it is a plain list.

    >>> items = ExperimentList([{"experimentId": "experiment-1-0001", "status": "Running"}])
    >>> len(items), items[0].status_name, items.with_status("running") == items
    (1, 'Running', True)

    :param raw: the items, each a dict with at least a string ``experimentId``.
    :param invalid: called with the index and the ``ValidationError`` of an item that is
        not an experiment, when it is read; the exception it returns is raised instead
        (a client turns it into its own error). By default the ``ValidationError`` is raised.
    """

    __slots__ = ("_invalid", "_items", "_raw")

    def __init__(
        self,
        raw: list[dict[str, Any]],
        *,
        invalid: Callable[[int, ValidationError], Exception] | None = None,
    ) -> None:
        self._raw = raw
        self._items: list[Experiment | None] = [None] * len(raw)
        self._invalid = invalid

    @classmethod
    def of(cls, experiments: Iterable[Experiment]) -> ExperimentList:
        """A list of experiments that are already validated."""
        items = list(experiments)
        made = cls([item.to_dict() for item in items])
        made._items = list(items)
        return made

    def __len__(self) -> int:
        return len(self._raw)

    def _item(self, index: int) -> Experiment:
        item = self._items[index]
        if item is None:
            try:
                item = Experiment.model_validate(self._raw[index])
            except ValidationError as exc:
                if self._invalid is None:
                    raise
                raise self._invalid(index, exc) from exc
            self._items[index] = item
        return item

    @overload
    def __getitem__(self, index: int) -> Experiment: ...

    @overload
    def __getitem__(self, index: slice) -> ExperimentList: ...

    def __getitem__(self, index: int | slice) -> Experiment | ExperimentList:
        if isinstance(index, slice):
            part = ExperimentList(self._raw[index], invalid=self._invalid)
            part._items = self._items[index]
            return part
        count = len(self._raw)
        position = index + count if index < 0 else index
        if not 0 <= position < count:
            raise IndexError(f"experiment index {index} is out of range: there are {count}")
        return self._item(position)

    def __iter__(self) -> Iterator[Experiment]:
        for index in range(len(self._raw)):
            yield self._item(index)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, ExperimentList):
            return self._raw == other._raw
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes, bytearray)):
            return len(other) == len(self) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    def __repr__(self) -> str:
        return f"ExperimentList({list(self)!r})"

    def to_list(self) -> list[dict[str, Any]]:
        """Every experiment in the documented dict shape (``to_dict()`` of each)."""
        return [item.to_dict() for item in self]

    def with_status(self, status: str) -> ExperimentList:
        """The experiments whose status is ``status`` (any case), kept in order.

        Only the raw status strings are read: nothing is validated for the filter.
        """
        wanted = str(status).lower()
        keep = [
            index
            for index, item in enumerate(self._raw)
            if isinstance(item.get("status"), str) and item["status"].lower() == wanted
        ]
        part = ExperimentList([self._raw[i] for i in keep], invalid=self._invalid)
        part._items = [self._items[i] for i in keep]
        return part

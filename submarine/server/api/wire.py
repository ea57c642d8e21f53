"""What the local server writes and reads on the wire: payloads as Submarine 0.8.0 writes them.

Submarine 0.8.0 serializes with Gson's ``serializeNulls``: every field of its Java classes is
written, nulls included. The payloads here are built from the stored spec with the fixed
field list of each of those classes (:data:`EXPERIMENT_FIELDS`, :data:`SPEC_FIELDS`, ...), so
an answer has the same keys whatever was stored; a key the classes do not have is not
written. Times are 0.8.0's: UTC, whole seconds, ``Z`` (:func:`format_time`).

Git credentials (``code.git.password`` and a password in ``code.git.url``) are kept in the
store for the runner but never written to an answer: the password is always null there, and
a patch that repeats the repository without them keeps the stored ones
(:func:`keep_credentials`).

A list answer is written batch by batch (:class:`ListAnswer`), so a big list is neither
held whole in memory nor written on the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any, Final

from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response, StreamingResponse

from submarine.models import ExperimentSpec, format_time, problems_of
from submarine.server.api.rest import dump_bytes, envelope_body
from submarine.server.scrub import strip_credentials
from submarine.server.store.experiments import ExperimentRecord, RecordBatch

__all__ = [
    "ADDED_FIELDS",
    "CODE_FIELDS",
    "ENVIRONMENT_FIELDS",
    "EXPERIMENT_FIELDS",
    "GIT_FIELDS",
    "KERNEL_FIELDS",
    "MAX_REPLICAS",
    "META_FIELDS",
    "NAMESPACE",
    "SPEC_FIELDS",
    "TASK_FIELDS",
    "ListAnswer",
    "SpecError",
    "experiment_payload",
    "keep_credentials",
    "list_response",
    "log_payload",
    "read_spec",
    "spec_payload",
    "stored_spec",
]

EXPERIMENT_FIELDS: Final = (
    "experimentId",
    "uid",
    "status",
    "acceptedTime",
    "createdTime",
    "runningTime",
    "finishedTime",
    "spec",
)
"""The fields of an Experiment answer, in 0.8.0's order."""
ADDED_FIELDS: Final = ("reason",)
"""The fields this server adds to an Experiment answer, after 0.8.0's (whose clients ignore
them): ``reason``, one line saying why the experiment waits or failed (else null)."""
SPEC_FIELDS: Final = ("meta", "environment", "spec", "experimentHandlerSpec", "code")
"""The fields of ExperimentSpec."""
META_FIELDS: Final = ("experimentId", "name", "namespace", "framework", "cmd", "envVars", "tags")
"""The fields of ExperimentMeta."""
ENVIRONMENT_FIELDS: Final = ("name", "dockerImage", "kernelSpec", "description", "image")
"""The fields of EnvironmentSpec."""
KERNEL_FIELDS: Final = ("name", "channels", "condaDependencies", "pipDependencies")
"""The fields of KernelSpec."""
TASK_FIELDS: Final = ("replicas", "resources", "name", "image", "cmd", "envVars", "resourceMap")
"""The fields of ExperimentTaskSpec (one role)."""
CODE_FIELDS: Final = ("syncMode", "git")
"""The fields of CodeSpec."""
GIT_FIELDS: Final = ("url", "branch", "username", "password", "trustCerts")
"""The fields of GitCodeSpec."""
DEFAULT_BRANCH: Final = "main"
"""The branch of a git section that names none, as 0.8.0 answers it."""
NAMESPACE: Final = "default"
"""The namespace the server stores in every spec, as the real server puts its own."""
MAX_REPLICAS: Final = 512
"""The most replica processes one experiment may ask the local server for."""

logger = logging.getLogger(__name__)


def _time(value: datetime | None) -> str | None:
    return format_time(value) if value is not None else None


# -- payloads -----------------------------------------------------------------------------


def _fields(
    value: Any, names: tuple[str, ...], defaults: Mapping[str, Callable[[], Any]] | None = None
) -> Any:
    """``value`` with exactly the keys ``names``, a missing or null one null or its default;
    anything that is not an object is given back as it is."""
    if not isinstance(value, dict) and not isinstance(value, Mapping):  # dict: the fast check
        return value
    written = {name: value.get(name) for name in names}
    for name, default in (defaults or {}).items():
        if written[name] is None:
            written[name] = default()
    return written


def _git_payload(git: Any) -> Any:
    if not isinstance(git, Mapping):
        return git
    written = _fields(git, GIT_FIELDS, {"branch": lambda: DEFAULT_BRANCH})
    written["url"] = strip_credentials(str(git["url"]))[0] if git.get("url") else git.get("url")
    written["password"] = None  # kept for the runner, never shown
    return written


def spec_payload(spec: Any) -> Any:
    """The stored spec as 0.8.0 answers it: every field of every class, nulls included,
    ``meta.envVars`` ``{}`` and ``meta.tags`` ``[]`` when none were given, and no git
    credentials."""
    if not isinstance(spec, Mapping):
        return spec
    written = _fields(spec, SPEC_FIELDS)
    written["meta"] = _fields(spec.get("meta"), META_FIELDS, {"envVars": dict, "tags": list})
    environment = _fields(spec.get("environment"), ENVIRONMENT_FIELDS)
    if isinstance(environment, dict):
        environment["kernelSpec"] = _fields(environment["kernelSpec"], KERNEL_FIELDS)
    written["environment"] = environment
    roles = spec.get("spec")
    if isinstance(roles, Mapping):
        written["spec"] = {
            role: _fields(task, TASK_FIELDS, {"replicas": lambda: 1})
            for role, task in roles.items()
        }
    code = _fields(spec.get("code"), CODE_FIELDS)
    if isinstance(code, dict):
        code["git"] = _git_payload(code["git"])
    written["code"] = code
    return written


def experiment_payload(
    record: ExperimentRecord, *, deleted: bool = False, reason: str | None = None
) -> dict[str, Any]:
    """The Experiment answer of a stored experiment (0.8.0's fields, times and nulls), and
    the :data:`ADDED_FIELDS`.

    ``createdTime`` is never null: it is stored at insert, and an experiment stored without
    one shows its accepted time. ``reason`` is ``reason`` when given (why it waits, which
    only the runner knows), else the stored one (why it failed). A delete answer
    (``deleted``) has every time and the reason null, as on 0.8.0.
    """
    times: tuple[str | None, ...] = (None, None, None, None)
    if not deleted:
        created = record.created_time or record.accepted_time
        times = tuple(
            _time(t)
            for t in (record.accepted_time, created, record.running_time, record.finished_time)
        )
    payload = dict(
        zip(
            EXPERIMENT_FIELDS,
            (record.experiment_id, record.uid, record.status, *times, spec_payload(record.spec)),
            strict=True,
        )
    )
    payload["reason"] = None if deleted else (reason or record.reason)
    return payload


def log_payload(experiment_id: str, pods: Iterable[tuple[str, list[str]]]) -> dict[str, Any]:
    """The ExperimentLog answer: each pod's name and lines."""
    return {
        "experimentId": experiment_id,
        "logContent": [{"podName": name, "podLog": lines} for name, lines in pods],
    }


# -- requests -----------------------------------------------------------------------------


class SpecError(ValueError):
    """A request body that is no spec this server accepts; the message says what and where."""


def _bad_text(value: Any, path: str = "") -> str | None:
    """The path of the first string that is not valid Unicode (an unpaired surrogate)."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return path or "(body)"
        return None
    if isinstance(value, dict):
        items: Any = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return None
    for key, item in items:
        where = f"{path}.{key}" if path else str(key)
        found = _bad_text(key, where) if isinstance(key, str) else None
        found = found or _bad_text(item, where)
        if found:
            return found
    return None


def read_spec(document: Any) -> ExperimentSpec:
    """The spec of a parsed request body; :class:`SpecError` naming every problem."""
    try:
        spec = ExperimentSpec.model_validate(document)
    except ValidationError as exc:
        raise SpecError("; ".join(str(p) for p in problems_of(exc))) from None
    except RecursionError:
        raise SpecError("the experiment spec is nested too deeply") from None
    where = _bad_text(document)
    if where is not None:
        raise SpecError(f"{where}: holds text that is not valid Unicode (an unpaired surrogate)")
    total = spec.total_replicas
    if total > MAX_REPLICAS:
        roles = ", ".join(f"{role}={task.replicas}" for role, task in spec.spec.items())
        raise SpecError(
            f"spec: {total} replicas in all ({roles}): the local server runs at most "
            f"{MAX_REPLICAS} processes per experiment"
        )
    return spec


def stored_spec(spec: ExperimentSpec, experiment_id: str) -> dict[str, Any]:
    """The spec as the server stores it: wire form with the name lower-cased, the server's
    namespace, ``meta.experimentId``, and each role's ``replicas`` and ``resourceMap``."""
    wire = spec.to_dict()
    meta = wire["meta"]
    meta["experimentId"] = experiment_id
    meta["name"] = spec.meta.name.lower()
    meta["namespace"] = NAMESPACE
    meta.setdefault("tags", [])
    for role, task in spec.spec.items():
        entry = wire["spec"][role]
        entry["replicas"] = task.replicas
        entry["resourceMap"] = dict(task.resource_map or {})
    return wire


def _git(spec: Mapping[str, Any]) -> dict[str, Any] | None:
    code = spec.get("code")
    git = code.get("git") if isinstance(code, dict) else None
    return git if isinstance(git, dict) else None


def keep_credentials(new: dict[str, Any], old: Mapping[str, Any]) -> None:
    """A patch that repeats the stored repository without its credentials (as the answers
    show it) keeps the stored ones."""
    new_git, old_git = _git(new), _git(old)
    if new_git is None or old_git is None:
        return
    new_url, new_user, new_password = strip_credentials(str(new_git.get("url", "")))
    old_url, _, old_password = strip_credentials(str(old_git.get("url", "")))
    if new_url != old_url or new_password or new_git.get("password"):
        return
    if old_password and not new_user:
        new_git["url"] = old_git["url"]
    if old_git.get("password") and new_git.get("username", old_git.get("username")) == (
        old_git.get("username")
    ):
        if new_git.get("username") is None:
            new_git["username"] = old_git.get("username")
        new_git["password"] = old_git["password"]


# -- lists --------------------------------------------------------------------------------


class ListAnswer:
    """The success envelope of a list of stored experiments, written piece by piece from
    batches of records: the same bytes as writing the whole envelope at once.

    :meth:`read` does blocking work (SQLite, formatting): call it from a worker thread, one
    call at a time. :attr:`done` is set once the last piece (with the envelope's end) is read.

    Args:
        batches: the stored experiments, batch by batch (as :meth:`Store.scan` gives them).
        reasons: why experiments wait, by id, as the runner said it when the list was asked
            for (see :func:`experiment_payload`).
    """

    def __init__(
        self, batches: Iterator[RecordBatch], reasons: Mapping[str, str] | None = None
    ) -> None:
        self._batches = batches
        self._reasons = reasons or {}
        self._batch: RecordBatch | None = None
        head, _, tail = dump_bytes(envelope_body(result=[])).partition(b"[]")
        self._head = head + b"["
        self._tail = b"]" + tail
        self.done = False

    def read(self) -> bytes:
        """The next piece of the answer."""
        if self._batch is None:
            self._batch = next(self._batches, [])
        following = next(self._batches, None)
        reasons = self._reasons
        body = b",".join(
            [
                dump_bytes(experiment_payload(r, reason=reasons.get(r.experiment_id)))
                for r in self._batch
            ]
        )
        text = self._head + body
        self._head = b","
        if following is None:
            self.done = True
            self.close()
            return text + self._tail
        self._batch = following
        return text

    def close(self) -> None:
        """Stop reading (closes the store's reader); safe to call more than once."""
        close = getattr(self._batches, "close", None)
        if close is not None:
            close()


async def list_response(
    batches: Iterator[RecordBatch], reasons: Mapping[str, str] | None = None
) -> Response:
    """A list answer: whole when it fits in one batch, else streamed (chunked) batch by
    batch; every piece is written in a worker thread, so the event loop keeps serving.
    ``reasons``: why experiments wait, by id (see :class:`ListAnswer`)."""
    answer = ListAnswer(batches, reasons)
    try:
        first = await run_in_threadpool(answer.read)
    except BaseException:
        answer.close()
        raise
    if answer.done:
        return Response(first, media_type="application/json")

    async def pieces() -> AsyncIterator[bytes]:
        try:
            yield first
            while not answer.done:
                yield await run_in_threadpool(answer.read)
        except Exception:
            # The status line is sent: all that is left is to cut the answer short.
            logger.exception("a streamed list answer failed part way")
            raise
        finally:
            answer.close()

    return StreamingResponse(pieces(), media_type="application/json")

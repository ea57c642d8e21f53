"""What every test package shares that is not a fixture: one spec builder and one wait.

* :func:`make_spec` builds a small valid spec (a dict, as a user writes it): a framework,
  roles given as replicas (``{"Ps": 1, "Worker": 2}``) or as a role's own fields
  (``{"Master": {"cmd": ..., "resources": ...}}``), and keywords for the name, command,
  resources, environment, code and any other ``meta`` field.
* :func:`wait_until` polls a state until it holds, within a generous deadline, and fails
  naming what it waited for: tests wait on states, never on the clock.
* :func:`unique_name`, :data:`BLOCKING_CMD` and :func:`gated_cmd` make experiments that a
  test can find by name, keep live until it deletes them, or release when it is ready.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

__all__ = [
    "BLOCKING_CMD",
    "DEADLINE",
    "DEFAULT_RESOURCES",
    "PAGE_FILES",
    "gated_cmd",
    "make_spec",
    "unique_name",
    "wait_until",
]

DEADLINE = 60.0
"""How long :func:`wait_until` waits by default: a state that normally comes in a second
still comes on two cores shared with other test runs; one that never comes fails in a
minute, not at pytest's timeout."""

DEFAULT_RESOURCES = "cpu=100m,memory=64M"
"""What each role asks for unless told: small enough for twenty at once on two cores."""

PAGE_FILES: dict[str, str] = {
    "/": "text/html",
    "/workbench.js": "text/javascript",
    "/workbench-views.js": "text/javascript",
    "/workbench-logs.js": "text/javascript",
    "/workbench-list.js": "text/javascript",
    "/workbench-columns.js": "text/javascript",
    "/workbench-charts.js": "text/javascript",
    "/workbench-compare.js": "text/javascript",
    "/workbench-new.js": "text/javascript",
    "/workbench-templates.js": "text/javascript",
    "/workbench-run.js": "text/javascript",
    "/workbench-artifacts.js": "text/javascript",
    "/workbench-environments.js": "text/javascript",
    "/workbench.css": "text/css",
    "/favicon.svg": "image/svg+xml",
    # The charting library, built from npm into the package (frontend/vendor.py).
    "/vendor/uPlot.iife.min.js": "text/javascript",
    "/vendor/uPlot.min.css": "text/css",
}
"""The workbench page's files and their media types: they hold no data and are open without
a token (the page must load to ask for one). The one list the page's tests read; a new page
file is added here."""

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    *,
    what: str | Callable[[], str],
    timeout: float = DEADLINE,
    interval: float = 0.05,
) -> T:
    """Call ``predicate`` every ``interval`` seconds until it returns something truthy, and
    return that; after ``timeout`` seconds fail with an ``AssertionError`` saying ``what``
    was awaited (a callable ``what`` is called then, so the message can show the state the
    wait ended in)."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            awaited = what() if callable(what) else what
            raise AssertionError(f"timed out after {timeout:g} s waiting for {awaited}")
        time.sleep(interval)


_names = itertools.count()


def unique_name(prefix: str = "exp") -> str:
    """An experiment name no other test of this session uses."""
    return f"{prefix}-{os.getpid()}-{next(_names)}"


def make_spec(
    framework: str = "TensorFlow",
    roles: Mapping[str, int | Mapping[str, Any]] | None = None,
    *,
    name: str | None = None,
    cmd: str | None = "true",
    resources: str | None = DEFAULT_RESOURCES,
    env: Mapping[str, str] | None = None,
    image: str = "local",
    code: Mapping[str, Any] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A small valid spec, as a user writes it (a dict the test may still change).

    :param roles: replicas per role (``{"Ps": 1, "Worker": 2}``), or a role's fields as
        written (``{"Master": {"cmd": ..., "envVars": ...}}``); one Worker by default.
    :param name: a name of its own (:func:`unique_name`) unless given.
    :param cmd: ``meta.cmd``, what every role runs unless it has a ``cmd`` of its own
        (``None``: no ``meta.cmd``).
    :param resources: what every role without ``resources`` asks for (``None``: nothing).
    :param env: ``meta.envVars``.
    :param code: the spec's ``code`` section (e.g. a git repository).
    :param meta: any other ``meta`` field, as written (``tags=[...]``).
    """
    head: dict[str, Any] = {"name": name or unique_name(), "framework": framework}
    if cmd is not None:
        head["cmd"] = cmd
    if env is not None:
        head["envVars"] = dict(env)
    head.update(meta)
    tasks: dict[str, Any] = {}
    for role, given in (roles or {"Worker": 1}).items():
        task: dict[str, Any] = {"replicas": given} if isinstance(given, int) else dict(given)
        if resources is not None:
            task.setdefault("resources", resources)
        tasks[role] = task
    spec: dict[str, Any] = {"meta": head, "environment": {"image": image}, "spec": tasks}
    if code is not None:
        spec["code"] = dict(code)
    return spec


BLOCKING_CMD = (
    "python -u -c \"import select; print('started'); select.select([], [], [], 60); print('late')\""
)
"""A replica command that prints ``started`` and then blocks for a minute without a shell
and without sleeping in the test: the experiment stays live until the test deletes it."""


def gated_cmd(gate: Path, before: str = "ready", after: str = "done") -> str:
    """A replica command that prints ``before``, waits until the file ``gate`` exists (the
    test creates it; at most a minute), then prints ``after`` and exits 0: the replica
    cannot finish before the test has seen what it needed to. The script is written next
    to ``gate``."""
    script = gate.with_name(gate.name + ".py")
    script.write_text(
        "import os, time\n"
        f"print({before!r}, flush=True)\n"
        "end = time.monotonic() + 60\n"
        f"while not os.path.exists({str(gate)!r}) and time.monotonic() < end:\n"
        "    time.sleep(0.02)\n"
        f"print({after!r}, flush=True)\n"
    )
    return f"python {script}"

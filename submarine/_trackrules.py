"""Submarine 0.8.0's rules for what a replica records, and who it records as.

* **Keys** of metrics and params match ``^[/\\w.\\- ]*$`` (letters, digits, ``_``, ``-``,
  ``.``, spaces and ``/``) and are normalized paths: not ``.``, no leading ``/``, no ``..``
  at the start, no ``//`` or ``./`` inside, no trailing ``/`` (a key must not name another
  key when read as a path). A param's key and its value as text are at most
  :data:`MAX_PARAM_TEXT` characters.
* **The worker index**: ``TF_CONFIG``'s task as ``<type>-<index>``; else TonY's
  ``CLUSTER_SPEC`` task as ``<job_name>-<index>``; else ``RANK``: ``0`` is ``master-0``
  and ``N`` is ``worker-N`` (PyTorch, XGBoost); else ``worker-0``.
* **The experiment** is ``JOB_ID``.

Standard library only: a training process imports it.
"""

from __future__ import annotations

import json
import operator
import posixpath
import re
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "KEY_RULE",
    "MAX_PARAM_TEXT",
    "check_key",
    "metric_step",
    "metric_value",
    "param_text",
    "worker_index",
]

KEY_RULE: Final = re.compile(r"[/\w.\- ]*")
"""The characters a key may hold (0.8.0's ``^[/\\w.\\- ]*$``, matched whole)."""
MAX_PARAM_TEXT: Final = 250
"""The longest param key, and param value as text, in characters (0.8.0's limit)."""
_STEP_BITS: Final = 2**63
_CHARACTERS: Final = (
    "letters, digits, underscores (_), dashes (-), periods (.), spaces and slashes (/)"
)


def worker_index(environ: Mapping[str, str]) -> str:
    """The replica's name in what it records, by Submarine 0.8.0's rule (see the module).

    >>> worker_index({"TF_CONFIG": '{"task": {"type": "ps", "index": 1}}'})
    'ps-1'
    >>> worker_index({"CLUSTER_SPEC": '{"task": {"job_name": "worker", "index": 2}}'})
    'worker-2'
    >>> worker_index({"RANK": "0"}), worker_index({"RANK": "3"}), worker_index({})
    ('master-0', 'worker-3', 'worker-0')

    A variable that is not what its framework writes (not JSON, no task) is passed over.
    """
    for variable, name in (("TF_CONFIG", "type"), ("CLUSTER_SPEC", "job_name")):
        task = _task(environ.get(variable))
        if task is not None and isinstance(task.get(name), str) and task[name]:
            index = _whole_index(task.get("index"))
            if index is not None:
                return f"{task[name]}-{index}"
    rank = environ.get("RANK", "").strip()
    if rank.isascii() and rank.isdigit():
        return "master-0" if int(rank) == 0 else f"worker-{int(rank)}"
    return "worker-0"


def _task(config: str | None) -> dict[str, Any] | None:
    if not config:
        return None
    try:
        task = json.loads(config).get("task")
    except (ValueError, AttributeError):
        return None
    return task if isinstance(task, dict) else None


def _whole_index(index: Any) -> int | None:
    if isinstance(index, bool):
        return None
    if isinstance(index, int):
        return index
    if isinstance(index, str) and index.isascii() and index.isdigit():
        return int(index)
    return None


def check_key(key: Any, kind: str) -> str:
    """``key`` if it is a valid key of a ``kind`` (``metric`` or ``param``) by 0.8.0's rule.

    >>> check_key("train/loss", "metric")
    'train/loss'

    Raises:
        TypeError: not a non-empty string.
        ValueError: a character or a path the rule refuses, naming them.
    """
    example = "loss" if kind == "metric" else "learning_rate"
    if not isinstance(key, str) or not key:
        raise TypeError(f"key must be a non-empty string like {example!r}, got {key!r}")
    if KEY_RULE.fullmatch(key) is None:
        bad = sorted({c for c in key if KEY_RULE.fullmatch(c) is None})
        raise ValueError(
            f"{kind} key {key[:80]!r} holds {', '.join(map(repr, bad[:5]))}: a key may "
            f"hold only {_CHARACTERS} (Submarine's rule)"
        )
    normal = posixpath.normpath(key)
    if normal != key or normal == "." or normal.startswith(("..", "/")):
        raise ValueError(
            f"{kind} key {key[:80]!r} is not a normalized path (it reads as {normal[:80]!r}): "
            "a key may not be '.', start with '/' or '..', or hold '//', '/./', '/../' or "
            "end with '/' (Submarine's rule)"
        )
    return key


def metric_value(key: str, value: object) -> float:
    """A metric's value as a float: any number (ints, bools, numpy scalars) or an object
    with ``__float__`` (a one-element tensor).

    Raises:
        TypeError: not a number.
    """
    if isinstance(value, float):  # numpy's float64 is one already
        return value
    if isinstance(value, (str, bytes, bytearray)):
        raise TypeError(f"value of metric {key!r} must be a number, got {value!r}")
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise TypeError(f"value of metric {key!r} must be a number, got {value!r}") from None


def metric_step(key: str, step: object) -> int:
    """A metric's step as an int of 64 bits (None is 0, as in 0.8.0; numpy's integers and
    whole floats are taken).

    Raises:
        TypeError: not a whole number.
        ValueError: outside 64 bits.
    """
    if step is None:
        return 0
    if isinstance(step, float) and step.is_integer():
        whole = int(step)
    else:
        try:
            if isinstance(step, bool):
                raise TypeError
            whole = operator.index(step)  # type: ignore[arg-type]
        except TypeError:
            raise TypeError(
                f"step of metric {key!r} must be a whole number or None, got {step!r}"
            ) from None
    if not -_STEP_BITS < whole < _STEP_BITS:
        raise ValueError(f"step of metric {key!r} must fit in 64 bits, got {whole}")
    return whole


def param_text(key: str, value: object) -> str:
    """A param's value as text (``str(value)``), at most :data:`MAX_PARAM_TEXT` characters.

    Raises:
        ValueError: too long, or not Unicode text.
    """
    text = str(value)
    if len(text) > MAX_PARAM_TEXT:
        raise ValueError(
            f"value of param {key!r} must be at most {MAX_PARAM_TEXT} characters as text "
            f"(Submarine's limit), got {len(text)}: {text[:40]!r}..."
        )
    return text

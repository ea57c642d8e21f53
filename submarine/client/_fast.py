"""Lenient payload parsing at the speed of pydantic-core.

The models validate user input strictly through Python validators (a wrap validator on
every model, field validators for names, resources, replicas...). On a server payload,
parsed with the ``LENIENT`` context, each of those validators returns its input
unchanged -- but calling them costs more than parsing the JSON (about 7 Python calls an
experiment, and a second pass over ``spec``). This module builds, once per result
type and on its first use (see ``PayloadParser`` in ``_base``), a validator from the same
core schema with exactly those lenient no-op validators left out, so a payload is parsed
entirely in Rust into the very same model classes. ``get_experiment`` needs it to stay
within 10% of raw httpx (measured: 1.01-1.03x with it, 1.09-1.15x without);
``list_experiments`` does not use it (its items are validated one by one, when read).

Only validators listed in :data:`LENIENT_NO_OPS` are left out; if a schema holds any
other Python validator, the type is parsed the ordinary way (``model_validate_json``
with ``LENIENT``), so a validator added to the models later is never skipped silently.
A test checks that both ways give equal models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Final, TypeVar

from pydantic import BaseModel
from pydantic_core import SchemaValidator

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)

LENIENT_NO_OPS: Final = frozenset(
    {
        "WireModel._strict_input",
        "Experiment._lenient_spec",
        "_check_name",
        "_check_env_vars",
        "ExperimentMeta._framework",
        "ExperimentTaskSpec._replicas",
        "ExperimentTaskSpec._resources",
        "ExperimentTaskSpec._resources_from_map",
        "CodeSpec._sync_mode",
    }
)
"""Validators that return their input unchanged under the ``LENIENT`` context."""

_FUNCTION_NODES: Final = frozenset({"function-before", "function-after", "function-wrap"})


class _UnknownValidatorError(Exception):
    """The schema holds a Python validator that may do something on a payload."""


def _name_of(function: Any) -> str:
    target = getattr(function, "__func__", function)
    return str(getattr(target, "__qualname__", repr(target)))


def _strip(node: Any, models: list[type]) -> Any:
    """A copy of a core schema without the lenient no-op validators; the classes of its
    model nodes are added to ``models``."""
    if isinstance(node, list):
        return [_strip(item, models) for item in node]
    if not isinstance(node, dict):
        return node
    kind = node.get("type")
    if kind == "model":
        models.append(node["cls"])
    if kind in _FUNCTION_NODES or kind == "function-plain":
        holder = node.get("function")
        function = holder.get("function") if isinstance(holder, dict) else holder
        if kind == "function-plain" or _name_of(function) not in LENIENT_NO_OPS:
            raise _UnknownValidatorError(_name_of(function))
        return _strip(node["schema"], models)
    out: dict[str, Any] = {}
    for key, value in node.items():
        # Serialization and metadata carry functions too, but never validate.
        keep = key in ("serialization", "metadata", "cls", "ref")
        out[key] = value if keep else _strip(value, models)
    return out


def _build(schema: Any, models: list[type]) -> SchemaValidator:
    """A validator of ``schema`` built from its nodes, not from the models' own validators.

    pydantic-core reuses the validator of a model class that is complete instead of
    building one from the schema node; pydantic's ``model_rebuild`` marks a class
    incomplete for the same reason. The mark is restored at once.
    """
    marked = [cls for cls in dict.fromkeys(models) if cls.__dict__.get("__pydantic_complete__")]
    for cls in marked:
        type.__setattr__(cls, "__pydantic_complete__", False)
    try:
        return SchemaValidator(schema)
    finally:
        for cls in marked:
            type.__setattr__(cls, "__pydantic_complete__", True)


def fast_validator(model: type[M]) -> Callable[[bytes], M] | None:
    """``validate_json`` of a validator of ``model`` without the lenient no-op validators,
    or None when its schema holds a Python validator that may do something on a payload."""
    models: list[type] = []
    try:
        stripped = _strip(model.__pydantic_core_schema__, models)
    except _UnknownValidatorError as exc:
        logger.debug("parsing %s the ordinary way: %s may not be a no-op", model, exc)
        return None
    validate: Callable[[bytes], M] = _build(stripped, models).validate_json
    return validate

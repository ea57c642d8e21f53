"""The docstrings written under model fields, read from the source when a schema is made.

A field's docstring is the string literal right after its annotated assignment::

    replicas: int = 1
    \"\"\"Number of replicas of this role.\"\"\"

Reading them costs a parse of the module's source, so it is done only for JSON Schemas
(:mod:`submarine.models.schema`), never when the models are imported.
"""

from __future__ import annotations

import ast
import functools
import inspect
import itertools
import sys
from collections.abc import Iterator
from typing import Any

from pydantic import BaseModel

__all__ = ["describe_fields", "field_docstrings"]


@functools.cache
def _classes_of(module_name: str) -> dict[str, ast.ClassDef]:
    """The top-level classes of a module's source, by name (empty without a source)."""
    module = sys.modules.get(module_name)
    try:
        source = inspect.getsource(module) if module is not None else ""
    except (OSError, TypeError):
        return {}
    tree = ast.parse(source)
    return {node.name: node for node in tree.body if isinstance(node, ast.ClassDef)}


def _own_docstrings(cls: type) -> Iterator[tuple[str, str]]:
    node = _classes_of(cls.__module__).get(cls.__name__)
    if node is None:
        return
    for first, second in itertools.pairwise(node.body):
        if (
            isinstance(first, ast.AnnAssign)
            and isinstance(first.target, ast.Name)
            and isinstance(second, ast.Expr)
            and isinstance(second.value, ast.Constant)
            and isinstance(second.value.value, str)
        ):
            yield first.target.id, inspect.cleandoc(second.value.value)


def field_docstrings(model: type[BaseModel]) -> dict[str, str]:
    """The docstring of each field of ``model`` that has one, by field name (inherited too).

    >>> from submarine.models import ExperimentTaskSpec
    >>> field_docstrings(ExperimentTaskSpec)["replicas"]
    'Number of replicas (processes/pods) of this role, at least 1.'
    """
    docs: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if isinstance(cls, type) and issubclass(cls, BaseModel) and cls is not BaseModel:
            docs.update(_own_docstrings(cls))
    return {name: text for name, text in docs.items() if name in model.model_fields}


def _models_below(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    """``model`` and every model class its fields name, at any depth."""
    seen: set[type] = set()
    pending: list[Any] = [model]
    while pending:
        item = pending.pop()
        if isinstance(item, type) and issubclass(item, BaseModel):
            if item in seen:
                continue
            seen.add(item)
            yield item
            pending.extend(field.annotation for field in item.model_fields.values())
        else:
            pending.extend(getattr(item, "__args__", ()))
            pending.extend(getattr(item, "__metadata__", ()))
            origin = getattr(item, "__origin__", None)
            if origin is not None:
                pending.append(origin)


def describe_fields(schema: dict[str, Any], model: type[BaseModel]) -> None:
    """Give each property of ``schema`` (made from ``model``) and of its ``$defs`` the
    docstring of its field as ``description``, where it has none."""
    definitions = schema.get("$defs", {})
    for cls in _models_below(model):
        definition = schema if cls is model else definitions.get(cls.__name__)
        if not isinstance(definition, dict):
            continue
        docs = field_docstrings(cls)
        for name, field in cls.model_fields.items():
            prop = definition.get("properties", {}).get(field.alias or name)
            if isinstance(prop, dict) and name in docs and "description" not in prop:
                prop["description"] = docs[name]

"""The two kinds of model and what they share.

* :class:`PayloadModel`: what a server sends. Plain field types, ``extra="allow"``, and no
  validator that can refuse a value, so a payload parses the same however it is parsed
  (``model_validate``, ``model_validate_json``, a ``TypeAdapter``, nested in another model,
  the constructor), and ``to_dict()`` gives back exactly what was received.
* :class:`InputModel`: what a user submits. The rules live in the field types (reusable
  ``Annotated`` types) and in :meth:`InputModel._problems` for rules that need several
  fields; unknown keys are errors that suggest the closest field, a missing field says what
  to give, and every problem is reported at once with its wire-name path.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import Self

from submarine.models.times import wire_text

_SHARED = ConfigDict(
    alias_generator=to_camel,
    validate_by_name=True,
    validate_by_alias=True,
    serialize_by_alias=True,
    # Field docstrings become JSON Schema descriptions in ``schema.py`` (read from the
    # source only when a schema is made): pydantic's use_attribute_docstrings would read
    # every model's source at import, about half of what importing the models costs.
    defer_build=True,
)


def custom_error(
    kind: str, message: str, loc: tuple[str | int, ...], value: Any
) -> InitErrorDetails:
    """One line of a validation error with a message already written out in full."""
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


class WireModel(BaseModel):
    """Base of every Submarine model.

    Python attributes are snake_case and the wire is camelCase; both spellings are
    accepted on input. ``to_dict()`` gives the documented dict shape, and models can be
    read like that dict (``experiment["spec"]["meta"]["name"]``; a time reads as its text,
    ``experiment["createdTime"] == "2023-05-23T09:01:12Z"``), so code written for a
    dict-returning client keeps working.
    """

    model_config = ConfigDict(**_SHARED, extra="allow")

    _wire_to_field: ClassVar[dict[str, str]] = {}

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        mapping: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            mapping[field.alias or name] = name
            mapping[name] = name
        cls._wire_to_field = mapping

    # -- the documented dict shape -------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The documented dict shape with JSON types: wire names, only keys that were set."""
        return self.model_dump(mode="json", by_alias=True, exclude_unset=True)

    def to_json(self, *, indent: int | None = None) -> str:
        """The same as ``to_dict()``, as a JSON document."""
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False)

    # -- read access by wire name --------------------------------------------------

    def __getitem__(self, key: str) -> Any:
        field = type(self)._wire_to_field.get(key)
        if field is not None:
            value = getattr(self, field)
            # A time reads as the dict held it: its text (``"2023-05-23T09:01:12Z"``).
            return wire_text(value) if isinstance(value, datetime) else value
        extra = self.__pydantic_extra__ or {}
        if key in extra:
            return extra[key]
        raise KeyError(key)

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        field = type(self)._wire_to_field.get(key)
        if field is not None:
            return field in self.model_fields_set or getattr(self, field) is not None
        return key in (self.__pydantic_extra__ or {})

    def get(self, key: str, default: Any = None) -> Any:
        """Read a value by wire name, like ``dict.get``."""
        try:
            return self[key]
        except KeyError:
            return default


class PayloadModel(WireModel):
    """A model of what a server sends: plain types, unknown keys kept, nothing judged."""


class InputModel(WireModel):
    """A model of what a user submits: every rule checked, every problem reported at once.

    Subclasses declare their rules in field types; they may add :attr:`_missing_hints`
    (what to say when a required field is missing), :attr:`_ignored_keys` (keys accepted
    and dropped), :meth:`_problems` (rules across fields) and :meth:`_normalise` (the
    canonical form of a valid model).
    """

    model_config = ConfigDict(**_SHARED, extra="ignore")

    _ignored_keys: ClassVar[frozenset[str]] = frozenset()
    _missing_hints: ClassVar[Mapping[str, str]] = {}
    _unset_when_none: ClassVar[frozenset[str]] = frozenset()
    """Fields for which an explicit null means "not given": never sent as null."""

    @model_validator(mode="wrap")
    @classmethod
    def _validate_input(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        """Refuse unknown keys (with a suggestion), check the rules, report it all at once."""
        if isinstance(data, cls):
            return handler(data)
        if isinstance(data, WireModel):
            # A payload read from a server (``experiment.spec``) is judged as its dict.
            data = data.to_dict()
        problems: list[InitErrorDetails] = []
        if isinstance(data, Mapping):
            problems.extend(cls._unknown_keys(data))
        caught: ValidationError | None = None
        instance: Self | None = None
        try:
            instance = handler(data)
        except ValidationError as exc:
            caught = exc
        if isinstance(data, Mapping):
            problems.extend(cls._problems(instance, data))
        if caught is not None or problems:
            raise cls._all_problems(caught, problems)
        assert instance is not None
        for name in cls._unset_when_none:
            if getattr(instance, name) is None:
                instance.__pydantic_fields_set__.discard(name)
        instance._normalise()
        return instance

    @classmethod
    def _unknown_keys(cls, data: Mapping[Any, Any]) -> Iterator[InitErrorDetails]:
        known = cls._wire_to_field
        wire_names = sorted({f.alias or n for n, f in cls.model_fields.items()})
        for key in data:
            if key in known or key in cls._ignored_keys:
                continue
            text = str(key)
            close = difflib.get_close_matches(text, list(known), n=1, cutoff=0.6)
            if close:
                field = cls.model_fields[known[close[0]]]
                hint = f"did you mean {(field.alias or close[0])!r}?"
            else:
                hint = "valid keys are " + ", ".join(wire_names)
            yield custom_error("unknown_key", f"unknown key {text!r}: {hint}", (text,), data[key])

    @classmethod
    def _all_problems(
        cls, caught: ValidationError | None, extra: list[InitErrorDetails]
    ) -> ValidationError:
        """One ``ValidationError`` holding the caught errors (missing fields explained)
        and the extra ones."""
        details: list[InitErrorDetails] = []
        if caught is not None:
            for err in caught.errors(include_url=False):
                loc = tuple(err["loc"])
                kind, message = err["type"], err["msg"]
                if kind == "missing" and len(loc) == 1:
                    hint = cls._missing_hints.get(cls._wire_to_field.get(str(loc[0]), ""))
                    if hint:
                        kind, message = "missing_field", f"is required: {hint}"
                details.append(custom_error(kind, message, loc, err["input"]))
        details.extend(extra)
        return ValidationError.from_exception_data(cls.__name__, details)

    @classmethod
    def _problems(cls, instance: Self | None, data: Mapping[Any, Any]) -> list[InitErrorDetails]:
        """Rules across fields, for the valid ``instance`` or (when a field was invalid,
        ``instance`` is None) for as much of ``data`` as can be read. None by default."""
        return []

    def _normalise(self) -> None:
        """Put a valid model into its canonical form; nothing by default."""

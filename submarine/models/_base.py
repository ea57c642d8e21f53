"""Shared configuration of every model: wire names, strict input, lenient payloads.

Two modes of validation share one set of classes:

* **strict** (the default): user input such as a spec built from kwargs, a dict or a
  file. Unknown keys are errors that suggest the closest field, every rule of the
  model is checked, and every problem is reported at once with its path.
* **lenient**: payloads a server sent. Nothing is refused that a server may say;
  unknown keys are kept and dumped back, so ``to_dict()`` returns what was received.
  Selected with ``model_validate(data, context=LENIENT)``.
"""

from __future__ import annotations

import copy
import difflib
import json
from collections.abc import Iterator, Mapping
from typing import Any, ClassVar, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    ModelWrapValidatorHandler,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic_core import InitErrorDetails, PydanticCustomError
from typing_extensions import Self

LENIENT: Final[Mapping[str, Any]] = {"submarine_lenient": True}
"""Validation context that parses a server payload without refusing anything."""


def is_lenient(info: ValidationInfo | None) -> bool:
    """Whether a validator runs on a server payload rather than on user input."""
    context = info.context if info is not None else None
    return isinstance(context, Mapping) and bool(context.get("submarine_lenient"))


def custom_error(
    kind: str, message: str, loc: tuple[str | int, ...], value: Any
) -> InitErrorDetails:
    """One line of a validation error with a message already written out in full."""
    return {"type": PydanticCustomError(kind, message), "loc": loc, "input": value}


def reraise_with(title: str, caught: ValidationError | None, extra: list[InitErrorDetails]) -> None:
    """Raise one ``ValidationError`` holding the caught errors and the extra ones."""
    details: list[InitErrorDetails] = []
    if caught is not None:
        for err in caught.errors(include_url=False):
            details.append(custom_error(err["type"], err["msg"], tuple(err["loc"]), err["input"]))
    details.extend(extra)
    if details:
        raise ValidationError.from_exception_data(title, details)


def _drop(data: Any, loc: tuple[str | int, ...]) -> None:
    """Remove the value at ``loc`` from nested dicts and lists, if it is there."""
    for part in loc[:-1]:
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and part < len(data):
            data = data[part]
        else:
            return
    if loc and isinstance(data, dict):
        data.pop(loc[-1], None)


class WireModel(BaseModel):
    """Base of every Submarine model.

    Python attributes are snake_case and the wire is camelCase; both spellings are
    accepted on input. ``to_dict()`` gives the documented dict shape, and models can be
    read like that dict (``experiment["spec"]["meta"]["name"]``), so code written for a
    dict-returning client keeps working.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="allow",
        use_attribute_docstrings=True,
        defer_build=True,
    )

    _wire_to_field: ClassVar[dict[str, str]] = {}
    _ignored_keys: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        mapping: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            mapping[field.alias or name] = name
            mapping[name] = name
        cls._wire_to_field = mapping

    @model_validator(mode="wrap")
    @classmethod
    def _strict_input(
        cls, data: Any, handler: ModelWrapValidatorHandler[Self], info: ValidationInfo
    ) -> Self:
        """Refuse unknown keys (with a suggestion) and run cross-field checks on input."""
        if is_lenient(info) or isinstance(data, cls):
            return handler(data)
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
            subject = instance if instance is not None else cls._best_effort(data)
            if subject is not None:
                problems.extend(subject._cross_check())
        if caught is not None or problems:
            reraise_with(cls.__name__, caught, problems)
        assert instance is not None
        if instance.__pydantic_extra__:
            # Only reachable for keys that were refused above; keep the invariant anyway.
            instance.__pydantic_extra__.clear()
        instance._after_strict()
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
    def _best_effort(cls, data: Mapping[Any, Any]) -> Self | None:
        """Parse invalid input leniently, dropping values of the wrong type, so that the
        cross-field rules can still be checked and reported with the other problems."""
        try:
            current: Any = copy.deepcopy(dict(data))
        except RecursionError:
            # Nested too deep to copy: the other problems are reported without the rules.
            return None
        for _ in range(8):
            try:
                return cls.model_validate(current, context=LENIENT)
            except ValidationError as exc:
                errors = exc.errors(include_url=False)
            if any(err["type"] == "missing" for err in errors):
                return None
            for err in errors:
                _drop(current, tuple(err["loc"]))
        return None

    def _cross_check(self) -> list[InitErrorDetails]:
        """Rules that need several fields at once; overridden where there are any."""
        return []

    def _after_strict(self) -> None:
        """Fill derived values of a valid input model; overridden where there are any."""

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
            return getattr(self, field)
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

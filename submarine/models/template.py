"""Experiment templates: a stored, parameterised spec, and what is sent to submit one.

Input types (:class:`ExperimentTemplateSpec`, :class:`ExperimentTemplateParamSpec`,
:class:`ExperimentTemplateSubmit`) judge a template before it is sent, with every problem at
once: each ``{{placeholder}}`` has a parameter and each parameter is used, placeholders
stand only in string values, and the spec filled with the parameters' defaults (a stand-in
for a required parameter without one) is a valid :class:`~submarine.models.ExperimentSpec`.
Payload types (:class:`ExperimentTemplate`, :class:`ExperimentTemplateSpecPayload`...) keep
everything a server says. The mapping rules are :mod:`submarine.models.templating`'s.

>>> template = ExperimentTemplateSpec.model_validate({
...     "name": "tf-mnist",
...     "parameters": [{"name": "lr", "value": 0.1}],
...     "experimentSpec": {
...         "meta": {"name": "mnist", "framework": "TensorFlow",
...                  "cmd": "python mnist.py --learning_rate={{lr}}"},
...         "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
...         "spec": {"Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"}}}})
>>> template.fill({"lr": 0.2}).meta.cmd
'python mnist.py --learning_rate=0.2'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Final

from pydantic import BeforeValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from submarine.models._base import InputModel, PayloadModel, WireModel, custom_error
from submarine.models.payloads import ExperimentSpecPayload
from submarine.models.spec import ExperimentSpec
from submarine.models.templating import (
    PLACEHOLDER,
    defaults,
    fill,
    flatten,
    path_steps,
    with_resource_parameters,
)

__all__ = [
    "RESERVED_NAMES",
    "ExperimentTemplate",
    "ExperimentTemplateId",
    "ExperimentTemplateParamSpec",
    "ExperimentTemplateParamSpecPayload",
    "ExperimentTemplateSpec",
    "ExperimentTemplateSpecPayload",
    "ExperimentTemplateSubmit",
    "TemplateFillError",
]

NAME_MAX: Final = 32
"""The longest template name (0.8.0 stores it in a ``varchar(32)``)."""
RESERVED_NAMES: Final = frozenset({"validate", "logs", "ping"})
"""Names a template cannot take: ``POST /api/v1/experiment/<name>`` submits a template, and
these paths are the experiment API's own routes."""
_NUMBER_KEYS: Final = frozenset({"replicas"})
"""Keys of a role (``spec.R.<key>``) whose value is a number, never a string."""
_BOOLEAN_PATHS: Final = frozenset({("code", "git", "trustCerts"), ("code", "git", "trust_certs")})
"""Paths whose value is a boolean, never a string."""


def _takes_no_string(steps: tuple[str | int, ...]) -> bool:
    """Whether the value at ``steps`` of an experiment spec is a number or a boolean (so a
    placeholder cannot stand there; an env var named ``replicas`` is a string)."""
    if len(steps) == 3 and steps[0] == "spec" and steps[2] in _NUMBER_KEYS:
        return True
    return steps in _BOOLEAN_PATHS


class TemplateFillError(ValueError):
    """A template could not be filled: the values given do not fit its parameters."""


def _text(value: Any) -> Any:
    """A parameter's text: numbers and booleans as 0.8.0 reads them into its strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None or isinstance(value, str):
        return value
    raise PydanticCustomError(
        "parameter_text",
        "must be a string, a number or a boolean (0.8.0 stores parameters as text), got {v}",
        {"v": repr(value)},
    )


ParamText = Annotated[str, BeforeValidator(_text)]
"""Text of a parameter; numbers and booleans are read as their text (``True`` -> "true")."""


def _template_name(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if not value.strip():
        raise PydanticCustomError("template_name", "name is empty: give the template a name")
    if len(value) > NAME_MAX:
        raise PydanticCustomError(
            "template_name",
            f"name {value[:20]!r}... is {len(value)} characters long: at most {NAME_MAX} "
            "are allowed (Submarine stores it in a varchar(32))",
        )
    bad = [c for c in value if c in "/\\?#%" or ord(c) < 32 or ord(c) == 127]
    if bad:
        raise PydanticCustomError(
            "template_name",
            f"name {value!r} holds {bad[0]!r}: a template is addressed by its name in a URL "
            "path, so '/', '\\', '?', '#', '%' and control characters cannot be in it",
        )
    if value in (".", ".."):
        raise PydanticCustomError(
            "template_name",
            f"name {value!r} cannot be a template's: a URL path reads it as a step to the "
            "folder itself or its parent, so the template could never be addressed",
        )
    if value in RESERVED_NAMES:
        raise PydanticCustomError(
            "template_name",
            f"name {value!r} is taken by the experiment API (POST /api/v1/experiment/{value} "
            "is its own route, so the template could never be submitted): choose another",
        )
    return value


TemplateName = Annotated[str, BeforeValidator(_template_name)]
"""A template's name: 1 to 32 characters, usable in a URL path, not a reserved route."""


def _param_name(value: Any) -> Any:
    if isinstance(value, str) and not value:
        raise PydanticCustomError("parameter_name", "a parameter's name cannot be empty")
    return value


class ExperimentTemplateParamSpec(InputModel):
    """One parameter of a template: its name, whether it must be given, and its default."""

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "name": "the name its placeholders use, like 'learning_rate' for {{learning_rate}}, "
        "or a path such as 'spec.Worker.replicas'"
    }

    name: Annotated[str, BeforeValidator(_param_name)]
    """Name used by ``{{name}}`` placeholders, or the dotted path of a value it replaces."""
    required: ParamText | None = None
    """"true" when a value must be given at submit; else the default ``value`` is used."""
    description: str | None = None
    """What the parameter means."""
    value: ParamText | None = None
    """The default value, as text."""

    @property
    def is_required(self) -> bool:
        """Whether a value must be given at submit ("true" in any case, as Java reads it)."""
        return (self.required or "").lower() == "true"


_PARAMETERS_ALIASES: Final = ("experimentTemplateParamSpec", "experiment_template_param_spec")


def _as_document(value: Any) -> Any:
    """A model given where a document goes (an :class:`ExperimentSpec` as a template's
    spec, a parameter object in a list) is read as its dict."""
    return value.to_dict() if isinstance(value, WireModel) else value


SpecDocument = Annotated[dict[str, Any], BeforeValidator(_as_document)]
"""A template's experiment spec: a dict, or an :class:`ExperimentSpec` read as its dict."""


class ExperimentTemplateSpec(InputModel):
    """A template: a name, its parameters and an experiment spec with ``{{placeholders}}``.

    Judged as a whole before it is sent (see the module). Parameters may also be given
    under 0.8.0's second name, ``experimentTemplateParamSpec`` (keyword
    ``experiment_template_param_spec``), and the spec as a typed :class:`ExperimentSpec`
    (it is kept as its dict; a placeholder where the typed spec checks the value, such as
    the experiment's name, needs the dict).
    """

    if TYPE_CHECKING:
        # What the constructor takes: the fields, a typed spec, and 0.8.0's second name
        # of the parameters (None for a list is no list, as 0.8.0's models default it).
        def __init__(
            self,
            *,
            name: str,
            author: str | None = None,
            description: str | None = None,
            parameters: Sequence[ExperimentTemplateParamSpec | Mapping[str, Any]] | None = None,
            experiment_spec: ExperimentSpec | Mapping[str, Any],
            experiment_template_param_spec: (
                Sequence[ExperimentTemplateParamSpec | Mapping[str, Any]] | None
            ) = None,
        ) -> None: ...

    _ignored_keys: ClassVar[frozenset[str]] = frozenset({"$schema"})
    _missing_hints: ClassVar[Mapping[str, str]] = {
        "name": "the template's name, like 'tf-mnist' (at most 32 characters)",
        "experiment_spec": "the experiment spec to fill, as for create_experiment, with "
        "{{placeholders}} in its string values",
    }

    name: TemplateName
    """The template's name, its key: at most 32 characters, unique on a server."""
    author: str | None = None
    """Who wrote it."""
    description: str | None = None
    """What it runs."""
    parameters: list[ExperimentTemplateParamSpec] = Field(default_factory=list)
    """The parameters its placeholders and paths use."""
    experiment_spec: SpecDocument
    """The experiment spec, with ``{{placeholders}}`` in string values."""

    @model_validator(mode="before")
    @classmethod
    def _parameters_alias(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = _without_null_parameters(data)
        if "parameters" not in data:
            for alias in _PARAMETERS_ALIASES:
                if alias in data:
                    rest = {k: v for k, v in data.items() if k != alias}
                    return {**rest, "parameters": data[alias]}
        return data

    @classmethod
    def _unknown_keys(cls, data: Mapping[Any, Any]) -> Iterator[InitErrorDetails]:
        for problem in super()._unknown_keys(data):
            if problem["loc"][0] not in _PARAMETERS_ALIASES:
                yield problem

    @classmethod
    def from_file(cls, path: str) -> ExperimentTemplateSpec:
        """Load and judge a template from a ``.json``, ``.yaml`` or ``.yml`` file."""
        from submarine.models._files import load_document

        return cls.model_validate(load_document(path))

    @classmethod
    def _problems(
        cls, instance: ExperimentTemplateSpec | None, data: Mapping[Any, Any]
    ) -> list[InitErrorDetails]:
        data = _without_null_parameters(data)
        spec = _as_document(data.get("experimentSpec", data.get("experiment_spec")))
        raw = data.get("parameters")
        for alias in _PARAMETERS_ALIASES:
            raw = data.get(alias) if raw is None else raw
        problems = [
            custom_error(
                "parameters",
                f"{alias!r} is given with 'parameters' (0.8.0's two names of the same list): "
                "give the parameters once, under 'parameters'",
                (alias,),
                data[alias],
            )
            for alias in _PARAMETERS_ALIASES
            if alias in data and "parameters" in data
        ]
        if not isinstance(spec, Mapping):
            return problems
        items = [_as_document(p) for p in raw] if isinstance(raw, list | tuple) else []
        params = [p for p in items if isinstance(p, Mapping)]
        return problems + template_problems(spec, params)

    def _normalise(self) -> None:
        # Always sent, empty or not: 0.8.0 fails with a bare 500 on a template without them.
        self.__pydantic_fields_set__.add("parameters")

    @property
    def all_parameters(self) -> list[dict[str, Any]]:
        """The parameters as a server stores them: these, and each role's made ones."""
        declared = [p.to_dict() for p in self.parameters]
        return with_resource_parameters(declared, self.experiment_spec)

    def fill(self, params: Mapping[str, Any] | None = None) -> ExperimentSpec:
        """The experiment spec this template gives with ``params`` (defaults for the rest),
        as a server would submit it.

        Raises:
            TemplateFillError: a key is not a parameter, or a required one has no value.
            pydantic.ValidationError: the filled spec is not valid.
        """
        filling = fill(self.experiment_spec, self.all_parameters, params or {})
        wrong = [
            f"{what}: {', '.join(keys)}"
            for what, keys in (
                ("not parameters of the template", filling.illegal),
                ("given no value", filling.unmapped),
            )
            if keys
        ]
        if wrong:
            raise TemplateFillError(f"template {self.name!r}: " + "; ".join(wrong))
        return ExperimentSpec.model_validate(filling.spec)


def _without_null_parameters(data: Mapping[Any, Any]) -> Mapping[Any, Any]:
    """``data`` without a null list of parameters under any of their names (0.8.0's
    models default both to None)."""
    names = ("parameters", *_PARAMETERS_ALIASES)
    if not any(name in data and data[name] is None for name in names):
        return data
    return {k: v for k, v in data.items() if not (k in names and v is None)}


def _steps(path: str) -> tuple[str | int, ...]:
    return tuple(path_steps(path))


def _keys_with_placeholders(value: Any, loc: tuple[str | int, ...]) -> Iterator[InitErrorDetails]:
    if isinstance(value, Mapping):
        for key, item in value.items():
            if isinstance(key, str) and PLACEHOLDER.search(key):
                yield custom_error(
                    "placeholder",
                    f"key {key!r} holds a placeholder: placeholders work only in string "
                    "values, never in keys",
                    (*loc, key),
                    key,
                )
            yield from _keys_with_placeholders(item, (*loc, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _keys_with_placeholders(item, (*loc, index))


def template_problems(
    experiment_spec: Mapping[str, Any], parameters: list[Mapping[str, Any]]
) -> list[InitErrorDetails]:
    """The problems of a template as a whole, each at its wire path: parameters given twice
    or never used, placeholders without a parameter or outside string values, and the spec
    filled with the defaults."""
    problems: list[InitErrorDetails] = []
    where: dict[str, int] = {}
    named: list[Mapping[str, Any]] = []
    for index, parameter in enumerate(parameters):
        name = parameter.get("name")
        if not (isinstance(name, str) and name):
            continue  # the field rules say so: not also "never used"
        named.append(parameter)
        if name in where:
            problems.append(
                custom_error(
                    "parameter",
                    f"parameter {name!r} is given twice (parameters[{where[name]}] and "
                    f"parameters[{index}]): give it once",
                    ("parameters", index, "name"),
                    name,
                )
            )
        where.setdefault(name, index)
    problems.extend(_keys_with_placeholders(experiment_spec, ("experimentSpec",)))
    for path, value in flatten(experiment_spec).items():
        steps = _steps(path)
        if isinstance(value, str) and PLACEHOLDER.search(value) and _takes_no_string(steps):
            problems.append(
                custom_error(
                    "placeholder",
                    f"{value!r}: placeholders work only in string values; parameterise a "
                    f"number or boolean by its path instead (a parameter named {path!r})",
                    ("experimentSpec", *steps),
                    value,
                )
            )
    stored = with_resource_parameters(named, experiment_spec)
    filling = fill(experiment_spec, stored, defaults(stored, stand_in=True))
    for name in filling.unused:
        if name in where:
            problems.append(
                custom_error(
                    "parameter",
                    f"parameter {name!r} is never used: put {{{{{name}}}}} in a string value "
                    "of experimentSpec, name it by a value's path, or remove it",
                    ("parameters", where[name], "name"),
                    name,
                )
            )
    for path, name in filling.placeholders_unmapped:
        if _takes_no_string(_steps(path)):
            continue  # said above: a placeholder where only a number goes
        problems.append(
            custom_error(
                "placeholder",
                f"placeholder {{{{{name}}}}} has no parameter: add "
                f"{{'name': {name!r}, 'value': ...}} to parameters",
                ("experimentSpec", *_steps(path)),
                name,
            )
        )
    if filling.ok and not problems:
        try:
            ExperimentSpec.model_validate(filling.spec)
        except ValidationError as exc:
            for err in exc.errors(include_url=False):
                problems.append(
                    custom_error(
                        err["type"],
                        f"{err['msg']} (with the parameters' defaults filled in)",
                        ("experimentSpec", *err["loc"]),
                        err.get("input"),
                    )
                )
    return problems


class ExperimentTemplateSubmit(InputModel):
    """What is sent to submit a template: the values of its parameters."""

    _missing_hints: ClassVar[Mapping[str, str]] = {
        "params": "the values of the template's parameters, like {'learning_rate': '0.2'} "
        "({} to use every default)"
    }

    name: str | None = None
    """The template's name; the server takes the one in the path."""
    params: dict[str, ParamText | None]
    """Values by parameter name (numbers and booleans are sent as text)."""


# -- what a server says ------------------------------------------------------------------


class ExperimentTemplateParamSpecPayload(PayloadModel):
    """A parameter of a template, as a server reports it."""

    name: str | None = None
    """The parameter's name."""
    required: str | None = None
    """"true" when a value must be given at submit."""
    description: str | None = None
    """What the parameter means."""
    value: str | None = None
    """The default value."""


class ExperimentTemplateSpecPayload(PayloadModel):
    """A template as a server reports it (with each role's made parameters)."""

    name: str | None = None
    """The template's name."""
    author: str | None = None
    """Who wrote it."""
    description: str | None = None
    """What it runs."""
    parameters: list[ExperimentTemplateParamSpecPayload] | None = None
    """Its parameters, the made ``spec.R.*`` ones included."""
    experiment_spec: ExperimentSpecPayload | None = None
    """The experiment spec with its placeholders."""


class ExperimentTemplateId(PayloadModel):
    """The id 0.8.0 gives a template in create and patch answers."""

    id: int | None = None
    """A counter of the server."""
    server_timestamp: int | None = None
    """When the server started, in epoch milliseconds."""


class ExperimentTemplate(PayloadModel):
    """A template as a server answers it: the id (create and patch only) and the spec.

    >>> t = ExperimentTemplate.model_validate(
    ...     {"experimentTemplateId": None, "experimentTemplateSpec": {"name": "t"}})
    >>> t.name, t["experimentTemplateSpec"]["name"]
    ('t', 't')
    """

    experiment_template_id: ExperimentTemplateId | None = None
    """Filled only in the answers of create and patch."""
    experiment_template_spec: ExperimentTemplateSpecPayload = Field(
        default_factory=ExperimentTemplateSpecPayload
    )
    """The template."""

    @property
    def name(self) -> str | None:
        """The template's name."""
        return self.experiment_template_spec.name

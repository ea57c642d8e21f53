"""The rules of one field of a spec, as reusable ``Annotated`` types.

Each type accepts what Submarine 0.8.0 accepts and runs as meant, normalised to the form
that is sent (``replicas: "2"`` becomes ``2``, an env value ``3`` becomes ``"3"``), and
refuses the rest with a message that names the value and says what would be valid. The
input models of :mod:`submarine.models.spec` are built from them; rules that need several
fields live there.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Mapping
from typing import Annotated, Any, Final

from pydantic import BeforeValidator, WithJsonSchema
from pydantic_core import PydanticCustomError

from submarine.models.resources import MEMORY_NUMBER_MAX, ResourceError, Resources

__all__ = [
    "GIT_SCHEMES",
    "JAVA_INT_MAX",
    "RESOURCES_PATTERN",
    "ROLES",
    "SINGLE_ROLES",
    "Command",
    "EnvVars",
    "ExperimentName",
    "Framework",
    "FrameworkName",
    "GitBranch",
    "GitUrl",
    "ImageName",
    "Replicas",
    "ResourceText",
    "SyncMode",
    "any_case",
    "decimal_at_most",
]

JAVA_INT_MAX: Final = 2**31 - 1
"""The largest number the server reads into an int (replicas)."""
GIT_SCHEMES: Final = ("https", "http", "ssh", "git", "file")
"""URL schemes of a repository that the server's git sync can clone."""


class Framework(str, enum.Enum):
    """The training frameworks Submarine runs, in their canonical spelling."""

    TENSORFLOW = "TensorFlow"
    PYTORCH = "PyTorch"
    XGBOOST = "XGBoost"

    @classmethod
    def parse(cls, value: str) -> Framework:
        """Match a framework name case-insensitively (``"tensorflow"`` -> TensorFlow)."""
        for member in cls:
            if member.value.lower() == value.strip().lower():
                return member
        raise ValueError(
            f"unsupported framework {value!r}: choose one of " + ", ".join(m.value for m in cls)
        )

    @property
    def roles(self) -> tuple[str, ...]:
        """The role names (replica types) of this framework, canonically spelled."""
        return ROLES[self]

    def __str__(self) -> str:
        return self.value


ROLES: Final[Mapping[Framework, tuple[str, ...]]] = {
    Framework.TENSORFLOW: ("Ps", "Worker", "Chief", "Master", "Evaluator"),
    Framework.PYTORCH: ("Master", "Worker"),
    Framework.XGBOOST: ("Master", "Worker"),
}
"""Roles of each framework: the Kubernetes training operators' replica types."""

SINGLE_ROLES: Final[Mapping[Framework, Mapping[str, str]]] = {
    Framework.TENSORFLOW: {"Chief": "at most 1", "Master": "at most 1", "Evaluator": "at most 1"},
    Framework.PYTORCH: {"Master": "exactly 1"},
    Framework.XGBOOST: {"Master": "exactly 1"},
}
"""Roles with one replica at most (or exactly one), as the training operators take them."""

_NAME_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$")
_ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_DIGITS_RE = re.compile(r"^\s*[0-9]+\s*$")
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_SCP_RE = re.compile(r"^(?:(?P<user>[^@/:\s]+)@)?(?P<host>[^@/:\s]+):(?P<path>\S+)$")


def _error(kind: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(kind, message)


# -- patterns of the JSON Schemas (ECMA 262 regular expressions) ------------------------


def any_case(word: str) -> str:
    """A pattern matching ``word`` in any case: ``Ps`` -> ``[Pp][Ss]``."""
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in word)


def decimal_at_most(limit: int) -> str:
    """A pattern (no anchors) of the decimal numbers 0..``limit`` without leading zeros."""
    text = str(limit)
    width = len(text)
    options = ["0"]
    if width > 1:
        options.append(f"[1-9][0-9]{{0,{width - 2}}}")
    for index, digit in enumerate(text):
        low, high = (1 if index == 0 else 0), int(digit) - 1
        if high < low:
            continue
        rest = width - index - 1
        options.append(
            text[:index]
            + (f"[{low}-{high}]" if high > low else str(low))
            + (f"[0-9]{{{rest}}}" if rest else "")
        )
    options.append(text)
    return "(?:" + "|".join(options) + ")"


_CPU_PATTERN = r"(?:[0-9]+(?:\.[0-9]+)?|\.[0-9]+|[0-9]+m)"
_ITEM_PATTERN = (
    rf"\s*(?:cpu\s*=\s*{_CPU_PATTERN}"
    rf"|memory\s*=\s*0*{decimal_at_most(MEMORY_NUMBER_MAX)}[EPTGMK]"
    r"|nvidia\.com/gpu\s*=\s*[0-9]+)\s*"
)
RESOURCES_PATTERN: Final = rf"^{_ITEM_PATTERN}(?:,{_ITEM_PATTERN})*$"
"""Resource text the model accepts (each key once is checked by the model only)."""


def _name(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    if len(value) > 63:
        raise _error(
            "experiment_name",
            f"name {value[:20]!r}... is {len(value)} characters long: at most 63 are allowed "
            "(it becomes a Kubernetes label value)",
        )
    if not _NAME_RE.fullmatch(value):
        raise _error(
            "experiment_name",
            f"name {value!r} is not valid: use letters, digits, '-', '_' and '.', starting and "
            "ending with a letter or digit (it becomes a Kubernetes label value)",
        )
    return value


ExperimentName = Annotated[
    str,
    BeforeValidator(_name),
    WithJsonSchema({"type": "string", "maxLength": 63, "pattern": _NAME_RE.pattern}),
]
"""An experiment name: at most 63 of letters, digits, '-', '_', '.'; alphanumeric ends."""


def _control(text: str, allowed: str = "") -> str | None:
    """The first control character of ``text`` (C0, DEL or C1) not in ``allowed``, or None."""
    for char in text:
        code = ord(char)
        if (code < 0x20 or 0x7F <= code < 0xA0) and char not in allowed:
            return char
    return None


def _describe(char: str) -> str:
    return f"{char!r} (U+{ord(char):04X})"


def _command(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise _error(
            "command",
            f"command {value[:40]!r} holds a NUL byte (U+0000), which no process can be given "
            "in its arguments: remove it",
        )
    return value


Command = Annotated[
    str,
    BeforeValidator(_command),
    WithJsonSchema({"type": "string", "pattern": r"^[^\x00]*$"}),
]
"""A command line: any text but a NUL byte (the server splits it on spaces and runs it)."""


def _image(value: Any) -> Any:
    if isinstance(value, str):
        char = _control(value)
        if char is not None:
            raise _error(
                "image",
                f"image {value[:60]!r} holds the control character {_describe(char)}: an image "
                "reference is one line of printable text, like 'python:3.11'",
            )
    return value


ImageName = Annotated[
    str,
    BeforeValidator(_image),
    WithJsonSchema({"type": "string", "pattern": r"^[^\x00-\x1f\x7f-\x9f]*$"}),
]
"""A container image reference: printable text on one line."""


def _env_value(key: str, item: Any) -> tuple[str | None, str | None]:
    """The value as sent (a string) and the problem with it, one of them None."""
    if isinstance(item, str):
        if "\x00" in item:
            return None, (
                f"the value of {key!r} holds a NUL byte (U+0000), which no environment "
                "variable can hold: remove it"
            )
        return item, None
    if isinstance(item, int) and not isinstance(item, bool):
        return str(item), None
    if isinstance(item, float) and math.isfinite(item):
        return repr(item), None
    return None, (f"the value of {key!r} is {item!r}: give a string (a number is sent as its text)")


def _env_vars(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value
    problems: list[str] = []
    converted: dict[Any, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.fullmatch(key):
            problems.append(
                f"{key!r} is not an environment variable name "
                "(letters, digits, '_', '.', '-', not starting with a digit)"
            )
        text, problem = _env_value(str(key), item)
        if problem:
            problems.append(problem)
        converted[key] = text
    if problems:
        raise _error("env_vars", "; ".join(problems))
    return converted


EnvVars = Annotated[
    dict[str, str],
    BeforeValidator(_env_vars),
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": _ENV_NAME_RE.pattern},
            "additionalProperties": {
                "anyOf": [{"type": "string", "pattern": r"^[^\x00]*$"}, {"type": "number"}]
            },
        }
    ),
]
"""Environment variables: valid names; string values (numbers are sent as strings)."""


def _replicas(value: Any) -> Any:
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and _DIGITS_RE.match(value):
        number = int(value)
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    if number is None or number < 1:
        hint = " (Submarine would truncate it)" if isinstance(value, float) else ""
        raise _error(
            "replicas",
            f"replicas must be a whole number of at least 1, like 2, got {value!r}{hint}",
        )
    if number > JAVA_INT_MAX:
        raise _error("replicas", f"replicas must be at most {JAVA_INT_MAX}, got {value!r}")
    return number


Replicas = Annotated[
    int,
    BeforeValidator(_replicas),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1, "maximum": JAVA_INT_MAX},
                {
                    "type": "string",
                    "pattern": rf"^\s*0*(?=[1-9]){decimal_at_most(JAVA_INT_MAX)}\s*$",
                },
            ]
        }
    ),
]
"""A number of replicas, at least 1; digits in a string (``"2"``) are read as the number."""


def _resources(value: Any) -> Any:
    try:
        if isinstance(value, Resources):
            return str(value)
        if isinstance(value, Mapping):
            return str(Resources.from_mapping(value))
        if isinstance(value, str):
            return str(Resources.parse(value))
    except ResourceError as exc:
        raise _error("resources", str(exc)) from None
    raise _error(
        "resources",
        f"resources must be a string like 'cpu=1,memory=1024M' or a mapping, got {value!r}",
    )


ResourceText = Annotated[
    str,
    BeforeValidator(_resources),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": RESOURCES_PATTERN},
                {
                    "type": "object",
                    "properties": {
                        key: {"type": ["string", "number"]}
                        for key in ("cpu", "memory", "nvidia.com/gpu")
                    },
                    "additionalProperties": False,
                },
            ],
            "examples": ["cpu=1,memory=1024M", "cpu=500m,memory=2G,nvidia.com/gpu=1"],
        }
    ),
]
"""Resources of one replica as sent: ``"cpu=1,memory=1024M"``; a mapping or
:class:`~submarine.models.resources.Resources` is accepted and written that way."""


def _framework(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return Framework.parse(value).value
    except ValueError as exc:
        raise _error("framework", str(exc)) from None


FrameworkName = Annotated[
    str,
    BeforeValidator(_framework),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(?:" + "|".join(any_case(f.value) for f in Framework) + r")\s*$",
            "examples": [f.value for f in Framework],
        }
    ),
]
"""A framework name in any case, kept in its canonical spelling (``"TensorFlow"``)."""


def _sync_mode(value: Any) -> Any:
    if value is None:
        return "git"
    if not isinstance(value, str):
        return value
    if value.strip().lower() != "git":
        raise _error(
            "sync_mode",
            f"syncMode {value!r} is not supported: use 'git' (Submarine accepts hdfs, nfs "
            "and s3 but syncs no code for them)",
        )
    return "git"


SyncMode = Annotated[
    str,
    BeforeValidator(_sync_mode),
    WithJsonSchema(
        {"anyOf": [{"type": "string", "pattern": rf"^\s*{any_case('git')}\s*$"}, {"type": "null"}]}
    ),
]
"""How code reaches the replicas: only ``"git"`` (any case; null means git)."""


def _git_url(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    scheme = _SCHEME_RE.match(text)
    if scheme:
        if scheme.group(1).lower() in GIT_SCHEMES:
            return value
        problem = f"scheme {scheme.group(1)!r} cannot be cloned"
        suggestion = "use one of " + ", ".join(f"{s}://" for s in GIT_SCHEMES)
    elif (scp := _SCP_RE.match(text)) is not None:
        user = f"{scp['user']}@" if scp["user"] else ""
        problem = "is in scp form, which Submarine cannot read (HTTP 500)"
        path = scp["path"].lstrip("/")
        suggestion = f"write it as 'ssh://{user}{scp['host']}/{path}'"
    elif text.startswith("/"):
        problem = "has no scheme"
        suggestion = f"write it as 'file://{text}' or as an https:// or ssh:// URL"
    else:
        problem = "has no scheme, which Submarine cannot read (HTTP 500)"
        suggestion = (
            f"write it as 'https://{text}', or 'ssh://git@host/path' for ssh"
            if text
            else "give the repository's URL, like 'https://host/path.git'"
        )
    raise _error("git_url", f"git url {value!r} {problem}: {suggestion}")


GitUrl = Annotated[
    str,
    BeforeValidator(_git_url),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^\s*(?:" + "|".join(any_case(s) for s in GIT_SCHEMES) + ")://",
        }
    ),
]
"""A repository URL with a scheme git can clone: https://, http://, ssh://, git://, file://."""


def _branch(value: Any) -> Any:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "main"
    return value


GitBranch = Annotated[
    str,
    BeforeValidator(_branch),
    WithJsonSchema({"anyOf": [{"type": "string"}, {"type": "null"}]}),
]
"""A branch to check out; null or blank means ``"main"``, as on the server."""

"""How an experiment template becomes an experiment spec: Submarine 0.8.0's mapping rules.

Standard library only, and the one implementation of the rules: the input model
(:class:`~submarine.models.template.ExperimentTemplateSpec`) runs them to judge a template
before it is sent, the local server to store and submit one. The rules, as 0.8.0 applies
them:

* :func:`with_resource_parameters`: every role ``R`` of the spec has three parameters made
  for it, ``spec.R.replicas``, ``spec.R.resourceMap.cpu`` and ``spec.R.resourceMap.memory``,
  whose values are the role's (``"1"`` for a missing replica count or cpu). 0.8.0 appends
  them again on every create or patch; here a parameter of one of those names is replaced,
  so a template read back and sent again keeps one of each.
* :func:`fill`: the values given (or the parameters' defaults) replace every ``{{x}}`` in a
  string value (``{{path:x}}``'s parameter ``<path>:x``, e.g. ``meta.cmd:lr``, wins over
  ``x``), and a parameter named by a value's dotted path (``spec.Worker.replicas``) replaces
  that value whole. A role's ``resources`` is rebuilt from its cpu and memory parameters
  (filled in turn, so ``cpu={{cpu}}`` in a role's resources works as in 0.8.0), keeping its
  other keys (``nvidia.com/gpu``); a parameter named ``spec.R.resources`` gives it whole.
  What went wrong is kept, not raised: keys that are not parameters (*illegal*), parameters
  nothing used (*unused*) and placeholders or required parameters with no value
  (*unmapped*), so that the server words it as 0.8.0 does and the model as the project does.

Paths are json-flattener's, as 0.8.0 uses: ``meta.envVars.ENV1``, ``meta.tags[0]``, and
``meta.envVars["A.B"]`` for a key with a dot or bracket in it.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

__all__ = [
    "GENERATED_SUFFIXES",
    "PLACEHOLDER",
    "STAND_IN",
    "Filling",
    "defaults",
    "fill",
    "flatten",
    "generated_names",
    "path_steps",
    "placeholders",
    "resource_parameters",
    "unflatten",
    "with_resource_map",
    "with_resource_parameters",
]

PLACEHOLDER: Final = re.compile(r"\{\{(.*?)\}\}")
"""A ``{{name}}`` in a string value (the name may be empty or hold any character)."""
GENERATED_SUFFIXES: Final = ("replicas", "resourceMap.cpu", "resourceMap.memory")
"""The parameters made for every role ``R``: ``spec.R.<suffix>``."""
STAND_IN: Final = "1"
"""The value a required parameter with no default takes when a template is judged: valid
as a name, a number, a cpu and a command word."""

_PLAIN_KEY: Final = re.compile(r"[^.\[\]\"\\]+")


@dataclass
class Filling:
    """What filling a template gave: the spec, and what did not fit (each sorted)."""

    spec: dict[str, Any]
    """The experiment spec with the values in (``resourceMap`` dropped)."""
    illegal: list[str] = field(default_factory=list)
    """Keys given that are not parameters of the template."""
    unused: list[str] = field(default_factory=list)
    """Parameters (with a value) that no placeholder or path used."""
    unmapped: list[str] = field(default_factory=list)
    """Required parameters with no value, and ``<path>:<name>`` of placeholders whose
    parameter has no value or does not exist."""
    placeholders_unmapped: list[tuple[str, str]] = field(default_factory=list)
    """``(path, name)`` of each placeholder in :attr:`unmapped`: a path or a name may
    itself hold a ``:``, which the joined text cannot tell apart."""

    @property
    def ok(self) -> bool:
        """True when everything fitted."""
        return not (self.illegal or self.unused or self.unmapped)


def _parse_resources(text: Any) -> dict[str, str]:
    """``cpu=1,memory=1024M`` as a mapping (0.8.0's lenient reading: blank items skipped)."""
    found: dict[str, str] = {}
    if not isinstance(text, str):
        return found
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if sep and key.strip():
            found[key.strip()] = value.strip()
    return found


def _roles(experiment_spec: Mapping[str, Any]) -> dict[str, Any]:
    roles = experiment_spec.get("spec")
    return dict(roles) if isinstance(roles, Mapping) else {}


def generated_names(role: str) -> list[str]:
    """The names of the parameters made for ``role``."""
    return [f"spec.{role}.{suffix}" for suffix in GENERATED_SUFFIXES]


def resource_parameters(experiment_spec: Mapping[str, Any]) -> list[dict[str, str]]:
    """The three parameters of every role, as 0.8.0 makes them (roles in the spec's order)."""
    made: list[dict[str, str]] = []
    for role, task in _roles(experiment_spec).items():
        task = task if isinstance(task, Mapping) else {}
        amounts = _parse_resources(task.get("resources"))
        if not amounts and isinstance(task.get("resourceMap"), Mapping):
            amounts = {str(k): str(v) for k, v in task["resourceMap"].items()}
        replicas = task.get("replicas")
        values = (
            "1" if replicas is None else str(replicas),
            amounts.get("cpu", "1"),
            # Where 0.8.0 writes "1" (one byte, which no replica runs in), an empty value
            # leaves memory out of the resources it rebuilds.
            amounts.get("memory", ""),
        )
        for name, value in zip(generated_names(str(role)), values, strict=True):
            made.append({"name": name, "required": "false", "description": "", "value": value})
    return made


def with_resource_parameters(
    parameters: Sequence[Mapping[str, Any]], experiment_spec: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """``parameters`` with each role's made parameters appended, replacing any of the same
    name (0.8.0 would append a second copy)."""
    made = resource_parameters(experiment_spec)
    names = {p["name"] for p in made}
    kept = [dict(p) for p in parameters if p.get("name") not in names]
    return kept + made


def with_resource_map(experiment_spec: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the spec with each role's ``resourceMap`` read from its ``resources``, as
    0.8.0 stores a template's spec."""
    spec = copy.deepcopy(dict(experiment_spec))
    for task in _roles(spec).values():
        if isinstance(task, dict):
            amounts = _parse_resources(task.get("resources"))
            if amounts:
                task["resourceMap"] = amounts
    return spec


def placeholders(text: str) -> list[str]:
    """The names of the ``{{placeholders}}`` in ``text``, in order."""
    return PLACEHOLDER.findall(text)


# -- json-flattener's paths -------------------------------------------------------------


def _join(prefix: str, key: str) -> str:
    step = key if _PLAIN_KEY.fullmatch(key) else "[" + json.dumps(key) + "]"
    if not prefix:
        return step
    return prefix + step if step.startswith("[") else f"{prefix}.{step}"


def flatten(document: Mapping[str, Any]) -> dict[str, Any]:
    """Every leaf of ``document`` by its path; nulls left out (as Gson writes them), empty
    objects and lists kept as leaves."""
    flat: dict[str, Any] = {}

    def walk(value: Any, path: str) -> None:
        if isinstance(value, Mapping) and value:
            for key, item in value.items():
                walk(item, _join(path, str(key)))
        elif isinstance(value, list) and value:
            for index, item in enumerate(value):
                walk(item, f"{path}[{index}]")
        elif value is not None:
            flat[path] = value

    walk(document, "")
    return flat


_STEP: Final = re.compile(r'\.?([^.\[\]"\\]+)|\[("(?:[^"\\]|\\.)*")\]|\[([0-9]+)\]')


def path_steps(path: str) -> Iterator[str | int]:
    """The keys and indexes of a flattened path, in order."""
    for match in _STEP.finditer(path):
        plain, quoted, index = match.groups()
        if plain is not None:
            yield plain
        elif quoted is not None:
            yield str(json.loads(quoted))
        else:
            yield int(index)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The document whose :func:`flatten` is ``flat``."""
    root: dict[str, Any] = {}
    for path, value in flat.items():
        steps = list(path_steps(path))
        node: Any = root
        for step, following in itertools.pairwise(steps):
            empty: Any = [] if isinstance(following, int) else {}
            if isinstance(node, list):
                assert isinstance(step, int)
                while len(node) <= step:
                    node.append(None)
                if node[step] is None:
                    node[step] = empty
                node = node[step]
            else:
                node = node.setdefault(step, empty)
        last = steps[-1]
        if isinstance(node, list):
            assert isinstance(last, int)
            while len(node) <= last:
                node.append(None)
            node[last] = value
        else:
            node[last] = value
    return root


# -- filling ----------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _is_required(parameter: Mapping[str, Any]) -> bool:
    """Java's ``Boolean.parseBoolean``: only "true", in any case, is true."""
    return (_text(parameter.get("required")) or "").lower() == "true"


def defaults(parameters: Sequence[Mapping[str, Any]], *, stand_in: bool = False) -> dict[str, str]:
    """The values a template is dry-run with: each parameter's own (``""`` for none, or
    :data:`STAND_IN` for a required one when ``stand_in``)."""
    values: dict[str, str] = {}
    for parameter in parameters:
        value = _text(parameter.get("value"))
        if value is None or (stand_in and value == "" and _is_required(parameter)):
            value = STAND_IN if stand_in and _is_required(parameter) else ""
        values[str(parameter.get("name"))] = value
    return values


def _resources_text(cpu: str | None, memory: str | None) -> str:
    """``cpu=<cpu>,memory=<memory>``, leaving out what has no value."""
    return ",".join(f"{key}={value}" for key, value in (("cpu", cpu), ("memory", memory)) if value)


def _rebuilt_resources(task: dict[str, Any], filled: str) -> str:
    """A role's resources: its filled cpu and memory, and the other keys of its map."""
    amounts = _parse_resources(filled)
    parts = [f"{key}={value}" for key, value in amounts.items() if value]
    others = task.get("resourceMap")
    if isinstance(others, Mapping):
        parts += [
            f"{k}={v}" for k, v in others.items() if k not in ("cpu", "memory") and k not in amounts
        ]
    return ",".join(parts)


def _as_before(before: Any, text: str) -> Any:
    """A value replaced by its path keeps its JSON type when the text reads as one (Gson
    reads ``"2"`` into an int field); else the text, for validation to judge."""
    if isinstance(before, bool):
        return {"true": True, "false": False}.get(text.strip().lower(), text)
    if isinstance(before, int | float):
        try:
            number = json.loads(text)
        except ValueError:
            return text
        return number if isinstance(number, int | float) and not isinstance(number, bool) else text
    return text


def fill(
    experiment_spec: Mapping[str, Any],
    parameters: Sequence[Mapping[str, Any]],
    given: Mapping[str, Any],
) -> Filling:
    """Fill the template's spec with the ``given`` values (names of ``parameters``; numbers
    and booleans are read as their text), the defaults standing in for the others.

    ``parameters`` are the template's as stored (the made ones included).
    """
    declared = {str(p.get("name")): p for p in parameters}
    values: dict[str, str | None] = {}
    illegal: list[str] = []
    for key, value in given.items():
        if key not in declared:
            illegal.append(str(key))
        elif (text := _text(value)) is not None:
            values[str(key)] = text
    unmapped: set[str] = set()
    for name, parameter in declared.items():
        if values.get(name) is None:
            if _is_required(parameter):
                unmapped.add(name)
            else:
                values[name] = _text(parameter.get("value"))
    unused = set(values)
    missing: dict[str, tuple[str, str]] = {}
    replaced: set[str] = set()
    stored = with_resource_map(experiment_spec)
    flat = flatten(stored)
    resources = {str(role): _join(_join("spec", str(role)), "resources") for role in _roles(stored)}
    for role, path in resources.items():
        # As 0.8.0 does: the text is built of the made parameters' values, and then filled
        # like any other, so that "cpu={{cpu}}" in a role's resources gets its value.
        cpu, memory = (values.get(f"spec.{role}.resourceMap.{k}") for k in ("cpu", "memory"))
        flat[path] = _resources_text(cpu, memory)
    for path, value in list(flat.items()):
        matched = False
        if isinstance(value, str):
            pieces: list[str] = []
            end = 0
            for match in PLACEHOLDER.finditer(value):
                name = match.group(1)
                for key in (f"{path}:{name}", name):
                    if values.get(key) is not None:
                        pieces += [value[end : match.start()], str(values[key])]
                        end = match.end()
                        matched = True
                        unused.discard(key)
                        unmapped.discard(key)
                        break
                else:
                    unmapped.add(f"{path}:{name}")
                    missing.setdefault(f"{path}:{name}", (path, name))
            if matched:
                flat[path] = "".join(pieces) + value[end:]
        if not matched and values.get(path) is not None:
            flat[path] = _as_before(value, str(values[path]))
            unused.discard(path)
            replaced.add(path)
    # The made parameters always count as used: a role's resources are rebuilt from them.
    for role in resources:
        unused.difference_update(generated_names(role))
    spec = unflatten(flat)
    for role, task in _roles(spec).items():
        if isinstance(task, dict):
            path = resources[str(role)]
            filled = str(flat.get(path) or "")
            # A parameter named by the resources' path gives them whole.
            task["resources"] = filled if path in replaced else _rebuilt_resources(task, filled)
            task.pop("resourceMap", None)
    at = [missing[key] for key in sorted(unmapped) if key in missing]
    return Filling(spec, sorted(illegal), sorted(unused), sorted(unmapped), at)

"""Property tests of the models beyond ``tests/models/test_properties.py``.

That module feeds JSON values and near-valid specs to ``ExperimentSpec``. This one adds:
generated *valid* specs (they validate, and validate again to the same thing), hostile
text in every string field, Python values no JSON parser makes, raw bytes to the JSON
entry points (invalid UTF-8, deep nesting), documents to ``parse_document``, and the
small parsers (resources, statuses, frameworks, times). The rule everywhere: a value
either parses or raises the documented exception with a readable message; nothing else.
"""

from __future__ import annotations

import copy
import json
import math
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from submarine.models import (
    ROLES,
    Experiment,
    ExperimentLog,
    ExperimentSpec,
    ExperimentStatus,
    Framework,
    ResourceError,
    Resources,
    SpecFileError,
    format_time,
    parse_document,
    parse_status,
    problems_of,
)
from submarine.models.schema import spec_schema

from .conftest import Figures

pytestmark = [pytest.mark.reliability, pytest.mark.bounded]

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- generators ---------------------------------------------------------------------

names = st.from_regex(r"\A[a-z0-9]([a-z0-9._-]{0,40}[a-z0-9])?\Z")
env_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_]{0,12}\Z")
hostile_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "\ud800",  # a lone surrogate: a str, but not encodable as UTF-8
            "$(touch /tmp/pwned)",
            "`id`; rm -rf / | cat",
            "../../etc/passwd",
            "%2F..%2F",
            "\u202e\u200b",
            "a" * 5000,
            "cpu=1,memory=1024M",
            "null",
            "{}",
        ]
    ),
)
resources = st.lists(
    st.sampled_from(
        ["cpu=1", "cpu=500m", "memory=1024M", "memory=2G", "memory=1073741823K", "nvidia.com/gpu=1"]
    ),
    min_size=1,
    max_size=3,
    unique_by=lambda item: item.split("=")[0],
).map(",".join)
no_nul = st.characters(exclude_characters="\x00")
"""Any character a process can be given: commands and env values hold no NUL byte."""
env_values = st.one_of(st.text(no_nul, max_size=10), st.integers(-(10**6), 10**6))
images = st.text(st.characters(exclude_categories=("Cc", "Cs")), min_size=1, max_size=20)
"""Image references: printable text on one line (no control character)."""


@st.composite
def valid_specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec that must validate: any framework, its roles in any case, the rules kept."""
    framework = draw(st.sampled_from(list(Framework)))
    roles = draw(st.lists(st.sampled_from(ROLES[framework]), min_size=1, unique=True))
    if framework is Framework.XGBOOST and "Master" not in roles:
        roles.append("Master")
    if framework is Framework.TENSORFLOW and {"Chief", "Master"} <= set(roles):
        roles.remove(draw(st.sampled_from(["Chief", "Master"])))
    single = {"Chief", "Master", "Evaluator"}
    spec: dict[str, Any] = {}
    for role in roles:
        replicas = 1 if role in single else draw(st.integers(1, 8))
        task: dict[str, Any] = {
            "replicas": draw(st.sampled_from([replicas, str(replicas)])),
            "resources": draw(resources),
        }
        if draw(st.booleans()):
            task["resourceMap"] = {"cpu": "1"}
        if draw(st.booleans()):
            task["envVars"] = draw(st.dictionaries(env_names, env_values, max_size=3))
        spelled = draw(st.sampled_from([role, role.lower(), role.upper()]))
        spec[spelled] = task
    meta: dict[str, Any] = {
        "name": draw(names),
        "framework": draw(st.sampled_from([framework.value, framework.value.lower()])),
        "cmd": draw(st.text(no_nul, min_size=1, max_size=30).filter(str.strip)),
    }
    if draw(st.booleans()):
        meta["envVars"] = draw(st.one_of(st.none(), st.dictionaries(env_names, env_values)))
    if draw(st.booleans()):
        meta["tags"] = draw(st.lists(st.text(max_size=8), max_size=3))
    data: dict[str, Any] = {
        "meta": meta,
        "environment": {"image": draw(images)},
        "spec": spec,
    }
    if draw(st.booleans()):
        git = {
            "url": "https://example.com/r.git",
            "branch": draw(st.sampled_from([None, "", "dev"])),
        }
        data["code"] = {"git": git} if draw(st.booleans()) else {"syncMode": "git", "git": git}
    if framework is Framework.TENSORFLOW and "Ps" in roles and draw(st.booleans()):
        data["experimentHandlerSpec"] = {"FILE_SYSTEM_TYPE": "HDFS"}
    return data


python_values = st.deferred(
    lambda: st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.just(2**200),
        st.floats(),  # NaN and infinities included
        st.binary(max_size=8),
        st.text(max_size=8),
        st.datetimes(),
        st.tuples(st.integers(), st.text(max_size=3)),
        st.frozensets(st.integers(), max_size=3),
        st.lists(python_values, max_size=3),
        st.dictionaries(st.one_of(st.text(max_size=5), st.integers()), python_values, max_size=3),
    )
)


def _string_paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Paths of every string leaf and every dict key of a document."""
    found: list[tuple[Any, ...]] = []
    if isinstance(data, dict):
        for key, value in data.items():
            found.append((*prefix, ("key", key)))
            found.extend(_string_paths(value, (*prefix, key)))
    elif isinstance(data, str):
        found.append(prefix)
    return found


def _replace(data: Any, path: tuple[Any, ...], value: Any) -> None:
    *parents, last = path
    node = data
    for part in parents:
        node = node[part]
    if isinstance(last, tuple):  # rename a key
        _, key = last
        node[value] = node.pop(key)
    else:
        node[last] = value


def expect_spec_outcome(data: Any) -> ExperimentSpec | None:
    """Validate; on failure every problem must be a readable line with its path."""
    try:
        return ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        problems = problems_of(exc)
        assert problems, "a ValidationError without problems"
        for problem in problems:
            line = str(problem)
            assert line.startswith(problem.path + ": ")
            assert len(problem.message) > 3
        return None


# -- specs ------------------------------------------------------------------------------


SPEC_SCHEMA = jsonschema.Draft202012Validator(spec_schema())


@FAST
@given(valid_specs())
def test_generated_valid_specs_validate_and_are_stable(data: dict[str, Any]) -> None:
    spec = ExperimentSpec.model_validate(data)
    framework = spec.framework
    assert framework is not None
    assert set(spec.spec) <= set(framework.roles)
    assert spec.total_replicas == sum(int(t["replicas"]) for t in data["spec"].values())
    again = ExperimentSpec.model_validate(spec.to_dict())
    assert again == spec
    assert again.to_dict() == spec.to_dict()
    wire = json.loads(spec.to_json())
    assert ExperimentSpec.model_validate(wire).to_dict() == spec.to_dict()
    # What is sent is what 0.8.0 reads: no resourceMap, no null envVars, numbers as numbers.
    for task in wire["spec"].values():
        assert "resourceMap" not in task
        assert isinstance(task["replicas"], int)
        assert all(isinstance(v, str) for v in (task.get("envVars") or {}).values())
    assert wire["meta"].get("envVars", {}) is not None
    # The JSON Schema never refuses what the model accepts, as given or as sent.
    assert not [e.message for e in SPEC_SCHEMA.iter_errors(data)]
    assert not [e.message for e in SPEC_SCHEMA.iter_errors(wire)]


@FAST
@given(valid_specs(), st.data())
def test_hostile_text_anywhere_validates_or_names_the_field(
    data: dict[str, Any], draw: Any
) -> None:
    paths = _string_paths(data)
    mutated = copy.deepcopy(data)
    for path in draw.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        try:
            _replace(mutated, path, draw.draw(hostile_text))
        except (KeyError, TypeError):
            continue  # an earlier rename moved this path
    spec = expect_spec_outcome(mutated)
    if spec is not None:
        # Whatever passed is kept verbatim: no trimming, no shell-style interpretation.
        assert spec.meta.cmd == mutated["meta"].get("cmd")


@FAST
@given(valid_specs(), st.data())
def test_python_values_no_json_parser_makes_raise_only_validation_error(
    data: dict[str, Any], draw: Any
) -> None:
    paths = [p for p in _string_paths(data) if not isinstance(p[-1], tuple)]
    mutated = copy.deepcopy(data)
    for path in draw.draw(st.lists(st.sampled_from(paths), min_size=1, max_size=3, unique=True)):
        _replace(mutated, path, draw.draw(python_values))
    expect_spec_outcome(mutated)


@pytest.mark.parametrize("depth", [50, 500, 5000])
def test_deeply_nested_values_raise_validation_error(depth: int) -> None:
    deep: Any = []
    for _ in range(depth):
        deep = [deep]
    data = {
        "meta": {"name": "deep", "framework": "TensorFlow", "cmd": "true"},
        "environment": {"image": "x"},
        "spec": {"Worker": {"replicas": 1, "resources": "cpu=1", "image": deep}},
    }
    problems = problems_of(_raises(ExperimentSpec.model_validate, data))
    assert [p.path for p in problems] == ["spec.Worker.image"]


def _raises(function: Any, value: Any) -> ValidationError:
    with pytest.raises(ValidationError) as caught:
        function(value)
    return caught.value


# -- raw bytes and documents ----------------------------------------------------------------

raw_json = st.one_of(
    st.binary(max_size=200),
    st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    st.builds(lambda n: b"[" * n + b"]" * n, st.integers(1, 200_000)),
    st.builds(lambda n: b'{"a":' * n + b"1" + b"}" * n, st.integers(1, 100_000)),
    st.just(b'{"meta": "\xff\xfe"}'),
    st.just(b"\xef\xbb\xbf{}"),
)


@FAST
@given(raw_json)
def test_raw_bytes_to_json_entry_points_raise_only_validation_error(body: bytes) -> None:
    for model in (ExperimentSpec, Experiment, ExperimentLog):
        problems: list[Any] = ["none: it parsed"]
        try:
            model.model_validate_json(body)
        except ValidationError as exc:
            problems = exc.errors(include_url=False)
        assert problems


def _lists_of(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    # A named function: hypothesis checks from the source that ``extend`` uses its argument,
    # and a lambda among other lambdas of one statement can be taken for another.
    return st.lists(children, max_size=3)


documents = st.one_of(
    st.text(max_size=300),
    st.builds(json.dumps, st.recursive(st.text(max_size=5), _lists_of)),
    # Shallow here (a YAML parser takes ~0.5 s to give up on a deep one); deep ones below.
    st.builds(lambda n: "[" * n + "]" * n, st.integers(1, 300)),
    st.builds(lambda n: "- " * n + "x", st.integers(1, 300)),
    st.builds(lambda n: "{a: " * n + "1" + "}" * n, st.integers(1, 300)),
    st.sampled_from(
        [
            "!!python/object/apply:os.system ['touch /tmp/pwned']",
            "a: &a [*a]",
            "&x [*x, *x]",
            "key: !!binary AAAA",
            "%YAML 9.9\n---\na: 1",
            "\t- x",
            "{",
        ]
    ),
)


@FAST
@given(documents, st.booleans())
def test_parse_document_returns_data_or_raises_spec_file_error(
    text: str, yaml_syntax: bool
) -> None:
    message = "fuzz.doc: it parsed"
    try:
        parse_document(text, yaml_syntax=yaml_syntax, source="fuzz.doc")
    except SpecFileError as exc:
        message = str(exc)
    assert message.startswith("fuzz.doc")


@pytest.mark.parametrize(
    ("text", "yaml_syntax"),
    [
        pytest.param("[" * 100_000 + "]" * 100_000, False, id="json-lists-100k"),
        pytest.param('{"a":' * 100_000 + "1" + "}" * 100_000, False, id="json-maps-100k"),
        pytest.param("[" * 100_000 + "]" * 100_000, True, id="yaml-lists-100k"),
        pytest.param("- " * 5000 + "x", True, id="yaml-dashes-5k"),
    ],
)
def test_parse_document_refuses_deep_nesting_with_spec_file_error(
    text: str, yaml_syntax: bool, request: pytest.FixtureRequest, figures: Figures
) -> None:
    began = time.perf_counter()
    # The documented error, never a RecursionError (pytest.raises lets any other through).
    with pytest.raises(SpecFileError, match=r"^deep\.doc[:0-9]*: .*(nested too deeply|nesting)"):
        parse_document(text, yaml_syntax=yaml_syntax, source="deep.doc")
    refused = time.perf_counter() - began
    # How quickly, against a baseline of the same run: a server parses request bodies with
    # this, and must not stall on one. A figure of the report, not a pass mark.
    flat = "[" + ",".join(["0"] * (len(text) // 2)) + "]"
    began = time.perf_counter()
    json.loads(flat)
    baseline = time.perf_counter() - began
    case = request.node.callspec.id
    figures.set(
        f"deep document {case}: refused in (ms) / json.loads of a flat one as long (ms)",
        f"{refused * 1000:.1f} / {baseline * 1000:.1f}",
    )
    figures.set(
        f"deep document {case}: refused / flat json.loads (x)", round(refused / baseline, 2)
    )


# -- the small parsers ------------------------------------------------------------------------


@FAST
@given(st.text(max_size=60))
def test_resource_text_parses_or_raises_resource_error(text: str) -> None:
    try:
        parsed = Resources.parse(text)
    except ResourceError as exc:
        problems = exc.problems
        assert problems
        assert all(problems)
        return
    assert Resources.parse(str(parsed)) == parsed
    for key, value in parsed:
        assert f"{key}={value}" in str(parsed)


@FAST
@given(st.dictionaries(st.text(max_size=15), python_values, max_size=4))
def test_resource_mappings_parse_or_raise_resource_error(mapping: dict[str, Any]) -> None:
    try:
        parsed = Resources.from_mapping(mapping)
    except ResourceError as exc:
        message = str(exc)
        assert message
        return
    assert set(parsed.as_map()) <= {"cpu", "memory", "nvidia.com/gpu"}


@FAST
@given(st.text(max_size=20))
def test_status_and_framework_names_parse_or_raise_value_error(text: str) -> None:
    for parser, members in ((parse_status, ExperimentStatus), (Framework.parse, Framework)):
        try:
            parsed = parser(text)
        except ValueError as exc:
            message = str(exc)
            assert repr(text) in message
            assert all(member.value in message for member in members)
            continue
        assert parsed.value.lower() == text.strip().lower()


aware_datetimes = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))),
    st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(9998, 12, 31)),
    st.integers(-14 * 60, 14 * 60),
)


@FAST
@given(aware_datetimes)
def test_times_written_as_submarine_writes_them_read_back_to_the_second(
    moment: datetime,
) -> None:
    text = format_time(moment)
    assert text.endswith("Z")
    parsed = Experiment.model_validate({"experimentId": "e", "acceptedTime": text})
    assert parsed.to_dict()["acceptedTime"] == text
    got = parsed.accepted_time
    assert isinstance(got, datetime)
    assert got.utcoffset() == timedelta(0)
    assert timedelta(0) <= moment - got < timedelta(seconds=1)


@FAST
@given(aware_datetimes, st.sampled_from(["%Y-%m-%dT%H:%M:%S.{ms}%z", "%Y-%m-%dT%H:%M:%SZ"]))
def test_any_time_a_server_wrote_is_given_back_as_its_text(moment: datetime, form: str) -> None:
    text = moment.strftime(form.replace("{ms}", f"{moment.microsecond // 1000:03d}"))
    if "%z" in form:
        text = text[:-2] + ":" + text[-2:]  # +0800 -> +08:00, as 0.7 writes it
    parsed = Experiment.model_validate_json(json.dumps({"experimentId": "e", "createdTime": text}))
    assert parsed.to_dict()["createdTime"] == text
    assert isinstance(parsed.created_time, datetime)
    assert parsed.created_time.tzinfo is not None


payload_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**31), 2**31) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=6), c, max_size=3),
    max_leaves=10,
)


@FAST
@given(
    st.text(min_size=1, max_size=40),
    st.one_of(st.sampled_from([s.value for s in ExperimentStatus]), st.text(max_size=10)),
    st.dictionaries(st.text(max_size=10).filter(lambda k: k[:1].isupper()), payload_values),
)
def test_payloads_keep_unknown_keys_and_statuses(
    experiment_id: str, status: str, extra: dict[str, Any]
) -> None:
    payload = {"experimentId": experiment_id, "status": status, **extra}
    assume(not any(isinstance(v, float) and math.isnan(v) for v in extra.values()))
    parsed = Experiment.model_validate(payload)
    assert parsed.to_dict() == payload
    assert parsed.status_name == status
    assert parsed.is_terminal == (status in {"Succeeded", "Failed", "Deleted"})

"""Resource strings: parsing, refusal messages, and the exact round trip."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from submarine.models import ResourceError, Resources

cpu_values = st.one_of(
    st.integers(1, 512).map(str),
    st.integers(1, 64000).map(lambda n: f"{n}m"),
    st.tuples(st.integers(0, 64), st.integers(1, 999)).map(lambda t: f"{t[0]}.{t[1]}"),
)
memory_values = st.tuples(st.integers(1, 10**6), st.sampled_from("EPTGMK")).map(
    lambda t: f"{t[0]}{t[1]}"
)
gpu_values = st.integers(0, 16).map(str)


@st.composite
def resource_strings(draw: st.DrawFn) -> str:
    makers = {"cpu": cpu_values, "memory": memory_values, "nvidia.com/gpu": gpu_values}
    keys = draw(st.lists(st.sampled_from(list(makers)), min_size=1, max_size=3, unique=True))
    return ",".join(f"{key}={draw(makers[key])}" for key in keys)


@given(resource_strings())
def test_string_to_typed_to_string_is_exact(text: str) -> None:
    resources = Resources.parse(text)
    assert str(resources) == text
    assert Resources.from_mapping(resources.as_map()) == resources


def test_typed_accessors() -> None:
    r = Resources.parse("cpu=500m,memory=2G,nvidia.com/gpu=2")
    assert (r.cpu, r.memory, r.gpu) == ("500m", "2G", 2)
    assert r.cpu_millis == 500
    assert r.memory_bytes == 2 * 1024**3
    assert r.as_map() == {"cpu": "500m", "memory": "2G", "nvidia.com/gpu": "2"}
    assert Resources.parse("cpu=0.25").cpu_millis == 250
    assert Resources().cpu is None
    assert Resources().memory_bytes is None


def test_of_builds_and_validates() -> None:
    assert str(Resources.of(cpu=2, memory="1024M", gpu=1)) == "cpu=2,memory=1024M,nvidia.com/gpu=1"
    with pytest.raises(ResourceError, match="memory='2GB'"):
        Resources.of(memory="2GB")


def test_whitespace_is_tolerated() -> None:
    assert str(Resources.parse(" cpu = 1 , memory=1024M ")) == "cpu=1,memory=1024M"


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        ("gpu=1", ["unknown resource 'gpu'", "write nvidia.com/gpu=1 instead"]),
        ("mem=1G", ["unknown resource 'mem'", "memory=1G"]),
        ("disk=10G", ["unknown resource 'disk'", "Submarine ignores any other key"]),
        ("memory=1.5G", ["memory='1.5G'", "whole number", "memory limit"]),
        ("memory=1024Mi", ["memory='1024Mi'", "exactly one unit letter"]),
        ("memory=512", ["memory='512'"]),
        ("cpu=abc", ["cpu='abc'", "'500m'"]),
        ("cpu=0", ["cpu='0'"]),
        ("nvidia.com/gpu=1.5", ["nvidia.com/gpu='1.5'", "whole number"]),
        ("cpu", ["'cpu' is not a key=value item"]),
        ("cpu=1,,memory=1G", ["'' is not a key=value item"]),
        ("cpu=1,cpu=2", ["cpu is given twice"]),
        ("", ["resources is empty"]),
    ],
)
def test_bad_resources_name_the_value_and_the_fix(text: str, fragments: list[str]) -> None:
    with pytest.raises(ResourceError) as info:
        Resources.parse(text)
    for fragment in fragments:
        assert fragment in str(info.value)


def test_every_problem_is_reported() -> None:
    with pytest.raises(ResourceError) as info:
        Resources.parse("gpu=1,memory=1.5G,cpu=x")
    assert len(info.value.problems) == 3


def test_mapping_values_must_be_scalars() -> None:
    with pytest.raises(ResourceError, match="not a string or a number"):
        Resources.from_mapping({"cpu": [1]})
    with pytest.raises(ResourceError, match="not a string or a number"):
        Resources.from_mapping({"cpu": True})

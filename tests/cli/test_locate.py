"""Problem paths to lines: the YAML node tree and the JSON scanner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from submarine.cli._locate import json_tree, line_of, tree_of, yaml_tree
from submarine.cli._specfile import check_file
from submarine.models import parse_document

YAML = """\
# a comment
meta:
  name: x
  envVars:
    A: "1"
spec:
  Worker:
    replicas: 2
    resources: cpu=1
tags:
  - a
  - b
"""

JSON = """{
  "meta": {"name": "x",
           "envVars": {"A": "1"}},
  "spec": {
    "Worker": {
      "replicas": 2,
      "resources": "cpu=1"
    }
  },
  "tags": ["a",
           "b"],
  "odd \\"key\\"": [1, 2.5e3, true, null, {"k": -1}]
}
"""


@pytest.mark.parametrize(
    ("loc", "yaml_line", "json_line"),
    [
        (("meta",), 2, 2),
        (("meta", "name"), 3, 2),
        (("meta", "envVars", "A"), 5, 3),
        (("spec", "Worker"), 7, 5),
        (("spec", "Worker", "resources"), 9, 7),
        (("tags", 1), 12, 11),
        # A missing key: the line of the mapping that lacks it.
        (("meta", "cmd"), 2, 2),
        (("spec", "Worker", "image"), 7, 5),
        (("tags", 7), 10, 10),
        ((), 2, 1),
    ],
)
def test_line_of_a_path(loc: tuple[str | int, ...], yaml_line: int, json_line: int) -> None:
    assert line_of(yaml_tree(YAML), loc) == yaml_line
    assert line_of(json_tree(JSON), loc) == json_line


def test_json_keys_are_decoded() -> None:
    assert line_of(json_tree(JSON), ('odd "key"', 4, "k")) == 12


def test_unparseable_text_has_no_tree() -> None:
    assert tree_of("{", yaml_syntax=False) is None
    assert tree_of("a: [", yaml_syntax=True) is None
    assert line_of(None, ("meta",)) is None
    assert line_of(tree_of("", yaml_syntax=True), ("meta",)) is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(json_values, st.sampled_from([None, 1, 2]))
def test_the_scanner_reads_any_json(value: object, indent: int | None) -> None:
    text = json.dumps(value, indent=indent)
    tree = json_tree(text)
    if isinstance(value, dict) and value:
        first = next(iter(value))
        expected = 1 if indent is None else 2
        assert line_of(tree, (first,)) == expected
    else:
        assert tree.line == 1


DUPLICATED_YAML = """\
meta:
  name: x
spec:
  Worker:
    resources: cpu=1
  Worker:
    replicas: 2
    resources: memory=1.5G
"""

DUPLICATED_JSON = """{
  "spec": {"Worker": {"resources": "cpu=1"},
           "Worker": {"replicas": 2,
                      "resources": "memory=1.5G"}}
}
"""


def test_a_key_given_twice_points_at_the_value_the_parser_keeps() -> None:
    for text, yaml_syntax, line in ((DUPLICATED_YAML, True, 8), (DUPLICATED_JSON, False, 4)):
        kept = parse_document(text, yaml_syntax=yaml_syntax)
        assert kept["spec"]["Worker"]["resources"] == "memory=1.5G"
        tree = tree_of(text, yaml_syntax=yaml_syntax)
        assert line_of(tree, ("spec", "Worker", "resources")) == line


def test_validate_reports_the_line_of_the_last_duplicate(tmp_path: Path) -> None:
    path = tmp_path / "twice.yaml"
    path.write_text(
        "meta:\n  name: x\n  framework: TensorFlow\n  cmd: python t.py\n"
        "environment:\n  image: img\n"
        "spec:\n  Worker:\n    replicas: 1\n    resources: cpu=1\n"
        "  Worker:\n    replicas: 1\n    resources: memory=1.5G\n"
    )
    spec, problems = check_file(path)
    assert spec is None
    assert [(p.line, p.message.split(":")[0]) for p in problems] == [(13, "spec.Worker.resources")]

"""Template files without a server: ``submarine validate`` judges them with their lines,
the example template is valid, and each kind of file is told apart from the other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from submarine.cli import _app
from submarine.cli._specfile import check_any_file, check_file, check_template_file
from submarine.cli._template import parse_params
from submarine.models import ExperimentSpec, ExperimentTemplateSpec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BAD_TEMPLATE_YAML = """\
# yaml-language-server: $schema=../schemas/experiment-template.schema.json
name: validate
experimentTemplateParamSpec:
  - name: who
    value: world
  - name: idle
    value: 1
experimentSpec:
  meta:
    name: hello
    framework: TensorFlow
    cmd: "python -c \\"print('hello {{who}} {{missing}}')\\""
  environment: {image: local}
  spec:
    Worker:
      replicas: "{{n}}"
      resources: "cpu=100m,memory=64M"
"""

BAD_TEMPLATE_JSON = """{
  "name": "t",
  "parameters": [
    {"name": "lr", "value": "0.1"}
  ],
  "experimentSpec": {
    "meta": {"name": "x", "framework": "{{fw}}",
             "cmd": "python x.py --lr={{lr}}"},
    "environment": {"image": "local"},
    "spec": {"Worker": {"replicas": 1, "resources": "cpu=1"}}
  }
}
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app.app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_example_template_is_valid() -> None:
    example = EXAMPLES / "tf-mnist-template.yaml"
    code, out, err = invoke("validate", str(example))
    assert (code, out, err) == (0, f"{example}: valid\n", "")
    template, problems = check_template_file(example)
    assert problems == []
    assert isinstance(template, ExperimentTemplateSpec)
    assert [p.name for p in template.parameters] == [
        "learning_rate",
        "batch_size",
        "experiment_name",
    ]
    filled = template.fill({"experiment_name": "mnist-1", "learning_rate": "0.05"})
    assert filled.meta.cmd == (
        "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
        "--learning_rate=0.05 --batch_size=150"
    )


def test_validate_reports_every_problem_of_a_template_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_TEMPLATE_YAML)
    code, out, err = invoke("validate", str(path))
    assert code == 1
    assert err == "error: 1 of 1 file is not valid\n"
    lines = out.splitlines()
    assert lines[0].startswith(f"{path}:2: name: name 'validate' is taken")
    # 0.8.0's second name of the parameters: the line is found under it.
    assert lines[1].startswith(f"{path}:6: parameters.1.name: parameter 'idle' is never used")
    assert lines[2].startswith(f"{path}:12: experimentSpec.meta.cmd: placeholder {{{{missing}}}}")
    assert lines[3].startswith(f"{path}:16: experimentSpec.spec.Worker.replicas: '{{{{n}}}}': ")
    assert len(lines) == 4


def test_validate_finds_lines_in_a_json_template(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(BAD_TEMPLATE_JSON)
    code, out, _ = invoke("validate", str(path))
    assert code == 1
    assert out.splitlines() == [
        f"{path}:7: experimentSpec.meta.framework: placeholder {{{{fw}}}} has no parameter: "
        "add {'name': 'fw', 'value': ...} to parameters"
    ]


def test_validate_judges_specs_and_templates_together(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_TEMPLATE_YAML)
    spec = EXAMPLES / "ps-digits.yaml"
    example = EXAMPLES / "tf-mnist-template.yaml"
    code, out, err = invoke("validate", str(spec), str(path), str(example))
    assert code == 1
    assert f"{spec}: valid\n" in out
    assert f"{example}: valid\n" in out
    assert err == "error: 1 of 3 file is not valid\n"
    assert isinstance(check_any_file(spec)[0], ExperimentSpec)
    assert isinstance(check_any_file(example)[0], ExperimentTemplateSpec)


def test_a_template_is_not_an_experiment_spec(tmp_path: Path) -> None:
    example = EXAMPLES / "tf-mnist-template.yaml"
    spec, problems = check_file(example)
    assert spec is None
    (problem,) = problems
    assert problem.line == next(
        n for n, line in enumerate(example.read_text().splitlines(), 1) if line == "experimentSpec:"
    )
    assert "this is an experiment template (it has 'experimentSpec')" in problem.message
    assert f"`submarine template create -f {example}`" in problem.message


def test_an_experiment_spec_is_not_a_template() -> None:
    spec = EXAMPLES / "ps-digits.yaml"
    template, problems = check_template_file(spec)
    assert template is None
    assert [str(p) for p in problems] == [
        f"{spec}: this is an experiment spec, not a template (it has no 'experimentSpec'): "
        f"`submarine experiment create -f {spec}` creates it; a template holds it under "
        "'experimentSpec', with a name and parameters"
    ]


def test_an_unreadable_template_file_says_where(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: t\nexperimentSpec: [\n")
    _, problems = check_template_file(path)
    (problem,) = problems
    assert problem.line is not None
    assert "invalid YAML" in problem.message


def test_template_create_checks_the_file_before_any_server(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD_TEMPLATE_YAML)
    # No server listens there: the file's problems come first, one line each, exit 1.
    code, out, err = invoke("--host", "http://127.0.0.1:9", "template", "create", "-f", str(path))
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert len(lines) == 4
    assert all(line.startswith(f"error: {path}:") for line in lines)


def test_params_are_key_value_pairs() -> None:
    assert parse_params(["lr=0.2", "spec.Worker.replicas=2", "cmd=a=b", "empty="]) == {
        "lr": "0.2",
        "spec.Worker.replicas": "2",
        "cmd": "a=b",
        "empty": "",
    }
    with pytest.raises(typer.BadParameter, match="'lr' is not key=value"):
        parse_params(["lr"])
    with pytest.raises(typer.BadParameter, match="'=1' is not key=value"):
        parse_params(["=1"])
    with pytest.raises(typer.BadParameter, match=r"'lr' is given twice \('1' and '2'\)"):
        parse_params(["lr=1", "lr=2"])


def test_a_bad_param_is_a_usage_error() -> None:
    code, out, err = invoke("--host", "http://127.0.0.1:9", "template", "submit", "t", "-p", "x")
    assert (code, out) == (3, "")
    assert err == (
        "error: Invalid value for '-p' / '--param': 'x' is not key=value, like "
        "learning_rate=0.2 or spec.Worker.replicas=2 (see `submarine template submit --help`)\n"
    )


def test_a_patch_keeps_the_name(tmp_path: Path) -> None:
    example = EXAMPLES / "tf-mnist-template.yaml"
    code, _, err = invoke(
        "--host", "http://127.0.0.1:9", "template", "patch", "other", "-f", str(example)
    )
    assert code == 1
    assert err.startswith(
        f"error: {example}: the template's name is 'tf-mnist-template', not 'other'"
    )


def test_the_example_in_json_is_the_same_template(tmp_path: Path) -> None:
    document = yaml.safe_load((EXAMPLES / "tf-mnist-template.yaml").read_text())
    path = tmp_path / "t.json"
    path.write_text(json.dumps(document))
    assert invoke("validate", str(path))[0] == 0

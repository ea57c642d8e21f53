"""Commands that need no server: validate, schema, usage errors, an unreachable server."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from typer.testing import CliRunner

from submarine.cli import _app
from submarine.models.schema import experiment_schema, spec_schema, template_schema

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

BAD_YAML = """\
# yaml-language-server: $schema=../schemas/experiment-spec.schema.json
meta:
  name: bad name
  framework: TensorFlow
  replica: 2
environment:
  image: foo
spec:
  Ps:
    replicas: 1
    resources: cpu=1,memory=1024M
  Worker:
    replicas: "two"
    resources: cpu=1,mem=1G
  Bogus: {resources: cpu=1}
"""

BAD_JSON = """{
  "$schema": "../schemas/experiment-spec.schema.json",
  "meta": {"name": "ok", "framework": "pytorch",
           "cmd": "python x.py"},
  "environment": {},
  "spec": {
    "Master": {"replicas": 2,
               "resources": "cpu=1,memory=1.5G"},
    "Worker": {"replicas": 1, "resources": "cpu=1", "envVars": {"1A": "x"}}
  }
}
"""


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app.app, list(args))
    return result.exit_code, result.stdout, result.stderr


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_validate_gives_every_problem_with_its_yaml_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(BAD_YAML)
    code, out, err = invoke("validate", str(spec))
    assert code == 1
    found = [line.split(": ", 1)[0].removeprefix(f"{spec}:") for line in lines_of(out)]
    paths = [line.split(": ")[1] for line in lines_of(out)]
    assert list(zip(found, paths, strict=True)) == [
        ("2", "meta.cmd"),
        ("3", "meta.name"),
        ("5", "meta.replica"),
        ("13", "spec.Worker.replicas"),
        ("14", "spec.Worker.resources"),
        ("15", "spec.Bogus"),
    ]
    assert "did you mean" not in out  # 'replica' is in meta: the message lists valid keys
    assert "write memory=1G instead" in out
    assert lines_of(err) == ["error: 1 of 1 file is not valid"]


def test_validate_gives_every_problem_with_its_json_line(tmp_path: Path) -> None:
    spec = tmp_path / "bad.json"
    spec.write_text(BAD_JSON)
    code, out, _ = invoke("validate", str(spec))
    assert code == 1
    assert lines_of(out) == [
        f"{spec}:5: environment.image: no image: set environment.image, or an image on every "
        "role (missing on Master, Worker)",
        f"{spec}:7: spec.Master.replicas: PyTorch Master must have exactly 1 replica, got 2",
        f"{spec}:8: spec.Master.resources: memory='1.5G' is refused: write a whole number "
        "followed by exactly one unit letter of E, P, T, G, M, K (like '1024M' or '2G'); "
        "Submarine computes the memory limit from that form, so '1.5G', '1024Mi' or '512' "
        "fail there",
        f"{spec}:9: spec.Worker.envVars: '1A' is not an environment variable name (letters, "
        "digits, '_', '.', '-', not starting with a digit)",
    ]


def test_validate_reports_unreadable_files_and_counts_them(tmp_path: Path) -> None:
    broken_json = tmp_path / "broken.json"
    broken_json.write_text('{"meta": {\n  "name": 1,\n}')
    broken_yaml = tmp_path / "broken.yaml"
    broken_yaml.write_text("meta:\n  name: [\n")
    text = tmp_path / "spec.txt"
    text.write_text("meta: {}")
    missing = tmp_path / "missing.yaml"
    good = EXAMPLES / "ps-digits.yaml"
    code, out, err = invoke(
        "validate", str(good), str(broken_json), str(broken_yaml), str(text), str(missing)
    )
    assert code == 1
    lines = lines_of(out)
    assert lines[0] == f"{good}: valid"
    assert lines[1].startswith(f"{broken_json}:3:1: invalid JSON: Expecting property name")
    assert lines[2].startswith(f"{broken_yaml}:3:1: invalid YAML: ")
    assert lines[3] == f"{text}: unknown file type '.txt': use .json, .yaml or .yml"
    assert lines[4].startswith(f"{missing}: cannot read it: ")
    assert lines_of(err) == ["error: 4 of 5 files are not valid"]


def test_validate_passes_the_examples() -> None:
    specs = sorted(str(p) for p in EXAMPLES.glob("*.yaml")) + sorted(
        str(p) for p in EXAMPLES.glob("*.json")
    )
    assert len(specs) >= 2
    code, out, err = invoke("validate", *specs)
    assert (code, err) == (0, "")
    assert lines_of(out) == [f"{spec}: valid" for spec in specs]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["schema"], spec_schema()),
        (["schema", "Experiment"], experiment_schema()),
        (["schema", "template"], template_schema()),
    ],
)
def test_schema_prints_the_models_schema(args: list[str], expected: object) -> None:
    code, out, _ = invoke(*args)
    assert code == 0
    assert json.loads(out) == expected


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["experiment", "create"], "Missing option '-f' / '--file'."),
        (["experiment", "get"], "Missing argument 'ID'."),
        (["experiment", "list", "--status", "Sleeping"], "unknown experiment status 'Sleeping'"),
        (["experiment", "list", "-o", "xml"], "'xml' is not one of 'table', 'json', 'yaml'"),
        (["experiment", "wait", "x", "--interval", "0"], "--interval"),
        (["experiment", "create", "-f", "no-such-file.yaml"], "does not exist"),
        (["experiment", "frobnicate"], "No such command 'frobnicate'"),
        (["schema", "model"], "'model' is not one of 'spec', 'experiment', 'template'"),
        (["template", "get"], "Missing argument 'NAME'."),
        (["template", "create"], "Missing option '-f' / '--file'."),
        (["template", "frobnicate"], "No such command 'frobnicate'"),
        (["--bogus"], "No such option: --bogus"),
        (["--host", "ftp://x", "experiment", "list"], "scheme 'ftp': use http:// or https://"),
    ],
)
def test_usage_errors_exit_3_with_one_line(args: list[str], message: str) -> None:
    code, out, err = invoke(*args)
    assert code == 3
    assert out == ""
    assert len(lines_of(err)) == 1
    assert err.startswith("error: ")
    assert message in err


def test_no_command_shows_help_and_exits_3() -> None:
    code, _, err = invoke()
    assert code == 3
    assert "Usage: " in err
    assert "experiment" in err


def test_help_and_version_exit_0() -> None:
    code, out, _ = invoke("experiment", "--help")
    assert code == 0
    assert "create" in out
    assert "wait" in out
    code, out, _ = invoke("--version")
    assert code == 0
    assert out.startswith("submarine-sdk ")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.mark.parametrize(
    "args",
    [
        ["experiment", "list"],
        ["experiment", "wait", "experiment-1-0001"],
    ],
)
def test_an_unreachable_server_is_one_line_and_exit_4(args: list[str]) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    code, out, err = invoke("--host", url, *args)
    assert code == 4
    assert out == ""
    assert lines_of(err) == [
        f"error: cannot reach the Submarine server at {url} ([Errno 111] Connection refused): "
        "start a local one with `submarine server`, or point --host (or SUBMARINE_HOST) at yours"
    ]


def test_the_host_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("SUBMARINE_HOST", url)
    code, _, err = invoke("experiment", "list")
    assert code == 4
    assert f"at {url} " in err

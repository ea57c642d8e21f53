"""The template commands against the real local server: formats, exit codes, error lines,
and a submitted template followed to its end."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from submarine.cli import _app
from tests.support import make_spec, unique_name

pytestmark = pytest.mark.slow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def unique(prefix: str) -> str:
    return unique_name(f"cli-{prefix}")


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app.app, ["--host", url, *args])
    return result.exit_code, result.stdout, result.stderr


def template_file(tmp_path: Path, name: str, script: str, **options: Any) -> Path:
    """A template whose replicas run ``script`` (written next to it) with ``{{who}}``."""
    code = tmp_path / f"{name}.py"
    code.write_text(script)
    spec = make_spec(name="{{run_name}}", cmd=f"python {code} {{{{who}}}}", **options)
    document = {
        "name": name,
        "author": "tests",
        "description": "greets someone",
        "parameters": [
            {"name": "who", "required": "false", "description": "whom to greet", "value": "world"},
            {"name": "run_name", "required": "true", "description": "the run's name"},
        ],
        "experimentSpec": spec,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


GREET = "import sys\nprint('hello ' + sys.argv[1])\n"
FAIL = "import sys\nprint('failing for ' + sys.argv[1])\nraise SystemExit(3)\n"


def test_create_list_get_patch_delete_in_each_format(server_url: str, tmp_path: Path) -> None:
    name = unique("greet")
    path = template_file(tmp_path, name, GREET)
    code, out, err = invoke(server_url, "template", "create", "-f", str(path), "-o", "json")
    assert (code, err) == (0, "")
    created = json.loads(out)
    assert created["experimentTemplateId"]["id"] >= 1
    params = {p["name"]: p["value"] for p in created["experimentTemplateSpec"]["parameters"]}
    assert params["who"] == "world"
    assert params["spec.Worker.replicas"] == "1"

    code, out, _ = invoke(server_url, "template", "get", name, "-o", "yaml")
    assert code == 0
    got = yaml.safe_load(out)
    assert got["experimentTemplateId"] is None
    assert got["experimentTemplateSpec"]["name"] == name

    code, out, _ = invoke(server_url, "template", "get", name)
    assert code == 0
    assert json.loads(out)["experimentTemplateSpec"]["name"] == name  # not a terminal: JSON

    code, out, _ = invoke(server_url, "template", "get", name, "-o", "table")
    assert code == 0
    assert re.search(rf"^Name\s+{name}$", out, re.MULTILINE)
    assert re.search(r"^Roles\s+Worker 1$", out, re.MULTILINE)
    assert re.search(r"^Parameters\s+NAME\s+REQUIRED\s+DEFAULT\s+DESCRIPTION$", out, re.MULTILINE)
    assert re.search(r"^\s+who\s+no\s+world\s+whom to greet$", out, re.MULTILINE)
    assert re.search(r"^\s+run_name\s+yes\s+-\s+the run's name$", out, re.MULTILINE)
    assert re.search(r"^\s+spec\.Worker\.replicas\s+no\s+1\s+-$", out, re.MULTILINE)

    code, out, _ = invoke(server_url, "template", "list", "-o", "table")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "AUTHOR", "PARAMETERS", "DESCRIPTION"]
    row = next(r for r in rows if r.startswith(name + " "))
    assert row.split() == [name, "tests", "who,", "run_name", "greets", "someone"]

    document = yaml.safe_load(path.read_text())
    document["parameters"][0]["value"] = "there"
    path.write_text(yaml.safe_dump(document))
    code, out, _ = invoke(server_url, "template", "patch", name, "-f", str(path), "-o", "json")
    assert code == 0
    patched = json.loads(out)["experimentTemplateSpec"]["parameters"]
    assert patched[0] == {
        "name": "who",
        "required": "false",
        "description": "whom to greet",
        "value": "there",
    }

    code, out, _ = invoke(server_url, "template", "delete", name, "-o", "json")
    assert code == 0
    assert json.loads(out)["experimentTemplateSpec"]["name"] == name
    code, out, _ = invoke(server_url, "template", "list", "-o", "json")
    assert name not in [t["experimentTemplateSpec"]["name"] for t in json.loads(out)]


def test_submit_follow_prints_the_lines_and_exits_0(server_url: str, tmp_path: Path) -> None:
    name = unique("greet")
    assert (
        invoke(server_url, "template", "create", "-f", str(template_file(tmp_path, name, GREET)))[0]
        == 0
    )
    run = unique("run")
    code, out, err = invoke(
        server_url, "template", "submit", name, "-p", f"run_name={run}", "-p", "who=ada",
        "-p", "spec.Worker.replicas=2", "--follow", "--interval", "0.2", "-o", "json",
    )  # fmt: skip
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("[")]
    assert sorted(lines) == ["[worker-0] hello ada", "[worker-1] hello ada"]
    final = json.loads(out[out.index("\n{") :])
    assert final["status"] == "Succeeded"
    assert final["spec"]["meta"]["name"] == run
    progress = err.splitlines()
    assert progress[0] == f"created {final['experimentId']} ({run}) from {name}"
    assert re.fullmatch(
        rf"{final['experimentId']}: Succeeded · \d+:\d\d · 2 replicas", progress[-1]
    )


def test_submit_without_waiting_prints_the_experiment(server_url: str, tmp_path: Path) -> None:
    name = unique("greet")
    invoke(server_url, "template", "create", "-f", str(template_file(tmp_path, name, GREET)))
    code, out, err = invoke(
        server_url, "template", "submit", name, "-p", "run_name=plain", "-o", "json"
    )
    assert (code, err) == (0, "")
    created = json.loads(out)
    assert created["status"] == "Accepted"
    assert created["spec"]["meta"]["cmd"].endswith(" world")  # the default
    code, out, _ = invoke(
        server_url, "experiment", "wait", created["experimentId"], "--interval", "0.2"
    )
    assert code == 0


def test_submit_wait_of_a_failing_run_exits_1(server_url: str, tmp_path: Path) -> None:
    name = unique("fails")
    invoke(server_url, "template", "create", "-f", str(template_file(tmp_path, name, FAIL)))
    code, out, err = invoke(
        server_url, "template", "submit", name, "-p", f"run_name={unique('f')}", "--wait",
        "--interval", "0.2",
    )  # fmt: skip
    assert (code, out) == (1, "")
    assert re.search(r": Failed · ", err)


def test_errors_are_one_line(server_url: str, tmp_path: Path) -> None:
    name = unique("greet")
    invoke(server_url, "template", "create", "-f", str(template_file(tmp_path, name, GREET)))
    missing = unique("missing")
    for command in (["get", missing], ["delete", missing], ["submit", missing]):
        code, out, err = invoke(server_url, "template", *command)
        assert (code, out) == (1, "")
        assert err == (
            f"error: no template {missing!r} on {server_url}: `submarine template list` "
            "shows the templates there are\n"
        )
    code, _, err = invoke(
        server_url, "template", "submit", name, "-p", "run_name=x", "-p", "nope=1"
    )
    assert code == 1
    assert err == (
        f"error: the server at {server_url} answered: Parameters contains illegal key: [nope] "
        f"(HTTP 400 from POST {server_url}/api/v1/experiment/{name})\n"
    )
    code, _, err = invoke(server_url, "template", "submit", name)
    assert code == 1
    assert "Template contains unmapped value: [meta.name:run_name, run_name] (HTTP 400" in err
    path = template_file(tmp_path, name, GREET)
    code, _, err = invoke(server_url, "template", "create", "-f", str(path))
    assert code == 1
    assert err.startswith(f"error: the server at {server_url} answered: ")
    assert name in err


def test_preview_prints_the_filled_spec_and_creates_nothing(
    server_url: str, tmp_path: Path
) -> None:
    name = unique("greet")
    invoke(server_url, "template", "create", "-f", str(template_file(tmp_path, name, GREET)))
    run = unique("preview")
    code, out, err = invoke(
        server_url, "template", "preview", name, "-p", f"run_name={run}", "-p", "who=bo"
    )
    assert (code, err) == (0, "")
    spec = yaml.safe_load(out)
    assert spec["meta"]["name"] == run
    assert spec["meta"]["cmd"].endswith(" bo")
    assert spec["spec"]["Worker"] == {"replicas": 1, "resources": "cpu=100m,memory=64M"}
    preview = tmp_path / "preview.yaml"
    preview.write_text(out)
    assert invoke(server_url, "validate", str(preview))[0] == 0  # as experiment create takes it
    code, out, _ = invoke(server_url, "experiment", "list", "-o", "json")
    assert run not in [e["spec"]["meta"]["name"] for e in json.loads(out)]


def test_the_example_template_is_stored_and_filled(server_url: str) -> None:
    example = EXAMPLES / "tf-mnist-template.yaml"
    code, out, _ = invoke(server_url, "template", "create", "-f", str(example), "-o", "json")
    assert code == 0
    try:
        assert json.loads(out)["experimentTemplateSpec"]["name"] == "tf-mnist-template"
        code, out, _ = invoke(
            server_url, "template", "preview", "tf-mnist-template", "-p", "experiment_name=m-1",
            "-p", "learning_rate=0.05", "-o", "json",
        )  # fmt: skip
        assert code == 0
        assert json.loads(out)["meta"]["cmd"].endswith("--learning_rate=0.05 --batch_size=150")
    finally:
        invoke(server_url, "template", "delete", "tf-mnist-template")


def test_global_options_may_follow_a_template_command(server_url: str) -> None:
    result = CliRunner().invoke(_app.app, ["template", "list", "--host", server_url, "-o", "json"])
    assert result.exit_code == 0
    assert isinstance(json.loads(result.stdout), list)

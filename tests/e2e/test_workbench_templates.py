"""The workbench's experiment templates in a real headless Chromium: the list and one
template, a new template with its problems shown at their fields (from the form and from a
file), deleting one, and starting an experiment from a template, whose spec the server
fills in (the page shows its preview) and whose experiment runs with the values given.

Each test makes the templates it looks at through the API (the ones a fresh server offers
are looked at only by the two-click test, which names none of them). Every wait polls the
page or the API; each new view is saved as a screenshot (see :func:`browser_support.shot`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import RunningServer, ServerFactory
from tests.e2e.browser_support import shot
from tests.support import make_spec, wait_until

pytestmark = pytest.mark.slow

API = "/api/v1/experiment"
TEMPLATES = "/api/v1/template"

# What a template's replica runs: it says the learning rate it was given.
ECHO_LR = """
import sys
print(f"learning rate {sys.argv[1]}", flush=True)
"""


@pytest.fixture(scope="module")
def workbench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    factory = ServerFactory(tmp_path_factory.mktemp("templates"))
    try:
        server = factory.start()
        (server.workdir / "echo_lr.py").write_text(ECHO_LR)
        yield server
    finally:
        factory.close()


def _template(name: str, *, roles: dict[str, int] | None = None) -> dict[str, Any]:
    """A template with a learning rate (a default) and an experiment name (required)."""
    spec = make_spec(
        name="{{experiment_name}}", cmd="python echo_lr.py {{learning_rate}}", roles=roles
    )
    return {
        "name": name,
        "author": "the tests",
        "description": "Says the learning rate it was given.",
        "parameters": [
            {
                "name": "learning_rate",
                "required": "false",
                "description": "step size",
                "value": "0.1",
            },
            {
                "name": "experiment_name",
                "required": "true",
                "description": "the experiment's name",
                "value": f"{name}-run",
            },
        ],
        "experimentSpec": spec,
    }


def _create_template(server: RunningServer, template: dict[str, Any]) -> dict[str, Any]:
    answer = httpx.post(f"{server.url}{TEMPLATES}", json=template).json()
    assert answer["success"] is True, answer
    return dict(answer["result"]["experimentTemplateSpec"])


def _template_code(server: RunningServer, name: str) -> int:
    return httpx.get(f"{server.url}{TEMPLATES}/{name}").status_code


def _experiment(server: RunningServer, experiment_id: str) -> dict[str, Any]:
    return dict(httpx.get(f"{server.url}{API}/{experiment_id}").json()["result"])


def test_the_list_and_one_template(page: Page, workbench: RunningServer, tmp_path: Path) -> None:
    stored = _create_template(workbench, _template("tpl-listed", roles={"Ps": 1, "Worker": 2}))
    page.goto(f"{workbench.url}/#/templates")
    expect(page.get_by_role("heading", name="Templates", level=1)).to_be_visible()
    row = page.locator('#templates tr[data-name="tpl-listed"]')
    expect(row).to_contain_text("the tests")
    expect(row).to_contain_text("Says the learning rate it was given.")
    # Its two parameters and three made for each of its two roles, as the server stores them.
    assert len(stored["parameters"]) == 8
    expect(row.locator('[data-col="parameters"]')).to_have_text("8")
    expect(page.locator("#nav-templates")).to_have_attribute("aria-current", "page")
    shot(page, tmp_path, "templates")

    row.get_by_role("link", name="tpl-listed", exact=True).click()
    page.wait_for_url("**/#/template/tpl-listed")
    expect(page.get_by_role("heading", name="tpl-listed", level=1)).to_be_visible()
    params = page.locator("#parameters")
    required = params.locator('tr[data-param="experiment_name"]')
    expect(required).to_contain_text("tpl-listed-run")  # its default
    expect(required.locator(".req")).to_have_text("required")
    expect(params.locator('tr[data-param="learning_rate"]')).to_contain_text("0.1")
    expect(params.locator('tr[data-param="learning_rate"] .req')).to_have_count(0)
    expect(params.locator('tr[data-param="spec.Worker.replicas"]')).to_contain_text("2")
    expect(params.locator('tr[data-param="spec.Ps.resourceMap.memory"]')).to_contain_text("64M")
    spec = page.locator("#template-spec")
    expect(spec).to_contain_text("python echo_lr.py {{learning_rate}}")
    page.get_by_role("tab", name="JSON").click()
    expect(spec).to_contain_text('"name": "{{experiment_name}}"')
    shot(page, tmp_path, "template", full=True)

    plain = _template("tpl-plain")
    del plain["description"]
    _create_template(workbench, plain)
    page.goto(f"{workbench.url}/#/template/tpl-plain")
    expect(page.get_by_role("heading", name="tpl-plain", level=1)).to_be_visible()
    expect(page.locator("#template-description")).to_have_count(0)
    expect(page.locator("main")).not_to_contain_text("null")  # nothing shown for no description


def test_a_new_template_shows_its_problems_at_their_fields(
    page: Page, workbench: RunningServer, tmp_path: Path
) -> None:
    page.goto(f"{workbench.url}/#/templates/new")
    expect(page.get_by_role("heading", name="New template")).to_be_visible()
    create = page.locator("#create-template")
    expect(create).to_be_enabled()  # the example it starts with is a good template
    page.fill("#t-name", "")
    page.get_by_label("Name of parameter 1").fill("rate")  # {{learning_rate}} has none now
    expect(page.locator("#t-name-error")).not_to_have_text("")
    expect(page.locator("#t-name")).to_have_attribute("aria-invalid", "true")
    row_error = page.locator("#t-params .p-error").first
    expect(row_error).to_contain_text("never used")
    expect(page.get_by_label("Name of parameter 1")).to_have_attribute("aria-invalid", "true")
    spec_error = page.locator("#t-spec-error")
    expect(spec_error).to_contain_text("meta.cmd")
    expect(spec_error).to_contain_text("learning_rate")
    expect(page.locator("#t-spec")).to_have_attribute("aria-invalid", "true")
    expect(create).to_be_disabled()
    shot(page, tmp_path, "new-template", full=True)

    page.fill("#t-name", "tpl-made-in-page")
    page.fill("#t-author", "someone")
    page.get_by_label("Name of parameter 1").fill("learning_rate")
    page.click("text=Add parameter")
    page.get_by_label("Name of parameter 2").fill("epochs")
    page.get_by_label("Default of parameter 2").fill("3")
    page.get_by_label("Parameter 2 is required").check()
    page.fill(
        "#t-spec",
        json.dumps(make_spec(name="made", cmd="python echo_lr.py {{learning_rate}} {{epochs}}")),
    )
    expect(spec_error).to_have_text("")
    expect(page.locator("#t-name-error")).to_have_text("")
    expect(row_error).to_have_text("")
    expect(create).to_be_enabled()
    create.click()
    page.wait_for_url("**/#/template/tpl-made-in-page")
    expect(page.locator('#parameters tr[data-param="epochs"] .req')).to_have_text("required")
    stored = httpx.get(f"{workbench.url}{TEMPLATES}/tpl-made-in-page").json()["result"]
    spec = stored["experimentTemplateSpec"]
    assert spec["author"] == "someone"
    assert {"name": "epochs", "required": "true", "value": "3"}.items() <= next(
        p for p in spec["parameters"] if p["name"] == "epochs"
    ).items()
    assert spec["experimentSpec"]["meta"]["cmd"] == "python echo_lr.py {{learning_rate}} {{epochs}}"


def test_a_new_template_from_a_file(page: Page, workbench: RunningServer, tmp_path: Path) -> None:
    bad = _template("tpl-from-file")
    bad["parameters"].append({"name": "unused", "value": "1"})
    file = tmp_path / "template.json"
    file.write_text(json.dumps(bad))
    page.goto(f"{workbench.url}/#/templates/new")
    page.get_by_role("tab", name="File / YAML / JSON").click()
    page.set_input_files("#template-file", str(file))
    problems = page.locator("#template-problems")
    expect(problems).to_contain_text("parameters")
    expect(problems).to_contain_text("'unused' is never used")
    expect(page.locator("#create-template")).to_be_disabled()

    good = tmp_path / "template.yaml"
    good.write_text(
        "name: tpl-from-file\n"
        "parameters:\n  - name: learning_rate\n    value: '0.2'\n"
        "experimentSpec:\n"
        "  meta:\n    name: from-file\n    framework: PyTorch\n"
        "    cmd: python echo_lr.py {{learning_rate}}\n"
        "  environment: {image: local}\n"
        "  spec: {Master: {replicas: 1, resources: 'cpu=100m,memory=64M'}}\n"
    )
    page.set_input_files("#template-file", str(good))
    expect(problems).to_have_text("")
    page.click("#create-template")
    page.wait_for_url("**/#/template/tpl-from-file")
    expect(page.locator('#parameters tr[data-param="spec.Master.replicas"]')).to_be_visible()
    assert _template_code(workbench, "tpl-from-file") == 200


def test_delete_a_template_after_a_confirmation(page: Page, workbench: RunningServer) -> None:
    _create_template(workbench, _template("tpl-doomed"))
    _create_template(workbench, _template("tpl-doomed-too"))
    page.goto(f"{workbench.url}/#/templates")
    row = page.locator('#templates tr[data-name="tpl-doomed"]')
    row.get_by_role("button", name="Delete template tpl-doomed").click()
    dialog = page.locator("#confirm")
    expect(dialog).to_be_visible()
    expect(page.locator("#confirm-title")).to_have_text("Delete template?")
    page.click("#confirm-cancel")  # cancelling keeps it
    expect(dialog).to_be_hidden()
    assert _template_code(workbench, "tpl-doomed") == 200
    row.get_by_role("button", name="Delete template tpl-doomed").click()
    page.click("#confirm-ok")
    expect(row).to_have_count(0)
    assert _template_code(workbench, "tpl-doomed") == 404

    # From its own page, which then goes back to the list.
    page.goto(f"{workbench.url}/#/template/tpl-doomed-too")
    page.click("#delete-template")
    page.click("#confirm-ok")
    page.wait_for_url("**/#/templates")
    expect(page.locator("#templates")).to_be_visible()
    expect(page.locator('#templates tr[data-name="tpl-doomed-too"]')).to_have_count(0)
    assert _template_code(workbench, "tpl-doomed-too") == 404


def test_an_experiment_from_a_template_runs_with_the_values_given(
    page: Page, workbench: RunningServer, tmp_path: Path
) -> None:
    _create_template(workbench, _template("tpl-run"))
    page.goto(f"{workbench.url}/#/templates")
    page.get_by_role("link", name="New experiment from tpl-run").click()
    page.wait_for_url("**/#/new/template?name=tpl-run")
    expect(page.locator("#run-template")).to_have_value("tpl-run")
    rate = page.get_by_label("learning_rate")
    name = page.get_by_label("experiment_name")
    expect(rate).to_have_value("0.1")  # the defaults, filled in
    expect(name).to_have_value("tpl-run-run")
    expect(name).to_have_attribute("aria-required", "true")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("cmd: python echo_lr.py 0.1")

    # A required value left out: the server says so, and the page puts it at its field.
    name.fill("")
    expect(page.locator("#run-params .error").filter(has_text="required")).to_have_count(1)
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#run-create")).to_be_disabled()
    name.fill("from-a-template")
    # A role's resources are made of its cpu and memory: a problem with them is the role's.
    memory = page.get_by_label("Worker memory")
    memory.fill("1.5G")
    expect(page.locator('[data-role="Worker"] .role-error')).to_contain_text("memory")
    expect(memory).to_have_attribute("aria-invalid", "true")
    expect(name).not_to_have_attribute("aria-invalid", "true")
    shot(page, tmp_path, "from-template-problem")
    memory.fill("64M")
    rate.fill("0.7")
    page.get_by_label("Worker replicas").fill("2")
    expect(preview).to_contain_text("cmd: python echo_lr.py 0.7")
    expect(preview).to_contain_text("name: from-a-template")
    expect(preview).to_contain_text("replicas: 2")
    expect(memory).not_to_have_attribute("aria-invalid", "true")
    expect(page.locator("#run-create")).to_be_enabled()
    shot(page, tmp_path, "from-template", full=True)
    before = httpx.get(f"{workbench.url}{API}").json()["result"]

    page.click("#run-create")
    page.wait_for_url(re.compile(r".*#/experiment/experiment-[\w-]+$"))
    experiment_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_role("heading", level=1)).to_contain_text("from-a-template")
    experiment = _experiment(workbench, experiment_id)
    assert experiment["spec"]["meta"]["cmd"] == "python echo_lr.py 0.7"
    assert experiment["spec"]["spec"]["Worker"]["replicas"] == 2
    assert len(httpx.get(f"{workbench.url}{API}").json()["result"]) == len(before) + 1
    wait_until(
        lambda: _experiment(workbench, experiment_id)["status"] == "Succeeded",
        what="the template's experiment to succeed",
        timeout=120,
    )
    expect(page.locator("#log")).to_contain_text("learning rate 0.7")


def test_a_fresh_server_runs_a_template_in_two_clicks(
    browser: Browser, server_factory: ServerFactory, tmp_path: Path
) -> None:
    server = server_factory.start()
    offered = httpx.get(f"{server.url}{TEMPLATES}").json()["result"]
    assert offered, "a fresh server offers example templates"
    link = re.search(r"Submarine workbench at (\S+)", server.log())
    assert link is not None, server.log()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    try:
        page.goto(link.group(1))  # the link the server printed
        starters = page.locator("#starters a")
        expect(starters).to_have_count(len(offered))
        shot(page, tmp_path, "first-start")
        starters.first.click()  # one
        expect(page.locator("#preview")).to_contain_text("meta:")
        shot(page, tmp_path, "first-template", full=True)
        page.click("#run-create")  # two
        page.wait_for_url(re.compile(r".*#/experiment/experiment-[\w-]+$"))
        expect(page.locator("h1 .badge")).to_be_visible()
        experiment = _experiment(server, page.url.rsplit("/", 1)[1])
        assert "{{" not in json.dumps(experiment["spec"]), experiment  # all filled in
    finally:
        context.close()

"""Code written for apache-submarine 0.8.0's template client, run on this package: its
generated classes (``ExperimentTemplateApi``, ``ExperimentTemplatesApi``,
``ExperimentApi.submit_experiment_template``) made as 0.8.0 makes them, its models built
with its keywords, its answers read as its ``JsonResponse``; the calls and documents of the
upstream template test (``tests/server/test_upstream_compat.py``) with the same assertions,
against the local server; and the script, with annotations, through ``mypy --strict``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import submarine.client
import submarine.models
from submarine.client import (
    ApiException,
    ExperimentClient,
    NotFoundError,
    TemplateValidationError,
)
from submarine.client.api.experiment_api import ExperimentApi
from submarine.client.api.experiment_template_api import ExperimentTemplateApi
from submarine.client.api.experiment_templates_api import ExperimentTemplatesApi
from submarine.client.api_client import ApiClient
from submarine.client.configuration import Configuration
from submarine.client.models.json_response import JsonResponse
from submarine.client.utils.api_utils import generate_host, get_api_client
from submarine.models import Experiment, ExperimentTemplate
from tests.compat080 import e2e_server
from tests.conftest import ServerFactory
from tests.server.template_support import (
    MNIST_CMD,
    NEW_TEST_CMD,
    TEST_TEMPLATE_1,
    TEST_TEMPLATE_1_SUBMIT,
    derived_get_answer,
    made,
)
from tests.server.upstream_templates import DOCS_CREATE, DOCS_PATCH, DOCS_SUBMIT
from tests.support import make_spec, unique_name

ROOT = Path(__file__).resolve().parents[2]
MODEL_MODULES = {
    "experiment_template_spec": "ExperimentTemplateSpec",
    "experiment_template_param_spec": "ExperimentTemplateParamSpec",
    "experiment_template_submit": "ExperimentTemplateSubmit",
}


def test_the_0_8_0_template_paths_are_the_same_classes() -> None:
    import importlib

    for module, name in MODEL_MODULES.items():
        alias = importlib.import_module(f"submarine.client.models.{module}")
        assert getattr(alias, name) is getattr(submarine.models, name), module
        assert getattr(submarine.client.models, name) is getattr(submarine.models, name)
        assert getattr(submarine.client, name) is getattr(submarine.models, name)
    assert submarine.client.ExperimentTemplateApi is ExperimentTemplateApi
    assert submarine.client.ExperimentTemplatesApi is ExperimentTemplatesApi
    assert submarine.client.ExperimentApi is ExperimentApi
    assert submarine.client.ApiClient is ApiClient
    assert submarine.client.Configuration is Configuration
    assert submarine.client.JsonResponse is JsonResponse
    assert submarine.client.models.JsonResponse is JsonResponse


def test_the_api_classes_find_their_server_as_0_8_0_configures_it() -> None:
    configuration = Configuration()
    configuration.host = "http://submarine.example:8080/api"  # 0.8.0's get_api_client
    api_client = ApiClient(configuration=configuration)
    api = ExperimentTemplateApi(api_client=api_client)
    assert api.api_client is api_client
    assert api_client.client.host == "http://submarine.example:8080"
    assert api_client.client is api_client.client  # one client, made once
    made_by_helper = get_api_client("http://other.example:9000")
    assert made_by_helper.configuration.host == "http://other.example:9000/api"
    assert made_by_helper.client.host == "http://other.example:9000"
    # Without a host, as ExperimentClient() finds it (0.8.0: http://localhost/api).
    default = ExperimentApi()
    with ExperimentClient() as plain:
        assert default.api_client.client.host == plain.host == generate_host()
    default.api_client.close()
    with ApiClient(Configuration("localhost:8080"), "X-Team", "ml") as headed:
        assert headed.default_headers == {"X-Team": "ml"}
        assert headed.client._core.headers["X-Team"] == "ml"
    for closing in (api_client, made_by_helper):
        closing.close()


def test_a_submission_is_judged_before_it_is_sent() -> None:
    api = ExperimentApi(get_api_client("http://127.0.0.1:9"))  # nothing listens there
    with pytest.raises(TemplateValidationError, match=r"params"):
        api.submit_experiment_template("t", experiment_template_submit={"parms": {}})
    with pytest.raises(TypeError, match=r"ExperimentTemplateSubmit\(params="):
        api.submit_experiment_template("t", experiment_template_submit=["lr"])  # type: ignore[arg-type]
    api.api_client.close()


def test_an_answer_reads_as_0_8_0s_json_response() -> None:
    template = ExperimentTemplate.model_validate(
        {"experimentTemplateId": None, "experimentTemplateSpec": {"name": "t"}}
    )
    answer = JsonResponse(template)
    assert (answer.code, answer.success, answer.attributes) == (200, True, {})
    assert answer.result["experimentTemplateSpec"]["name"] == "t"
    assert answer.result.name == "t"


# -- a script written for 0.8.0 ------------------------------------------------------------

SCRIPT = '''
"""A script written for apache-submarine 0.8.0's template client, with annotations added."""

from typing import Any

from submarine.client.api.experiment_api import ExperimentApi
from submarine.client.api.experiment_template_api import ExperimentTemplateApi
from submarine.client.api.experiment_templates_api import ExperimentTemplatesApi
from submarine.client.api_client import ApiClient
from submarine.client.configuration import Configuration
from submarine.client.exceptions import ApiException
from submarine.client.models.environment_spec import EnvironmentSpec
from submarine.client.models.experiment_meta import ExperimentMeta
from submarine.client.models.experiment_spec import ExperimentSpec
from submarine.client.models.experiment_task_spec import ExperimentTaskSpec
from submarine.client.models.experiment_template_param_spec import ExperimentTemplateParamSpec
from submarine.client.models.experiment_template_spec import ExperimentTemplateSpec
from submarine.client.models.experiment_template_submit import ExperimentTemplateSubmit
from submarine.client.models.json_response import JsonResponse
from submarine.client.utils.api_utils import get_api_client


def spec(document: dict[str, Any]) -> ExperimentTemplateSpec:
    return ExperimentTemplateSpec(
        name=document["name"],
        author=document["author"],
        description=document["description"],
        parameters=[ExperimentTemplateParamSpec(**p) for p in document["parameters"]],
        experiment_spec=document["experimentSpec"],
    )


def typed_spec(name: str) -> ExperimentTemplateSpec:
    meta = ExperimentMeta(
        name=name + "-run",
        namespace="default",
        framework="TensorFlow",
        cmd="python -c print({{learning_rate}})",
        env_vars={"ENV1": "ENV1"},
    )
    task = ExperimentTaskSpec(resources="cpu=100m,memory=64M", replicas=1)
    return ExperimentTemplateSpec(
        name=name,
        author="author",
        description="typed",
        experiment_template_param_spec=[
            ExperimentTemplateParamSpec(
                name="learning_rate", required="false", description="lr", value="0.1"
            )
        ],
        experiment_spec=ExperimentSpec(
            meta=meta,
            environment=EnvironmentSpec(image="apache/submarine:tf-mnist-with-summaries-1.0"),
            spec={"Worker": task},
        ),
    )


def submission(document: dict[str, Any]) -> ExperimentTemplateSubmit:
    return ExperimentTemplateSubmit(name=document.get("name"), params=document["params"])


def answer(response: JsonResponse[Any]) -> dict[str, Any]:
    return {"code": response.code, "success": response.success, "result": response.result}


def run(host: str, documents: list[dict[str, Any]], typed_name: str) -> dict[str, Any]:
    docs_document, patch_document, submit_document, test_document, test_submit = documents
    api_client = get_api_client(host)
    template_api = ExperimentTemplateApi(api_client)
    templates_api = ExperimentTemplatesApi(api_client)
    configuration = Configuration()
    configuration.host = host + "/api"
    experiment_api = ExperimentApi(api_client=ApiClient(configuration=configuration))

    out: dict[str, Any] = {}
    docs, test = spec(docs_document), spec(test_document)
    out["created"] = answer(template_api.create_experiment_template(experiment_template_spec=docs))
    out["created_test"] = answer(
        template_api.create_experiment_template(experiment_template_spec=test)
    )
    out["listed"] = answer(templates_api.list_experiment_template())
    out["got"] = answer(template_api.get_experiment_template(test.name))
    out["patched"] = answer(
        templates_api.update_experiment_template(
            docs.name, experiment_template_spec=spec(patch_document)
        )
    )
    out["got_patched"] = answer(template_api.get_experiment_template(docs.name))
    out["submitted"] = answer(
        experiment_api.submit_experiment_template(
            docs.name, experiment_template_submit=submission(submit_document)
        )
    )
    out["submitted_test"] = answer(
        experiment_api.submit_experiment_template(
            test.name, experiment_template_submit=submission(test_submit)
        )
    )
    out["deleted"] = answer(templates_api.delete_experiment_template(docs.name))
    try:
        template_api.get_experiment_template(docs.name)
        out["after_delete"] = "found"
    except ApiException as exc:
        out["after_delete"] = [exc.status, exc.reason, exc.body]

    typed = typed_spec(typed_name)
    template_api.create_experiment_template(experiment_template_spec=typed)
    experiment = experiment_api.submit_experiment_template(
        typed_name,
        experiment_template_submit=ExperimentTemplateSubmit(params={"learning_rate": "0.2"}),
    ).result
    out["typed_cmd"] = experiment["spec"]["meta"]["cmd"]
    out["typed_id"] = experiment["experimentId"]
    try:
        experiment_api.submit_experiment_template(
            typed_name, experiment_template_submit=ExperimentTemplateSubmit(params={"lr": "1"})
        )
    except ApiException as exc:
        out["illegal"] = [exc.status, exc.body]
    return out
'''

MISUSE = '''
"""What mypy refuses of calls through the aliases."""

from submarine.client.api.experiment_api import ExperimentApi
from submarine.client.api.experiment_template_api import ExperimentTemplateApi
from submarine.client.models.experiment_template_submit import ExperimentTemplateSubmit

api = ExperimentTemplateApi()
api.create_experiment_template(experiment_template_spec=42)
name: int = api.get_experiment_template("t").result.name
ExperimentApi().submit_experiment_template("t", experiment_template_submit=["lr"])
count: str = api.get_experiment_template("t").code
ExperimentTemplateSubmit(params={"lr": 1})
'''
MISUSE_LINES = {9, 10, 11, 12, 13}
"""The lines of ``MISUSE`` mypy reports (a bad spec, a wrong read of the typed answer, a
bad submit body, a wrong read of the code, a number where 0.8.0's params are text)."""


def _documents() -> list[dict[str, Any]]:
    return [DOCS_CREATE, DOCS_PATCH, DOCS_SUBMIT, TEST_TEMPLATE_1, TEST_TEMPLATE_1_SUBMIT]


@pytest.mark.slow
def test_the_0_8_0_template_script_runs(server_factory: ServerFactory) -> None:
    url, _ = e2e_server(server_factory)
    namespace: dict[str, object] = {}
    exec(compile(textwrap.dedent(SCRIPT), "template080.py", "exec"), namespace)
    run = namespace["run"]
    assert callable(run)
    typed_name = unique_name("typed")[:32]
    out = run(url, _documents(), typed_name)

    for call in ("created", "created_test", "listed", "got", "patched", "submitted", "deleted"):
        assert (out[call]["code"], out[call]["success"]) == (200, True), call

    created = out["created"]["result"]
    assert isinstance(created, ExperimentTemplate)
    assert created["experimentTemplateId"]["id"] is not None
    assert created["experimentTemplateId"]["serverTimestamp"] is not None
    declared = [
        (p["name"], p["required"], p["value"])
        for p in created["experimentTemplateSpec"]["parameters"]
    ]
    assert declared == [
        ("learning_rate", "true", "0.1"),
        ("batch_size", "true", "150"),
        ("experiment_name", "true", "tf-mnist1"),
        *((p["name"], "false", p["value"]) for p in made("Ps", "1", "1", "1024M")),
        *((p["name"], "false", p["value"]) for p in made("Worker", "1", "1", "1024M")),
    ]
    test_answer = derived_get_answer(TEST_TEMPLATE_1["name"])["result"]
    assert out["got"]["result"].to_dict() == test_answer
    assert (
        out["created_test"]["result"]["experimentTemplateSpec"].to_dict()
        == test_answer["experimentTemplateSpec"]
    )
    listed = [t["experimentTemplateSpec"]["name"] for t in out["listed"]["result"]]
    assert listed[-2:] == [DOCS_CREATE["name"], TEST_TEMPLATE_1["name"]]
    assert all(t["experimentTemplateId"] is None for t in out["listed"]["result"])

    patched = out["patched"]["result"]
    assert patched["experimentTemplateId"]["id"] > created["experimentTemplateId"]["id"]
    assert patched["experimentTemplateSpec"]["author"] == "author-new"
    assert (
        patched["experimentTemplateSpec"]["parameters"]
        == created["experimentTemplateSpec"]["parameters"]
    )  # the made parameters once, not twice
    assert (
        out["got_patched"]["result"]["experimentTemplateSpec"] == patched["experimentTemplateSpec"]
    )

    for call, name, cmd in (
        ("submitted", "newexperiment1", MNIST_CMD.replace("{{learning_rate}}", "0.01")),
        ("submitted_test", "new-test", NEW_TEST_CMD),
    ):
        experiment = out[call]["result"]
        assert isinstance(experiment, Experiment)
        assert experiment["status"] == "Accepted"
        spec = experiment["spec"]
        assert spec["meta"]["name"] == name
        assert spec["meta"]["cmd"] == cmd.replace("{{batch_size}}", "150")
        assert {
            role: (task["replicas"], task["resources"]) for role, task in spec["spec"].items()
        } == {"Ps": (1, "cpu=1,memory=1024M"), "Worker": (1, "cpu=1,memory=1024M")}

    deleted = out["deleted"]["result"]
    assert deleted["experimentTemplateId"] is None
    assert deleted["experimentTemplateSpec"]["name"] == DOCS_CREATE["name"]
    status, reason, body = out["after_delete"]
    assert (status, reason) == (404, "Not Found")
    assert json.loads(body)["message"] == "ExperimentTemplate not found."

    # Built with 0.8.0's keywords (typed parameter objects under its second name of the
    # list, a typed ExperimentSpec), submitted with ExperimentTemplateSubmit.
    assert out["typed_cmd"] == "python -c print(0.2)"
    status, body = out["illegal"]
    assert status == 400
    assert json.loads(body)["message"] == "Parameters contains illegal key: [lr]"
    with ExperimentClient(url) as client:
        assert client.get_experiment(out["typed_id"])["spec"]["meta"]["name"] == (
            f"{typed_name}-run"
        )
        with pytest.raises(NotFoundError):
            client.get_template(DOCS_CREATE["name"])


@pytest.mark.slow
def test_a_0_8_0_template_script_passes_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "template080.py"
    script.write_text(textwrap.dedent(SCRIPT))
    misuse = tmp_path / "misuse080.py"
    misuse.write_text(textwrap.dedent(MISUSE))
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file=",
            "--cache-dir",
            str(ROOT / ".mypy_cache" / "compat080-templates"),
            str(script),
            str(misuse),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=tmp_path,
    )
    report = result.stdout + result.stderr
    assert "template080.py" not in report, report  # the script itself: no issue
    flagged = {int(line.split(":")[1]) for line in report.splitlines() if "misuse080.py:" in line}
    assert flagged == MISUSE_LINES, report


@pytest.mark.slow
def test_the_typed_answers_match_the_typed_calls(server_url: str) -> None:
    name = unique_name("alias")[:32]
    template = {
        "name": name,
        "parameters": [{"name": "learning_rate", "value": "0.1"}],
        "experimentSpec": make_spec(cmd="python -c print({{learning_rate}})"),
    }
    api_client = get_api_client(server_url)
    template_api = ExperimentTemplateApi(api_client)
    with ExperimentClient(server_url) as client:
        created = template_api.create_experiment_template(experiment_template_spec=template)
        assert created.result == client.get_template(name).model_copy(
            update={"experiment_template_id": created.result.experiment_template_id}
        )
        assert (
            ExperimentTemplatesApi(api_client).list_experiment_template(status="ignored").result
            == client.list_templates()
        )
        experiment = ExperimentApi(api_client).submit_experiment_template(name).result
        assert experiment.spec.meta.cmd == "python -c print(0.1)"  # every default
        assert client.get_experiment(experiment.experiment_id).spec == experiment.spec
        ExperimentTemplatesApi(api_client).delete_experiment_template(name)
        with pytest.raises(ApiException) as caught:
            template_api.get_experiment_template(name)
        assert isinstance(caught.value, NotFoundError)
    api_client.close()

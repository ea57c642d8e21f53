"""What the upstream template test runs: 0.8.0's generated template client, call by call,
and 0.8.0's own request examples of its API documentation (``docs/api/experiment-template.md``:
create, patch, submit), written out here."""

from __future__ import annotations

from typing import Any

from .template_support import TEST_TEMPLATE_1

TEMPLATE_CLIENT = r"""
from submarine.client.api.experiment_api import ExperimentApi
from submarine.client.api.experiment_template_api import ExperimentTemplateApi
from submarine.client.api.experiment_templates_api import ExperimentTemplatesApi
from submarine.client.exceptions import ApiException
from submarine.client.models.experiment_template_param_spec import ExperimentTemplateParamSpec
from submarine.client.models.experiment_template_spec import ExperimentTemplateSpec
from submarine.client.models.experiment_template_submit import ExperimentTemplateSubmit
from submarine.client.utils.api_utils import get_api_client

host, docs_text, patch_text, submit_text, test_text, test_submit_text = sys.argv[1:7]
api_client = get_api_client(host)
template_api = ExperimentTemplateApi(api_client)
templates_api = ExperimentTemplatesApi(api_client)
experiment_api = ExperimentApi(api_client)


def spec(text):
    document = json.loads(text)
    return ExperimentTemplateSpec(
        name=document["name"],
        author=document["author"],
        description=document["description"],
        parameters=[ExperimentTemplateParamSpec(**p) for p in document["parameters"]],
        experiment_spec=document["experimentSpec"],
    )


def submission(text):
    document = json.loads(text)
    return ExperimentTemplateSubmit(name=document.get("name"), params=document["params"])


def answer(response):
    return {"code": response.code, "success": response.success, "result": response.result}


out = {}
docs, test = spec(docs_text), spec(test_text)
out["created"] = answer(template_api.create_experiment_template(experiment_template_spec=docs))
out["created_test"] = answer(template_api.create_experiment_template(experiment_template_spec=test))
out["listed"] = answer(templates_api.list_experiment_template())
out["got"] = answer(template_api.get_experiment_template(test.name))
out["patched"] = answer(
    templates_api.update_experiment_template(docs.name, experiment_template_spec=spec(patch_text))
)
out["got_patched"] = answer(template_api.get_experiment_template(docs.name))
out["submitted"] = answer(
    experiment_api.submit_experiment_template(
        docs.name, experiment_template_submit=submission(submit_text)
    )
)
out["submitted_test"] = answer(
    experiment_api.submit_experiment_template(
        test.name, experiment_template_submit=submission(test_submit_text)
    )
)
out["deleted"] = answer(templates_api.delete_experiment_template(docs.name))
try:
    template_api.get_experiment_template(docs.name)
    out["after_delete"] = "found"
except ApiException as exc:
    out["after_delete"] = [exc.status, json.loads(exc.body)]
print("RESULT " + json.dumps(out))
"""
"""0.8.0's template client, call by call (run after the compatibility test's
``LOAD_PACKAGE``, which imports ``json`` and ``sys``): create (its docs' example and its
server test's template), list, get, update, submit (both), delete, get after the delete."""

DOCS_CREATE: dict[str, Any] = {
    "name": "my-tf-mnist-template",
    "author": "author",
    "description": "This is a template to run tf-mnist",
    "parameters": [
        {
            "name": "learning_rate",
            "value": 0.1,
            "required": True,
            "description": "This is learning_rate of training.",
        },
        {
            "name": "batch_size",
            "value": 150,
            "required": True,
            "description": "This is batch_size of training.",
        },
        {
            "name": "experiment_name",
            "value": "tf-mnist1",
            "required": True,
            "description": "the name of experiment.",
        },
    ],
    "experimentSpec": TEST_TEMPLATE_1["experimentSpec"],
}
"""The create example of 0.8.0's docs/api/experiment-template.md (its spec is the same as
test_template_1.json's)."""
DOCS_PATCH: dict[str, Any] = {**DOCS_CREATE, "author": "author-new"}
"""Its patch example: the same with another author."""
DOCS_SUBMIT: dict[str, Any] = {
    "name": "tf-mnist",
    "params": {"learning_rate": "0.01", "batch_size": "150", "experiment_name": "newexperiment1"},
}
"""Its submit example (the body's name is not the template's: the path's wins)."""

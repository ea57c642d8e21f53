"""What the template tests share: Submarine 0.8.0's own template (its server test's
``test_template_1.json``, written out here), its derived GET answer, and small templates of
our own."""

from __future__ import annotations

import copy
from typing import Any

import httpx

from tests.support import DEFAULT_RESOURCES, unique_name

from .api_support import ok

TEMPLATES = "/api/v1/template"
SUBMIT = "/api/v1/experiment"
NOT_FOUND = "ExperimentTemplate not found."
MNIST_CMD = (
    "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log "
    "--learning_rate={{learning_rate}} --batch_size={{batch_size}}"
)

TEST_TEMPLATE_1: dict[str, Any] = {
    "name": "tf-mnist-test_1",
    "author": "author",
    "description": "This is a template to run tf-mnist.",
    "parameters": [
        {
            "name": "learning_rate",
            "value": 0.1,
            "required": False,
            "description": "The parameter of train mnist.",
        },
        {
            "name": "batch_size",
            "value": 150,
            "required": False,
            "description": "The parameter of train mnist.",
        },
        {
            "name": "experiment_name",
            "value": "tf-mnist-test_1",
            "required": True,
            "description": "experiment name, you should change it to avoid duplication with "
            "other experiment names.",
        },
    ],
    "experimentSpec": {
        "meta": {
            "cmd": MNIST_CMD,
            "name": "{{experiment_name}}",
            "envVars": {"ENV1": "ENV1"},
            "framework": "TensorFlow",
            "namespace": "default",
        },
        "spec": {
            "Ps": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
            "Worker": {"replicas": 1, "resources": "cpu=1,memory=1024M"},
        },
        "environment": {"image": "apache/submarine:tf-mnist-with-summaries-1.0"},
    },
}
"""Submarine 0.8.0's ``experimentTemplate/test_template_1.json`` (its REST API test's)."""
TEST_TEMPLATE_1_SUBMIT: dict[str, Any] = {
    "params": {"experiment_name": "new-test", "learning_rate": 0.2}
}
"""Its ``test_template_1_submit.json``."""
NEW_TEST_CMD = (
    "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log --learning_rate=0.2 "
    "--batch_size=150"
)
"""The command of the experiment that submit makes."""


def made(role: str, replicas: str, cpu: str, memory: str) -> list[dict[str, Any]]:
    """The three parameters a server makes for ``role``, as it answers them."""
    return [
        {"name": f"spec.{role}.{suffix}", "required": "false", "description": "", "value": value}
        for suffix, value in (
            ("replicas", replicas),
            ("resourceMap.cpu", cpu),
            ("resourceMap.memory", memory),
        )
    ]


def derived_get_answer(name: str) -> dict[str, Any]:
    """The shared document's derived 0.8.0 answer of GET /api/v1/template/<name> after
    ``test_template_1.json`` was created (under ``name``)."""
    task = {
        "replicas": 1,
        "resources": "cpu=1,memory=1024M",
        "name": None,
        "image": None,
        "cmd": None,
        "envVars": None,
        "resourceMap": {"memory": "1024M", "cpu": "1"},
    }
    description = TEST_TEMPLATE_1["parameters"][2]["description"]
    return {
        "status": "OK",
        "code": 200,
        "success": True,
        "message": None,
        "result": {
            "experimentTemplateId": None,
            "experimentTemplateSpec": {
                "name": name,
                "author": "author",
                "description": "This is a template to run tf-mnist.",
                "parameters": [
                    {
                        "name": "learning_rate",
                        "required": "false",
                        "description": "The parameter of train mnist.",
                        "value": "0.1",
                    },
                    {
                        "name": "batch_size",
                        "required": "false",
                        "description": "The parameter of train mnist.",
                        "value": "150",
                    },
                    {
                        "name": "experiment_name",
                        "required": "true",
                        "description": description,
                        "value": "tf-mnist-test_1",
                    },
                    *made("Ps", "1", "1", "1024M"),
                    *made("Worker", "1", "1", "1024M"),
                ],
                "experimentSpec": {
                    "meta": {
                        "experimentId": None,
                        "name": "{{experiment_name}}",
                        "namespace": "default",
                        "framework": "TensorFlow",
                        "cmd": MNIST_CMD,
                        "envVars": {"ENV1": "ENV1"},
                        "tags": [],
                    },
                    "environment": {
                        "name": None,
                        "dockerImage": None,
                        "kernelSpec": None,
                        "description": None,
                        "image": "apache/submarine:tf-mnist-with-summaries-1.0",
                    },
                    "spec": {"Ps": dict(task), "Worker": dict(task)},
                    "experimentHandlerSpec": None,
                    "code": None,
                },
            },
        },
        "attributes": {},
    }


def mnist_template(name: str | None = None) -> dict[str, Any]:
    """``test_template_1.json`` under a name of its own."""
    template = copy.deepcopy(TEST_TEMPLATE_1)
    template["name"] = name or unique_name("mnist")
    return template


def small_template(
    name: str | None = None,
    cmd: str = "python -c \"print('lr={{lr}}')\"",
    parameters: list[dict[str, Any]] | None = None,
    **meta: Any,
) -> dict[str, Any]:
    """A template with one Worker of :data:`DEFAULT_RESOURCES` that runs ``cmd``, and one
    parameter ``lr`` (default "0.1") unless ``parameters`` are given."""
    return {
        "name": name or unique_name("tpl"),
        "parameters": [{"name": "lr", "value": "0.1"}] if parameters is None else parameters,
        "experimentSpec": {
            "meta": {"name": "from-template", "framework": "TensorFlow", "cmd": cmd, **meta},
            "environment": {"image": "local"},
            "spec": {"Worker": {"replicas": 1, "resources": DEFAULT_RESOURCES}},
        },
    }


def create_template(client: httpx.Client, template: dict[str, Any]) -> dict[str, Any]:
    """Create a template; the answer's result."""
    result = ok(client.post(TEMPLATES, json=template))
    assert isinstance(result, dict)
    return result


def spec_of(client: httpx.Client, name: str) -> dict[str, Any]:
    """The stored template's spec (``experimentTemplateSpec``), as GET answers it."""
    result = ok(client.get(f"{TEMPLATES}/{name}"))
    assert result["experimentTemplateId"] is None
    spec: dict[str, Any] = result["experimentTemplateSpec"]
    return spec

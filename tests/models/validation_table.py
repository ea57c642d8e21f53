"""The validation table of Submarine 0.8.0: what the spec model accepts (and the body it
sends) and what it refuses (the path and the words of the message).

Every row is checked through the model, the client's sent body, ``submarine validate`` and
the local server (``tests/e2e/test_validation_table.py``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

RESOURCES = "cpu=100m,memory=64M"
"""Small enough for any machine the local server runs on."""
REPO = "file:///nonexistent/repo.git"
"""A repository URL of an accepted form; nothing is cloned from it when only validating."""

BASE: dict[str, Any] = {
    "meta": {"name": "table-row", "framework": "TensorFlow", "cmd": "true"},
    "environment": {"image": "local"},
    "spec": {"Worker": {"replicas": 1, "resources": RESOURCES}},
}


def spec(**changes: Any) -> dict[str, Any]:
    """A deep copy of :data:`BASE` with ``a__b`` paths set (None deletes the key)."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        target = data
        for part in parents:
            target = target.setdefault(part, {})
        if value is None:
            target.pop(last, None)
        else:
            target[last] = value
    return data


@dataclass(frozen=True)
class Row:
    """One row: ``given`` is accepted and sent as ``sent`` (the local server's answer
    showing ``stored``, dotted paths under ``spec``), or refused at ``path`` with a message
    holding every one of ``words``."""

    name: str
    given: dict[str, Any]
    sent: dict[str, Any] | None = None
    stored: dict[str, Any] = field(default_factory=dict)
    path: str = ""
    words: tuple[str, ...] = ()

    @property
    def accepted(self) -> bool:
        """Whether the row is one the model accepts."""
        return self.sent is not None


ANSWER_SPEC: dict[str, Any] = {
    "meta": {
        "experimentId": "experiment-1684832472000-0001",
        "name": "table-row",
        "namespace": "default",
        "framework": "TensorFlow",
        "cmd": "true",
        "envVars": {"A": "1"},
        "tags": [],
    },
    "environment": {
        "name": None,
        "dockerImage": None,
        "kernelSpec": None,
        "description": None,
        "image": "local",
    },
    "spec": {
        "Worker": {
            "replicas": 1,
            "resources": RESOURCES,
            "name": None,
            "image": None,
            "cmd": None,
            "envVars": None,
            "resourceMap": {"cpu": "100m", "memory": "64M"},
        }
    },
    "code": None,
    "experimentHandlerSpec": None,
}
"""A spec as Submarine 0.8.0 answers it (Gson writes every null, and ``resourceMap``)."""

ROWS: list[Row] = [
    # -- accepted, and sent in canonical form ---------------------------------------------
    Row(
        "resourceMap in a task: accepted, never sent",
        spec(spec__Worker={"replicas": 1, "resources": RESOURCES, "resourceMap": {"cpu": "1"}}),
        sent=BASE,
    ),
    Row(
        "a spec read from a 0.8.0 answer: accepted, sent without resourceMap or null envVars",
        ANSWER_SPEC,
        sent={
            **ANSWER_SPEC,
            "spec": {
                "Worker": {
                    "replicas": 1,
                    "resources": RESOURCES,
                    "name": None,
                    "image": None,
                    "cmd": None,
                }
            },
        },
    ),
    Row(
        "code.git.branch null: accepted, means main",
        spec(code={"syncMode": "git", "git": {"url": REPO, "branch": None}}),
        sent=spec(code={"syncMode": "git", "git": {"url": REPO, "branch": "main"}}),
        stored={"code.git.branch": "main"},
    ),
    Row(
        "code.git.branch blank: accepted, means main",
        spec(code={"syncMode": "git", "git": {"url": REPO, "branch": "  "}}),
        sent=spec(code={"syncMode": "git", "git": {"url": REPO, "branch": "main"}}),
        stored={"code.git.branch": "main"},
    ),
    Row(
        "code with git and no syncMode: accepted as git",
        spec(code={"git": {"url": REPO}}),
        sent=spec(code={"syncMode": "git", "git": {"url": REPO}}),
        stored={"code.syncMode": "git"},
    ),
    Row(
        "replicas '2': accepted, sent as the number 2",
        spec(spec__Worker={"replicas": "2", "resources": RESOURCES}),
        sent=spec(spec__Worker={"replicas": 2, "resources": RESOURCES}),
        stored={"spec.Worker.replicas": 2},
    ),
    Row(
        "a number as an env var value: accepted, sent as a string",
        spec(
            meta__envVars={"THREADS": 4},
            spec__Worker={"replicas": 1, "resources": RESOURCES, "envVars": {"RATE": 0.5}},
        ),
        sent=spec(
            meta__envVars={"THREADS": "4"},
            spec__Worker={"replicas": 1, "resources": RESOURCES, "envVars": {"RATE": "0.5"}},
        ),
        stored={"meta.envVars.THREADS": "4", "spec.Worker.envVars.RATE": "0.5"},
    ),
    Row(
        "meta.envVars null: never sent as null",
        {**BASE, "meta": {**BASE["meta"], "envVars": None}},
        sent=BASE,
    ),
    Row(
        "lower-case roles, any-case framework, $schema: sent canonical, $schema dropped",
        {
            "$schema": "../schemas/experiment-spec.schema.json",
            **spec(
                meta__framework="tensorFLOW",
                spec={
                    "ps": {"replicas": 1, "resources": RESOURCES},
                    "WORKER": {"replicas": 1, "resources": RESOURCES},
                },
            ),
        },
        sent=spec(
            spec={
                "Ps": {"replicas": 1, "resources": RESOURCES},
                "Worker": {"replicas": 1, "resources": RESOURCES},
            }
        ),
        stored={"meta.framework": "TensorFlow", "spec.Ps.replicas": 1, "spec.Worker.replicas": 1},
    ),
    # -- refused, saying where, what and how to fix it ---------------------------------------
    Row(
        "a role without resources",
        spec(spec__Worker={"replicas": 1}),
        path="spec.Worker.resources",
        words=("is required", "every role needs resources", "cpu=1,memory=1024M", "500"),
    ),
    Row(
        "memory 3000000000M",
        spec(spec__Worker={"replicas": 1, "resources": "cpu=1,memory=3000000000M"}),
        path="spec.Worker.resources",
        words=("'3000000000M'", "at most 1073741823", "'2929688G'"),
    ),
    Row(
        "memory 1200000000M",
        spec(spec__Worker={"replicas": 1, "resources": "memory=1200000000M"}),
        path="spec.Worker.resources",
        words=("'1200000000M'", "at most 1073741823", "'1171875G'"),
    ),
    Row(
        "a git URL in scp form",
        spec(code={"syncMode": "git", "git": {"url": "git@github.com:apache/submarine.git"}}),
        path="code.git.url",
        words=(
            "'git@github.com:apache/submarine.git'",
            "'ssh://git@github.com/apache/submarine.git'",
        ),
    ),
    Row(
        "a git URL without a scheme",
        spec(code={"syncMode": "git", "git": {"url": "github.com/apache/submarine.git"}}),
        path="code.git.url",
        words=("'github.com/apache/submarine.git'", "no scheme", "https://github.com/apache"),
    ),
    Row(
        "environment with only a name",
        spec(environment={"name": "my-env"}),
        path="environment.image",
        words=("name='my-env'", "only 'image' gives the containers", "environment.image"),
    ),
    Row(
        "environment with only a dockerImage",
        spec(environment={"dockerImage": "python:3.11"}),
        path="environment.image",
        words=("dockerImage='python:3.11'", "only 'image' gives the containers"),
    ),
    Row(
        "TensorFlow Chief and Master together",
        spec(
            spec={
                "Chief": {"replicas": 1, "resources": RESOURCES},
                "Master": {"replicas": 1, "resources": RESOURCES},
            }
        ),
        path="spec.Master",
        words=("both Chief and Master", "never runs", "keep one"),
    ),
    Row(
        "XGBoost without a Master",
        spec(meta__framework="XGBoost"),
        path="spec",
        words=("XGBoost needs exactly one Master", "got roles Worker", "add {'Master'"),
    ),
    Row(
        "XGBoost with two Masters",
        spec(meta__framework="XGBoost", spec={"Master": {"replicas": 2, "resources": RESOURCES}}),
        path="spec.Master.replicas",
        words=("exactly 1 replica", "got 2"),
    ),
    Row(
        "TensorFlow experimentHandlerSpec without Ps",
        spec(experimentHandlerSpec={"FILE_SYSTEM_TYPE": "HDFS"}),
        path="experimentHandlerSpec",
        words=("needs a Ps role", "500", "add a Ps role"),
    ),
    Row(
        "replicas 2.5",
        spec(spec__Worker={"replicas": 2.5, "resources": RESOURCES}),
        path="spec.Worker.replicas",
        words=("whole number of at least 1", "got 2.5", "truncate"),
    ),
    Row(
        "replicas true",
        spec(spec__Worker={"replicas": True, "resources": RESOURCES}),
        path="spec.Worker.replicas",
        words=("whole number of at least 1", "got True"),
    ),
    Row(
        "a boolean env var value",
        spec(meta__envVars={"DEBUG": True}),
        path="meta.envVars",
        words=("'DEBUG'", "True", "give a string"),
    ),
]

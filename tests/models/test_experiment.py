"""Server payloads: lenient, lossless, typed."""

from __future__ import annotations

import copy
import json
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from pydantic import BaseModel, TypeAdapter

from submarine.models import (
    Experiment,
    ExperimentLog,
    ExperimentSpec,
    ExperimentSpecPayload,
    ExperimentStatus,
    WireTime,
    format_time,
    parse_status,
)

from .fixtures import SEED_SPEC

SEED_RESPONSE: dict[str, Any] = {
    "experimentId": "experiment_1626160071451_0008",
    "name": "tf-mnist-json",
    "uid": "3513233e-33f2-4399-8fba-2a44ca2af730",
    "status": "Accepted",
    "acceptedTime": "2021-07-13T21:29:33.000+08:00",
    "createdTime": None,
    "runningTime": None,
    "finishedTime": None,
    "spec": {
        "meta": {**SEED_SPEC["meta"]},
        "environment": {
            "name": None,
            "dockerImage": None,
            "kernelSpec": None,
            "description": None,
            "image": "apache/submarine:tf-mnist-with-summaries-1.0",
        },
        "spec": {
            role: {
                "replicas": 1,
                "resources": "cpu=1,memory=1024M",
                "name": None,
                "image": None,
                "cmd": None,
                "envVars": None,
                "resourceMap": {"memory": "1024M", "cpu": "1"},
            }
            for role in ("Ps", "Worker")
        },
        "code": None,
    },
}

NEW_STYLE: dict[str, Any] = {
    "experimentId": "experiment-1647192232698-0001",
    "uid": "0b6f3c1e-1c2d-4e5f-8a9b-0c1d2e3f4a5b",
    "status": "Succeeded",
    "acceptedTime": "2022-03-14T16:03:10.123+08:00",
    "createdTime": "2022-03-14T16:03:11.000-05:30",
    "runningTime": "2022-03-14T08:03:15.500+00:00",
    "finishedTime": "2022-03-14T16:09:59.999+14:00",
    "spec": {
        "meta": {
            "experimentId": "experiment-1647192232698-0001",
            "name": "pytorch-ddp",
            "namespace": "submarine",
            "framework": "pytorch",
            "cmd": "python ddp.py",
            "envVars": {},
            "tags": [],
        },
        "environment": {
            "name": "torch",
            "kernelSpec": {"name": "k", "channels": [], "condaDependencies": ["x"]},
        },
        "spec": {
            "master": {"replicas": 1, "resources": "cpu=2,memory=4G,nvidia.com/gpu=1"},
            "Worker": {"replicas": 3, "resources": "gpu=1", "resourceMap": {}},
        },
        "code": {
            "syncMode": "git",
            "git": {"url": "https://g/r.git", "branch": "main", "trustCerts": False},
        },
        "experimentHandlerSpec": {"FILE_SYSTEM_TYPE": "HDFS"},
    },
}

V080_RESPONSE: dict[str, Any] = {
    "experimentId": "experiment-1684832472000-0001",
    "uid": "6b1c3a4e-0d1f-4a61-9c39-2b0bd0b0f001",
    "status": "Running",
    "acceptedTime": "2023-05-23T09:01:12Z",
    "createdTime": "2023-05-23T09:01:12Z",
    "runningTime": "2023-05-23T09:01:40Z",
    "finishedTime": None,
    "spec": {
        "meta": {
            "experimentId": "experiment-1684832472000-0001",
            "name": "mnist-form",
            "namespace": "default",
            "framework": "TensorFlow",
            "cmd": "python /var/tf_mnist/mnist_with_summaries.py --log_dir=/train/log",
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
        "spec": {
            "Ps": {
                "replicas": 1,
                "resources": "cpu=1,memory=1024M",
                "name": None,
                "image": None,
                "cmd": None,
                "envVars": None,
                "resourceMap": {"memory": "1024M", "cpu": "1"},
            },
        },
        "code": {
            "syncMode": "git",
            "git": {
                "url": "https://github.com/apache/submarine.git",
                "branch": None,
                "username": None,
                "password": None,
                "trustCerts": None,
            },
        },
        "experimentHandlerSpec": None,
    },
}
"""A 0.8.0 answer: times in UTC to the second, every null written (Gson serializeNulls)."""

UNKNOWN_EVERYWHERE: dict[str, Any] = {
    **V080_RESPONSE,
    "futureTop": {"x": [1, 2]},
    "spec": {
        **V080_RESPONSE["spec"],
        "futureSpec": 1,
        "meta": {**V080_RESPONSE["spec"]["meta"], "futureMeta": None},
        "environment": {
            **V080_RESPONSE["spec"]["environment"],
            "kernelSpec": {"name": "k", "futureKernel": "x"},
            "futureEnv": [],
        },
        "spec": {"Ps": {**V080_RESPONSE["spec"]["spec"]["Ps"], "futureTask": {"a": "b"}}},
        "code": {
            "syncMode": "git",
            "git": {"url": "https://g/r.git", "futureGit": True},
            "futureCode": 2.5,
        },
    },
}
"""A newer server's answer: a field nobody knows at every level."""

PAYLOADS = {
    "seed": SEED_RESPONSE,
    "v0.8.0": V080_RESPONSE,
    "v0.8.0-no-roles": {**V080_RESPONSE, "spec": {**V080_RESPONSE["spec"], "spec": None}},
    "v0.8.0-deleted": {
        **V080_RESPONSE,
        "status": "Deleted",
        **dict.fromkeys(("acceptedTime", "createdTime", "runningTime", "finishedTime")),
    },
    "unknown-everywhere": UNKNOWN_EVERYWHERE,
    "new-style": NEW_STYLE,
    "unknown-fields": {**NEW_STYLE, "extraTop": {"x": [1, 2]}, "status": "Pending"},
    "minimal": {"experimentId": "experiment-1-0001"},
    "deleted": {**NEW_STYLE, "status": "Deleted", "spec": None},
    "odd-framework": {
        **NEW_STYLE,
        "spec": {
            **NEW_STYLE["spec"],
            "meta": {"name": "x", "framework": "Caffe", "futureField": 1},
        },
    },
    "bad-time": {**NEW_STYLE, "createdTime": "yesterday"},
}


class Holder(BaseModel):
    """Another model that holds experiments, as an application's own model might."""

    one: Experiment
    many: list[Experiment]


def _every_way(payload: dict[str, Any]) -> dict[str, Experiment]:
    """The payload parsed every way pydantic parses a model."""
    text = json.dumps(payload)
    holder = Holder.model_validate({"one": payload, "many": [payload]})
    holder_json = Holder.model_validate_json(json.dumps({"one": payload, "many": [payload]}))
    return {
        "model_validate": Experiment.model_validate(payload),
        "model_validate_json": Experiment.model_validate_json(text.encode()),
        "TypeAdapter": TypeAdapter(Experiment).validate_python(payload),
        "TypeAdapter json": TypeAdapter(list[Experiment]).validate_json(f"[{text}]")[0],
        "nested": holder.one,
        "nested list": holder.many[0],
        "nested json": holder_json.many[0],
        "constructor": Experiment(**payload),
    }


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payload_round_trips_exactly_however_it_is_parsed(name: str) -> None:
    payload = PAYLOADS[name]
    for way, parsed in _every_way(payload).items():
        assert parsed.to_dict() == payload, way
        assert json.loads(parsed.to_json()) == payload, way


def test_a_payload_spec_is_a_plain_payload_type() -> None:
    exp = Experiment.model_validate(UNKNOWN_EVERYWHERE)
    assert isinstance(exp.spec, ExperimentSpecPayload)
    assert exp.spec["futureSpec"] == 1
    assert exp.spec.spec is not None
    assert exp.spec.spec["Ps"]["futureTask"] == {"a": "b"}
    assert exp.spec.spec["Ps"].resource_map == {"memory": "1024M", "cpu": "1"}
    assert exp.spec.code is not None
    assert exp.spec.code.git is not None
    assert exp.spec.code.git["futureGit"] is True
    no_roles = Experiment.model_validate(PAYLOADS["v0.8.0-no-roles"])
    assert no_roles.spec is not None
    assert no_roles.spec.roles == {}
    assert no_roles.spec.total_replicas == 0


def test_a_spec_read_back_is_accepted_by_the_input_type_without_resource_map() -> None:
    exp = Experiment.model_validate(V080_RESPONSE)
    assert exp.spec is not None
    spec = ExperimentSpec.model_validate(exp.spec)
    sent = spec.to_dict()
    assert sent["spec"]["Ps"] == {
        "replicas": 1,
        "resources": "cpu=1,memory=1024M",
        "name": None,
        "image": None,
        "cmd": None,
    }
    assert sent["code"]["git"]["branch"] == "main"
    assert spec.spec["Ps"].resource_map == {"cpu": "1", "memory": "1024M"}
    parts = exp.spec
    nested = ExperimentSpec(meta=parts.meta, environment=parts.environment, spec=parts.roles)  # type: ignore[arg-type]
    assert nested.to_dict() == {key: sent[key] for key in ("meta", "environment", "spec")}


def test_no_key_is_added() -> None:
    exp = Experiment.model_validate({"experimentId": "e", "status": "Running"})
    assert exp.to_dict() == {"experimentId": "e", "status": "Running"}


def test_times_are_aware_and_written_back_as_received() -> None:
    exp = Experiment.model_validate(NEW_STYLE)
    assert exp.accepted_time == datetime(
        2022, 3, 14, 16, 3, 10, 123000, tzinfo=timezone(timedelta(hours=8))
    )
    assert isinstance(exp.created_time, datetime)
    assert exp.created_time.utcoffset() == -timedelta(hours=5, minutes=30)
    assert exp.to_dict()["createdTime"] == "2022-03-14T16:03:11.000-05:30"


def test_0_8_0_times_are_utc_and_written_back_as_received() -> None:
    exp = Experiment.model_validate(V080_RESPONSE)
    assert isinstance(exp.accepted_time, WireTime)
    assert exp.accepted_time == datetime(2023, 5, 23, 9, 1, 12, tzinfo=timezone.utc)
    assert exp.accepted_time.utcoffset() == timedelta(0)
    assert exp.accepted_time.text == "2023-05-23T09:01:12Z"
    assert exp.to_dict()["acceptedTime"] == "2023-05-23T09:01:12Z"


def test_a_time_keeps_its_text_through_copies() -> None:
    exp = Experiment.model_validate(SEED_RESPONSE)
    for copied in (
        exp.model_copy(deep=True),
        copy.deepcopy(exp),
        pickle.loads(pickle.dumps(exp)),
    ):
        assert copied.to_dict() == SEED_RESPONSE


def test_a_computed_or_given_time_is_written_in_0_8_0_form() -> None:
    exp = Experiment.model_validate(SEED_RESPONSE)
    assert isinstance(exp.accepted_time, WireTime)
    later = exp.accepted_time + timedelta(seconds=1)
    assert later.text is None
    moved = exp.model_copy(update={"accepted_time": later})
    assert moved.to_dict()["acceptedTime"] == "2021-07-13T13:29:34Z"
    given = Experiment(experiment_id="e", accepted_time=datetime(2023, 5, 23, 9, 1, 12))
    assert given.to_dict()["acceptedTime"] == "2023-05-23T09:01:12Z"


@pytest.mark.parametrize("text", ["yesterday", "", "2023-13-45T99:00:00Z"])
def test_a_time_that_is_not_one_stays_its_text(text: str) -> None:
    exp = Experiment.model_validate({"experimentId": "e", "createdTime": text})
    assert exp.created_time == text
    assert exp.to_dict()["createdTime"] == text


def test_a_time_without_an_offset_is_utc() -> None:
    exp = Experiment.model_validate({"experimentId": "e", "createdTime": "2023-05-23T09:01:12"})
    assert isinstance(exp.created_time, datetime)
    assert exp.created_time.tzinfo is timezone.utc
    assert exp.to_dict()["createdTime"] == "2023-05-23T09:01:12"


def test_format_time_writes_0_8_0_form_in_utc() -> None:
    tz = timezone(timedelta(hours=8))
    assert format_time(datetime(2022, 3, 14, 16, 3, 10, 999999, tzinfo=tz)) == (
        "2022-03-14T08:03:10Z"
    )
    assert format_time(datetime(2022, 1, 2, 3, 4, 5)) == "2022-01-02T03:04:05Z"
    # Four-digit years, as ISO 8601 and Java write them (glibc's strftime writes "5-...").
    assert format_time(datetime(5, 1, 2, 3, 4, 5, tzinfo=timezone.utc)) == "0005-01-02T03:04:05Z"


def test_status_is_typed_with_terminal_notion() -> None:
    exp = Experiment.model_validate(NEW_STYLE)
    assert exp.status is ExperimentStatus.SUCCEEDED
    assert exp.is_terminal
    assert {s.value for s in ExperimentStatus if s.is_terminal} == {
        "Succeeded",
        "Failed",
        "Deleted",
    }
    running = Experiment.model_validate({"experimentId": "e", "status": "Running"})
    assert not running.is_terminal
    odd = Experiment.model_validate({"experimentId": "e", "status": "Pending"})
    assert odd.status == "Pending"
    assert not odd.is_terminal
    assert odd.status_name == "Pending"


def test_parse_status() -> None:
    assert parse_status("running") is ExperimentStatus.RUNNING
    with pytest.raises(ValueError, match="choose one of Accepted, Created, Running"):
        parse_status("done")


def test_dict_style_reads_match_the_upstream_client() -> None:
    exp = Experiment.model_validate(SEED_RESPONSE)
    assert exp["experimentId"] == "experiment_1626160071451_0008"
    assert exp["spec"]["meta"]["name"] == "tf-mnist-json"
    assert exp["spec"]["spec"]["Ps"]["resourceMap"] == {"memory": "1024M", "cpu": "1"}
    assert exp["status"] == "Accepted"
    extra = Experiment.model_validate(PAYLOADS["unknown-fields"])
    assert extra["extraTop"] == {"x": [1, 2]}


def test_payload_spec_is_not_judged() -> None:
    exp = Experiment.model_validate(NEW_STYLE)
    assert exp.spec is not None
    assert exp.spec.meta.framework == "pytorch"
    assert exp.spec.framework is not None
    assert exp.spec.framework.value == "PyTorch"
    assert exp.spec.roles["Worker"].resources == "gpu=1"
    assert list(exp.spec.roles) == ["master", "Worker"]
    assert exp.spec.roles["Worker"].parsed_resources.as_map() == {}


def test_experiment_log() -> None:
    payload = {
        "experimentId": "experiment-1647574374688-0002",
        "logContent": [
            {"podName": "experiment-1647574374688-0002-ps-0", "podLog": ["a", "b"]},
            {"podName": "experiment-1647574374688-0002-worker-0", "podLog": []},
            {"podName": "experiment-1647574374688-0002-worker-1", "podLog": None},
        ],
    }
    log = ExperimentLog.model_validate(payload)
    assert log.to_dict() == payload
    assert next(p.pod_name for p in log.pods).endswith("-ps-0")
    assert log.pods[0].lines == ["a", "b"]
    assert log.pods[2].lines == []
    assert log["logContent"][0]["podLog"] == ["a", "b"]
    assert ExperimentLog.model_validate({"experimentId": "e"}).pods == []


# -- ExperimentList: a sequence validated item by item -----------------------------------

LISTED: list[dict[str, Any]] = [
    {**SEED_RESPONSE, "experimentId": "experiment-1-0001", "status": "Running"},
    {"experimentId": "experiment-1-0002", "status": "succeeded"},
    {"experimentId": "experiment-1-0003", "status": "Running", "spec": "not a spec"},
]


def test_experiment_list_reads_like_a_list() -> None:
    from submarine.models import ExperimentList

    items = ExperimentList(LISTED[:2])
    assert len(items) == 2
    assert items[0].experiment_id == "experiment-1-0001"
    assert items[-1].status_name == "succeeded"
    assert items[0] is items[0]
    assert [e.experiment_id for e in items] == ["experiment-1-0001", "experiment-1-0002"]
    assert items == [Experiment.model_validate(p) for p in LISTED[:2]]
    assert [Experiment.model_validate(p) for p in LISTED[:2]] == items
    assert items != [Experiment.model_validate(LISTED[0])]
    assert items == ExperimentList([dict(p) for p in LISTED[:2]])
    assert items != "experiment-1-0001"
    assert Experiment.model_validate(LISTED[1]) in items
    assert items.index(items[1]) == 1
    assert items.to_list() == LISTED[:2]
    assert next(reversed(items)).experiment_id == "experiment-1-0002"
    assert "experiment-1-0002" in repr(items)
    with pytest.raises(TypeError):
        hash(items)


def test_experiment_list_index_errors_say_how_many_there_are() -> None:
    from submarine.models import ExperimentList

    items = ExperimentList(LISTED[:2])
    with pytest.raises(IndexError, match="index 2 is out of range: there are 2"):
        items[2]
    with pytest.raises(IndexError, match="index -3"):
        items[-3]


def test_experiment_list_slices_and_filters_stay_lazy_lists() -> None:
    from submarine.models import ExperimentList

    items = ExperimentList(LISTED)
    first = items[0]
    head = items[:2]
    assert isinstance(head, ExperimentList)
    assert head[0] is first
    assert [e.experiment_id for e in items[::2][:1]] == ["experiment-1-0001"]
    running = items.with_status("RUNNING")
    assert isinstance(running, ExperimentList)
    assert len(running) == 2
    assert running[0] is first
    assert [e.experiment_id for e in items.with_status(ExperimentStatus.SUCCEEDED)] == [
        "experiment-1-0002"
    ]
    assert items.with_status("Failed") == []


def test_experiment_list_validates_an_item_when_it_is_read() -> None:
    from pydantic import ValidationError

    from submarine.models import ExperimentList

    items = ExperimentList(LISTED)
    assert items[1].experiment_id == "experiment-1-0002"
    with pytest.raises(ValidationError):
        items[2]

    def invalid(index: int, exc: ValidationError) -> Exception:
        return LookupError(f"item {index}: {exc.errors()[0]['loc']}")

    hooked = ExperimentList(LISTED, invalid=invalid)
    with pytest.raises(LookupError, match=r"item 2: \('spec',\)") as caught:
        list(hooked)
    assert isinstance(caught.value.__cause__, ValidationError)


def test_experiment_list_of_validated_experiments() -> None:
    from submarine.models import ExperimentList

    validated = [Experiment.model_validate(p) for p in LISTED[:2]]
    items = ExperimentList.of(validated)
    assert items[0] is validated[0]
    assert items == validated
    assert items.to_list() == LISTED[:2]

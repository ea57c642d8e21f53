"""Server payloads: lenient, lossless, typed."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from submarine.models import (
    Experiment,
    ExperimentLog,
    ExperimentStatus,
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

PAYLOADS = {
    "seed": SEED_RESPONSE,
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


@pytest.mark.parametrize("name", sorted(PAYLOADS))
def test_payload_round_trips_exactly(name: str) -> None:
    payload = PAYLOADS[name]
    assert Experiment.model_validate(payload).to_dict() == payload
    from_bytes = Experiment.model_validate_json(json.dumps(payload).encode())
    assert json.loads(from_bytes.to_json()) == payload


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


def test_format_time() -> None:
    tz = timezone(timedelta(hours=8))
    assert format_time(datetime(2022, 3, 14, 16, 3, 10, 999999, tzinfo=tz)) == (
        "2022-03-14T16:03:10.999+08:00"
    )
    assert format_time(datetime(2022, 1, 2, 3, 4, 5)) == "2022-01-02T03:04:05.000+00:00"


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
    assert exp.spec.spec["Worker"].resources == "gpu=1"


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

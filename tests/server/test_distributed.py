"""The per-framework environment and success policy, as pure functions."""

from __future__ import annotations

import json

import pytest

from submarine.models import ExperimentSpec, Framework
from submarine.server.run.distributed import (
    cluster_addresses,
    framework_env,
    ordered_roles,
    pod_name,
    replica_roles,
    stored_pod_names,
    success_policy_met,
)
from tests.support import make_spec


def spec(framework: str, roles: dict[str, int]) -> ExperimentSpec:
    return ExperimentSpec.model_validate(make_spec(framework, roles))


def test_pod_names_follow_submarine() -> None:
    assert pod_name("experiment-1-0001", "Ps", 0) == "experiment-1-0001-ps-0"
    assert pod_name("experiment-1-0001", "Worker", 11) == "experiment-1-0001-worker-11"


def test_roles_come_in_the_framework_order_with_canonical_names() -> None:
    tf = spec("tensorflow", {"evaluator": 1, "worker": 2, "chief": 1, "ps": 1})
    assert replica_roles(tf) == [("Ps", 1), ("Worker", 2), ("Chief", 1), ("Evaluator", 1)]
    torch = spec("PyTorch", {"Worker": 3, "Master": 1})
    assert replica_roles(torch) == [("Master", 1), ("Worker", 3)]


def test_unknown_roles_follow_the_known_ones_in_the_order_given() -> None:
    roles = [("Launcher", 1), ("worker", 2), ("Helper", 3), ("MASTER", 1)]
    assert ordered_roles(Framework.PYTORCH, roles) == [
        ("Master", 1),
        ("Worker", 2),
        ("Launcher", 1),
        ("Helper", 3),
    ]
    assert ordered_roles(None, roles) == roles


@pytest.mark.parametrize(
    ("stored", "pods"),
    [
        (
            {"meta": {"framework": "tensorflow"}, "spec": {"Worker": {"replicas": 2}, "ps": {}}},
            ["e-ps-0", "e-worker-0", "e-worker-1"],
        ),
        # What no longer validates still names its pods: a bad count counts as one replica.
        (
            {"meta": {"framework": "Caffe"}, "spec": {"Worker": {"replicas": "two"}}},
            ["e-worker-0"],
        ),
        (
            {"meta": {}, "spec": {"Master": {"replicas": True}, "Worker": None}},
            ["e-master-0", "e-worker-0"],
        ),
        ({"spec": "nonsense"}, []),
        ({}, []),
    ],
)
def test_pod_names_are_read_from_a_stored_spec_as_plainly_as_possible(
    stored: dict[str, object], pods: list[str]
) -> None:
    assert stored_pod_names("e", stored) == pods


def test_cluster_addresses_take_ports_in_role_order() -> None:
    cluster = cluster_addresses([("Ps", 1), ("Worker", 2)], [5000, 5001, 5002])
    assert cluster == {
        "Ps": ["127.0.0.1:5000"],
        "Worker": ["127.0.0.1:5001", "127.0.0.1:5002"],
    }
    with pytest.raises(ValueError, match="3 replicas need 3 ports, got 2"):
        cluster_addresses([("Ps", 1), ("Worker", 2)], [1, 2])


TF_CLUSTER = {
    "Ps": ["127.0.0.1:7000"],
    "Worker": ["127.0.0.1:7001", "127.0.0.1:7002"],
    "Chief": ["127.0.0.1:7003"],
}


@pytest.mark.parametrize(("role", "index"), [("Ps", 0), ("Worker", 0), ("Worker", 1), ("Chief", 0)])
def test_tf_config_has_every_role_and_this_task(role: str, index: int) -> None:
    env = framework_env(Framework.TENSORFLOW, TF_CLUSTER, role, index)
    assert set(env) == {"TF_CONFIG"}
    assert json.loads(env["TF_CONFIG"]) == {
        "cluster": {
            "ps": ["127.0.0.1:7000"],
            "worker": ["127.0.0.1:7001", "127.0.0.1:7002"],
            "chief": ["127.0.0.1:7003"],
        },
        "task": {"type": role.lower(), "index": index},
        "environment": "cloud",
    }


def test_tf_config_is_not_set_for_a_single_replica() -> None:
    assert framework_env(Framework.TENSORFLOW, {"Worker": ["127.0.0.1:1"]}, "Worker", 0) == {}


def test_pytorch_master_and_workers() -> None:
    cluster = {"Master": ["127.0.0.1:29500"], "Worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    seen = {
        (role, i): framework_env(Framework.PYTORCH, cluster, role, i)
        for role, i in [("Master", 0), ("Worker", 0), ("Worker", 1)]
    }
    for (role, i), env in seen.items():
        rank = "0" if role == "Master" else str(i + 1)
        assert env == {
            "MASTER_ADDR": "127.0.0.1",
            "MASTER_PORT": "29500",
            "WORLD_SIZE": "3",
            "RANK": rank,
            "PET_MASTER_ADDR": "127.0.0.1",
            "PET_MASTER_PORT": "29500",
            "PET_NNODES": "3",
            "PET_NODE_RANK": rank,
        }


def test_pytorch_without_a_master_meets_at_worker_zero() -> None:
    cluster = {"Worker": ["127.0.0.1:4000", "127.0.0.1:4001"]}
    env = framework_env(Framework.PYTORCH, cluster, "Worker", 1)
    assert (env["MASTER_PORT"], env["RANK"], env["WORLD_SIZE"]) == ("4000", "1", "2")


def test_xgboost_master_and_workers() -> None:
    cluster = {"Master": ["127.0.0.1:9000"], "Worker": ["127.0.0.1:9001", "127.0.0.1:9002"]}
    master = framework_env(Framework.XGBOOST, cluster, "Master", 0)
    worker = framework_env(Framework.XGBOOST, cluster, "Worker", 1)
    common = {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "9000",
        "WORLD_SIZE": "3",
        "WORKER_ADDRS": "127.0.0.1:9001,127.0.0.1:9002",
    }
    assert master == {**common, "RANK": "0", "WORKER_PORT": "9000"}
    assert worker == {**common, "RANK": "2", "WORKER_PORT": "9002"}
    assert "PET_NNODES" not in worker


def test_xgboost_master_alone_has_no_worker_variables() -> None:
    env = framework_env(Framework.XGBOOST, {"Master": ["127.0.0.1:9000"]}, "Master", 0)
    assert env == {
        "MASTER_ADDR": "127.0.0.1",
        "MASTER_PORT": "9000",
        "WORLD_SIZE": "1",
        "RANK": "0",
    }


TF_ALL = [("Ps", 1), ("Worker", 2), ("Chief", 1), ("Evaluator", 1)]


@pytest.mark.parametrize(
    ("framework", "roles", "succeeded", "decided"),
    [
        # TensorFlow: the Chief decides, whatever the others do.
        (Framework.TENSORFLOW, TF_ALL, {("Chief", 0)}, True),
        (Framework.TENSORFLOW, TF_ALL, {("Worker", 0), ("Worker", 1), ("Ps", 0)}, False),
        # ... or the Master when there is no Chief.
        (Framework.TENSORFLOW, [("Master", 1), ("Worker", 1)], {("Worker", 0)}, False),
        (Framework.TENSORFLOW, [("Master", 1), ("Worker", 1)], {("Master", 0)}, True),
        # ... or all workers; a Ps never decides.
        (Framework.TENSORFLOW, [("Ps", 1), ("Worker", 2)], {("Worker", 0)}, False),
        (Framework.TENSORFLOW, [("Ps", 1), ("Worker", 2)], {("Worker", 0), ("Worker", 1)}, True),
        # PyTorch and XGBoost: the Master.
        (Framework.PYTORCH, [("Master", 1), ("Worker", 2)], {("Worker", 0), ("Worker", 1)}, False),
        (Framework.PYTORCH, [("Master", 1), ("Worker", 2)], {("Master", 0)}, True),
        (Framework.XGBOOST, [("Master", 1), ("Worker", 1)], {("Master", 0)}, True),
        (Framework.XGBOOST, [("Worker", 2)], {("Worker", 1)}, False),
        (Framework.XGBOOST, [("Worker", 2)], {("Worker", 0), ("Worker", 1)}, True),
        # No deciding role: everyone.
        (Framework.TENSORFLOW, [("Ps", 2)], {("Ps", 0)}, False),
        (Framework.TENSORFLOW, [("Ps", 2)], {("Ps", 0), ("Ps", 1)}, True),
    ],
)
def test_success_policy(
    framework: Framework,
    roles: list[tuple[str, int]],
    succeeded: set[tuple[str, int]],
    decided: bool,
) -> None:
    assert success_policy_met(framework, roles, succeeded) is decided

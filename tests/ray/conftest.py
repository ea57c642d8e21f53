"""Fixtures of the Ray backend's tests: a real Ray cluster of three nodes on this machine
(``ray_cluster``, one per module) and local servers that run their experiments on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import RunningServer, ServerFactory
from tests.ray.cluster import RayCluster


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A head and two worker nodes (``head``, ``a``, ``b``), two CPUs each."""
    cluster = RayCluster()
    try:
        cluster.start_head(cpus=2)
        cluster.add_node("a", cpus=2)
        cluster.add_node("b", cpus=2)
        yield cluster
    finally:
        cluster.close()


@pytest.fixture
def ray_server(ray_cluster: RayCluster, server_factory: ServerFactory) -> RunningServer:
    """A local server whose experiments run on ``ray_cluster``, one replica per node; its
    stop stops its experiments (the cluster is shared by the module's tests)."""
    return server_factory.start(*ray_args(ray_cluster), "--stop-experiments")


def ray_args(cluster: RayCluster) -> tuple[str, ...]:
    """The options of a local server that runs its experiments on ``cluster``."""
    return (
        "--backend",
        "ray",
        "--ray-address",
        cluster.address,
        "--ray-placement",
        "STRICT_SPREAD",
        "--grace-period",
        "2",
    )

"""Bundles, the reasons Ray cannot place an experiment, and the options that choose the Ray
backend (no cluster needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from submarine.server.run.capacity import Request
from submarine.server.run.raybackend.cluster import namespace_of
from submarine.server.run.raybackend.placement import bundle_of, unplaced_reason
from submarine.server.settings import Settings, settings_from_args

GIB = 1 << 30


def test_a_bundle_holds_cpus_memory_in_bytes_and_gpus() -> None:
    assert bundle_of(Request(cpu_millis=1500, memory_bytes=2 * GIB, gpus=2)) == {
        "CPU": 1.5,
        "memory": float(2 * GIB),
        "GPU": 2.0,
    }
    assert bundle_of(Request()) == {"CPU": 0.01}  # Ray refuses an empty bundle


def test_the_reason_names_what_the_whole_cluster_lacks() -> None:
    nodes = [{"CPU": 2.0, "memory": float(GIB)}, {"CPU": 2.0, "memory": float(GIB)}]
    reason = unplaced_reason([{"CPU": 3.0, "GPU": 1.0}], "SPREAD", nodes, {"CPU": 4.0})
    assert reason == (
        "Ray cannot place its 1 replica yet (SPREAD): needs 1 gpus in all, the cluster has 0"
    )
    assert "cpus in all" not in reason  # 3 cpus fit the cluster's 4


def test_the_reason_names_a_replica_no_single_node_can_hold() -> None:
    nodes = [{"CPU": 2.0}, {"CPU": 2.0}]
    reason = unplaced_reason([{"CPU": 3.0}], "PACK", nodes, {"CPU": 4.0})
    assert "a replica needs 3 cpus on one node, and no node has that much" in reason


def test_the_reason_names_strict_spread_short_of_nodes() -> None:
    nodes = [{"CPU": 2.0}, {"CPU": 2.0}]
    bundles = [{"CPU": 0.5}] * 3
    reason = unplaced_reason(bundles, "STRICT_SPREAD", nodes, {"CPU": 4.0})
    assert reason.startswith("Ray cannot place its 3 replicas yet (STRICT_SPREAD)")
    assert "STRICT_SPREAD needs 3 nodes, the cluster has 2" in reason


def test_the_reason_says_when_the_cluster_is_merely_busy() -> None:
    reason = unplaced_reason([{"CPU": 1.0}], "SPREAD", [{"CPU": 2.0}], {"CPU": 0.5})
    assert "waiting for other work to free 1 cpus (free: 0.5)" in reason


def test_two_data_dirs_have_two_namespaces(tmp_path: Path) -> None:
    first, second = namespace_of(tmp_path / "a"), namespace_of(tmp_path / "b")
    assert first != second
    assert first == namespace_of(tmp_path / "a")


def test_the_options_choose_the_backend(tmp_path: Path) -> None:
    settings = settings_from_args(
        ["--data-dir", str(tmp_path), "--backend", "RAY", "--ray-placement", "strict_spread"]
    )
    assert (settings.backend, settings.ray_placement, settings.ray_address) == (
        "ray",
        "STRICT_SPREAD",
        None,
    )
    assert Settings(data_dir=tmp_path).backend == "local"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--backend", "k8s"], "--backend 'k8s' is not a backend: use one of local, ray"),
        (
            ["--ray-placement", "ROUND"],
            "--ray-placement 'ROUND' is not a placement strategy: use one of SPREAD, PACK, "
            "STRICT_SPREAD",
        ),
        (["--ray-address", "a b"], "--ray-address 'a b' is not a Ray address"),
    ],
)
def test_bad_backend_options_are_refused_naming_the_value(
    tmp_path: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        settings_from_args(["--data-dir", str(tmp_path), *argv])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err

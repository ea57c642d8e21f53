"""A data dir that can no longer be written (read-only) or that fills up (full).

Simulated without root and without a hook in the server: the server process's
``RLIMIT_FSIZE`` is lowered from outside (``prlimit``, as psutil does it). The kernel then
refuses every write past the limit with ``EFBIG``, exactly where a full or read-only disk
would refuse it (SQLite reports a disk I/O error or "database or disk is full"); Python
ignores ``SIGXFSZ``, so the server lives on. A limit of 0 refuses every write (read-only);
a limit at the database's current size refuses every write that grows a file (full).

The server must answer a clear 5xx envelope, keep serving reads, lose nothing already
stored, and work again once space is back, without a restart.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from submarine.client import ExperimentClient, ServerError, SubmarineError
from submarine.client._decode import parse
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec

from .conftest import Figures, integrity, stored_count

pytestmark = pytest.mark.reliability

SIGXFSZ_BIT = 1 << (25 - 1)
WORDS = ("disk", "space", "write", "read-only", "storage", "data dir", "database")
"""A clear message about a store that cannot be written names one of these."""


@pytest.fixture
def server(server_factory: ServerFactory) -> RunningServer:
    return server_factory.start("--grace-period", "0.5")


@pytest.fixture
def client(server: RunningServer) -> Iterator[ExperimentClient]:
    with ExperimentClient(server.url, timeout=30.0, max_retries=0) as made:
        yield made


def _limit(server: RunningServer, size: int | None) -> None:
    """Set (or, with None, lift) the largest file the server may write."""
    process = psutil.Process(server.process.pid)
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    ignored = int(next(x for x in status.splitlines() if x.startswith("SigIgn:")).split()[1], 16)
    assert ignored & SIGXFSZ_BIT, "the server must ignore SIGXFSZ for this simulation"
    hard = process.rlimit(psutil.RLIMIT_FSIZE)[1]
    soft = hard if size is None else size
    process.rlimit(psutil.RLIMIT_FSIZE, (soft, hard))


def _populate(client: ExperimentClient, count: int) -> dict[str, dict[str, Any]]:
    made = {}
    for index in range(count):
        experiment = client.create_experiment(
            make_spec(name=f"kept-{index}", cmd=f"echo kept {index}")
        )
        made[experiment.experiment_id] = experiment
    for experiment_id in made:
        client.wait_for_finish(
            experiment_id, polling_interval=0.5, timeout=60, stream=io.StringIO()
        )
    return {eid: client.get_experiment(eid).to_dict() for eid in made}


def _assert_clear_5xx(exc: SubmarineError, figures: Figures) -> None:
    assert isinstance(exc, ServerError), f"expected a 5xx, got {exc!r}"
    assert 500 <= exc.status_code < 600
    envelope = parse(Any, exc.body)
    assert envelope.code == exc.status_code
    assert envelope.success is None  # as on Submarine 0.8.0
    assert envelope.result is None
    message = envelope.message or ""
    figures.set("data dir: the 5xx message", message)
    assert any(word in message.lower() for word in WORDS), (
        f"the message does not say the data dir cannot be written: {message!r}"
    )


def _assert_reads_unchanged(
    client: ExperimentClient, server: RunningServer, kept: dict[str, dict[str, Any]]
) -> None:
    assert client.ping()
    listed = {e.experiment_id: e.to_dict() for e in client.list_experiments()}
    for experiment_id, payload in kept.items():
        assert listed[experiment_id] == payload
        assert client.get_experiment(experiment_id).to_dict() == payload
        lines = [
            line
            for pod in client.get_log(experiment_id, stream=io.StringIO()).pods
            for line in pod.lines
        ]
        assert lines, f"the logs of {experiment_id} are gone after a refused write"
        assert lines[0].startswith("kept ")
    raw = httpx.get(f"{server.url}/api/v1/experiment/logs", params={"status": "Succeeded"})
    assert raw.status_code == 200


def _refused_writes(
    client: ExperimentClient,
    server: RunningServer,
    kept: dict[str, dict[str, Any]],
    figures: Figures,
) -> None:
    first = next(iter(kept))
    with pytest.raises(SubmarineError) as caught:
        client.create_experiment(make_spec(name="refused", cmd="echo never"))
    _assert_clear_5xx(caught.value, figures)
    assert stored_count(server, "refused") == 0
    with pytest.raises(SubmarineError) as caught:
        client.patch_experiment(first, make_spec(name="kept-0", cmd="echo patched"))
    _assert_clear_5xx(caught.value, figures)
    with pytest.raises(SubmarineError) as caught:
        client.delete_experiment(first)
    _assert_clear_5xx(caught.value, figures)
    figures.add("data dir: writes refused", 3)


@pytest.mark.bounded
def test_a_read_only_data_dir(
    server: RunningServer, client: ExperimentClient, figures: Figures
) -> None:
    kept = _populate(client, 3)
    _limit(server, 0)
    try:
        _refused_writes(client, server, kept, figures)
        _assert_reads_unchanged(client, server, kept)
    finally:
        _limit(server, None)
    _recovers(server, client, kept)


@pytest.mark.bounded
def test_a_full_data_dir(server: RunningServer, client: ExperimentClient, figures: Figures) -> None:
    kept = _populate(client, 3)
    database = server.data_dir / "submarine.db"
    sizes = [p.stat().st_size for p in server.data_dir.glob("submarine.db*")]
    _limit(server, max(sizes))
    outcomes: list[str] = []
    try:
        # Big specs, so the database must grow; some early ones may still fit.
        padding = {f"PAD_{i}": "x" * 4000 for i in range(50)}
        for index in range(40):
            name = f"filler-{index}"
            try:
                client.create_experiment(make_spec(name=name, cmd="true", env=padding))
            except SubmarineError as exc:
                _assert_clear_5xx(exc, figures)
                assert stored_count(server, name) == 0, "a refused create was stored"
                outcomes.append("refused")
                if outcomes.count("refused") >= 3:
                    break
            else:
                assert stored_count(server, name) == 1
                outcomes.append("stored")
        assert "refused" in outcomes, f"the database never hit the limit ({database})"
        _assert_reads_unchanged(client, server, kept)
    finally:
        _limit(server, None)
    figures.set(
        "data dir full: creates stored / refused",
        f"{outcomes.count('stored')} / {outcomes.count('refused')}",
    )
    _recovers(server, client, kept)


def _recovers(
    server: RunningServer, client: ExperimentClient, kept: dict[str, dict[str, Any]]
) -> None:
    """With space back, writes work without a restart; after one, nothing is lost."""
    again = client.create_experiment(make_spec(name="after-recovery", cmd="echo back"))
    log = client.wait_for_finish(
        again.experiment_id, polling_interval=0.5, timeout=60, stream=io.StringIO()
    )
    assert [line for pod in log.pods for line in pod.lines][:1] == ["back"]
    server.restart()
    assert integrity(server) == "ok"
    with ExperimentClient(server.url, timeout=30.0) as fresh:
        for experiment_id, payload in kept.items():
            assert fresh.get_experiment(experiment_id).to_dict() == payload
        assert fresh.get_experiment(again.experiment_id).status_name == "Succeeded"

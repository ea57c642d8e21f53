"""kill -9 of the server in the middle of a burst of creates from several clients.

After a restart on the same data dir, every create that was answered with success is
there and complete (the spec equal to the one answered and to the one sent, a valid
status); every experiment the server holds is one of ours and whole; the clients saw
only typed errors for the rest; SQLite's integrity check passes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import pytest

from submarine.client import ExperimentClient, SubmarineError
from submarine.models import Experiment, ExperimentSpec, ExperimentStatus
from tests.conftest import RunningServer, ServerFactory
from tests.support import make_spec, wait_until

from .conftest import Figures, integrity, stored_names

pytestmark = pytest.mark.reliability


@dataclass
class Burst:
    """What the clients of one burst sent and saw."""

    sent: dict[str, dict[str, Any]] = field(default_factory=dict)
    answered: dict[str, Experiment] = field(default_factory=dict)
    errors: list[BaseException] = field(default_factory=list)
    failed_names: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _spec(name: str, index: int) -> dict[str, Any]:
    env = {f"VAR_{i}": f"value {i} of {name}" for i in range(index % 5)}
    return make_spec(
        name=name,
        cmd=f"echo {name}",
        resources="cpu=10m,memory=1M",
        env=env,
        tags=[name, "burst"],
    )


def _client_loop(url: str, who: int, burst: Burst, stop: threading.Event, cycle: int) -> None:
    errors_after_stop = 0
    with ExperimentClient(url, timeout=5.0, max_retries=1, retry_backoff=0.01) as client:
        index = 0
        while errors_after_stop < 2:
            name = f"burst-{cycle}-{who}-{index}"
            data = _spec(name, index)
            with burst.lock:
                burst.sent[name] = data
            try:
                answer = client.create_experiment(data)
            except SubmarineError as exc:
                with burst.lock:
                    burst.errors.append(exc)
                    burst.failed_names.add(name)
                if stop.is_set():
                    errors_after_stop += 1
            except BaseException as exc:  # recorded, and the test fails on it
                with burst.lock:
                    burst.errors.append(exc)
                return
            else:
                with burst.lock:
                    burst.answered[name] = answer
            index += 1


def _one_cycle(
    server: RunningServer, cycle: int, clients: int, before_kill: int, figures: Figures
) -> Burst:
    burst = Burst()
    stop = threading.Event()
    threads = [
        threading.Thread(target=_client_loop, args=(server.url, who, burst, stop, cycle))
        for who in range(clients)
    ]
    for thread in threads:
        thread.start()
    wait_until(lambda: len(burst.answered) >= before_kill, what=f"{before_kill} creates")
    stop.set()
    server.kill()
    figures.add("kill -9: server kills")
    for thread in threads:
        thread.join(60)
        assert not thread.is_alive(), "a client hung after the server died"
    server.restart()
    return burst


def _check(server: RunningServer, bursts: list[Burst], figures: Figures) -> None:
    assert integrity(server) == "ok"
    sent: dict[str, dict[str, Any]] = {}
    answered: dict[str, Experiment] = {}
    for burst in bursts:
        unexpected = [e for e in burst.errors if not isinstance(e, SubmarineError)]
        assert not unexpected, f"clients saw untyped errors: {unexpected!r}"
        sent.update(burst.sent)
        answered.update(burst.answered)
        figures.add("kill -9: typed errors seen by clients", len(burst.errors))
    names = stored_names(server)
    # Each name is sent once: a name stored twice is a create stored twice.
    assert all(count == 1 for count in names.values()), "a create was stored twice"
    with ExperimentClient(server.url, timeout=30.0) as client:
        listed = {e.experiment_id: e for e in client.list_experiments()}
        by_name = {e.spec.meta.name: e for e in listed.values() if e.spec is not None}
        assert len(by_name) == len(listed), "an experiment without a complete spec"
        # Every success is there, complete, as answered and as sent.
        for name, answer in answered.items():
            assert name in by_name, f"{name} was answered with success and then lost"
            stored = client.get_experiment(answer.experiment_id)
            assert stored.spec == answer.spec
            assert isinstance(stored.status, ExperimentStatus)
            expected = ExperimentSpec.model_validate(sent[name])
            assert stored.spec is not None
            assert stored.spec.meta.cmd == expected.meta.cmd
            assert stored.spec.meta.env_vars == expected.meta.env_vars
            assert stored.spec.meta.tags == expected.meta.tags
            assert stored.spec.spec["Worker"].resources == expected.spec["Worker"].resources
        # Whatever else is there (created, answer lost in the kill) is one of ours, whole.
        for name, experiment in by_name.items():
            assert name in sent, f"an experiment nobody sent: {name}"
            assert experiment.spec is not None
            assert (
                experiment.spec.meta.env_vars
                == ExperimentSpec.model_validate(sent[name]).meta.env_vars
            )
            assert isinstance(experiment.status, ExperimentStatus)
    figures.add("kill -9: creates answered with success", len(answered))
    figures.add("kill -9: creates stored without an answer", len(by_name) - len(answered))
    figures.add("kill -9: experiments lost", len(set(answered) - set(by_name)))


def _run(server_factory: ServerFactory, figures: Figures, cycles: int, clients: int) -> None:
    server = server_factory.start("--grace-period", "0.5")
    bursts = [
        _one_cycle(server, cycle, clients, 15 + 5 * cycle, figures) for cycle in range(cycles)
    ]
    _check(server, bursts, figures)


@pytest.mark.bounded
def test_kill9_during_a_burst_of_creates_loses_no_answered_create(
    server_factory: ServerFactory, figures: Figures
) -> None:
    _run(server_factory, figures, cycles=1, clients=4)


def test_kill9_repeatedly_during_bursts_from_eight_clients(
    server_factory: ServerFactory, figures: Figures
) -> None:
    _run(server_factory, figures, cycles=5, clients=8)

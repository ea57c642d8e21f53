"""The client behind a fault-injecting proxy: it retries only what is safe, raises typed
errors for the rest, and never creates a duplicate experiment.

After every fault the experiments are counted by name straight from the server's SQLite
file, so a retried create that reached the server twice cannot hide behind the client.
Experiments here run ``true`` and finish at once, so the server's own refusal of a second
*live* experiment of the same name could not hide a duplicate either.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from submarine.client import (
    APIConnectionError,
    APITimeoutError,
    AsyncExperimentClient,
    ExperimentClient,
    NotFoundError,
    ServerError,
    SubmarineError,
)
from submarine.models import ExperimentSpec
from tests.conftest import RunningServer
from tests.support import make_spec, unique_name, wait_until

from .conftest import Figures, python_cmd, stored_count
from .faultproxy import Fault, FaultKind, FaultProxy, plan_of

pytestmark = pytest.mark.reliability

TIMEOUT = 5.0
"""The client's timeout behind the proxy: every request through it has this long, so an
answer of the healthy server must never miss it, even on a loaded machine (a create takes
milliseconds); each delay fault costs this long."""
LATE = 8.0
"""How long a delay fault holds an answer: past the client's timeout."""
API = "/api/v1/experiment"


@pytest.fixture
def proxy(module_server: RunningServer) -> Iterator[FaultProxy]:
    url = httpx.URL(module_server.url)
    assert url.host == "127.0.0.1"
    with FaultProxy("127.0.0.1", int(url.port or 80)) as running:
        yield running


@pytest.fixture
def client(proxy: FaultProxy) -> Iterator[ExperimentClient]:
    with ExperimentClient(
        proxy.url, timeout=httpx.Timeout(TIMEOUT), max_retries=2, retry_backoff=0.01
    ) as made:
        yield made


@pytest.fixture
def direct_client(module_server: RunningServer) -> Iterator[ExperimentClient]:
    with ExperimentClient(module_server.url, timeout=30.0) as made:
        yield made


def posts(proxy: FaultProxy, since: int = 0) -> list[Any]:
    """Create requests that reached the server, from request number ``since`` on."""
    return [
        r
        for r in proxy.requests_matching("POST", API)
        if r.forwarded and r.info.number >= since and r.info.path == API
    ]


# -- creates: never retried once the server may have seen them ---------------------------------

CREATE_FAULTS = [
    pytest.param(Fault.drop(), APIConnectionError, 0, id="drop-request"),
    pytest.param(Fault.reset(after=0), APIConnectionError, 1, id="reset-before-answer"),
    pytest.param(Fault.reset(after=40), APIConnectionError, 1, id="reset-mid-head"),
    pytest.param(Fault.reset(after=300), APIConnectionError, 1, id="reset-mid-body"),
    pytest.param(Fault.truncate(after=30), APIConnectionError, 1, id="truncate-head"),
    pytest.param(Fault.truncate(after=300), APIConnectionError, 1, id="truncate-body"),
    pytest.param(Fault.delay(LATE), APITimeoutError, 1, id="delay-past-timeout"),
    pytest.param(Fault.answer(502), ServerError, 0, id="proxy-502"),
    pytest.param(Fault.answer(504), ServerError, 0, id="proxy-504"),
]


@pytest.mark.bounded
@pytest.mark.parametrize(("fault", "error", "stored"), CREATE_FAULTS)
def test_a_faulted_create_is_a_typed_error_and_never_a_duplicate(
    module_server: RunningServer,
    proxy: FaultProxy,
    client: ExperimentClient,
    figures: Figures,
    fault: Fault,
    error: type[SubmarineError],
    stored: int,
) -> None:
    name = unique_name("create-fault")
    proxy.plan(fault)
    with pytest.raises(error) as caught:
        client.create_experiment(make_spec(name=name))
    assert type(caught.value).__module__ == "submarine.client.errors"
    assert name not in str(caught.value) or fault.kind is not FaultKind.PASS
    figures.add("proxy: faults injected")
    # The request was sent once at most: a create is never retried after it may have landed.
    assert len(posts(proxy)) == stored
    wait_until(lambda: stored_count(module_server, name) == stored, what=f"{stored} x {name}")
    assert stored_count(module_server, name) == stored
    figures.add("proxy: experiments created under faults", stored)
    # The connection is usable again at once.
    again = client.create_experiment(make_spec(name=name + "-after"))
    assert again.status_name == "Accepted"
    assert stored_count(module_server, name + "-after") == 1


@pytest.mark.bounded
def test_a_create_reset_at_accept_lands_at_most_once(
    module_server: RunningServer, proxy: FaultProxy, figures: Figures
) -> None:
    """A reset right at accept reaches the client either while it connects (a connect
    error: nothing was sent, so a retry is safe) or when it reads (not retried)."""
    outcomes = set()
    for attempt in range(6):
        name = unique_name(f"create-reset-at-accept-{attempt}")
        first = len(proxy.requests)
        proxy.plan(Fault.refuse())
        with ExperimentClient(proxy.url, timeout=TIMEOUT, retry_backoff=0.01) as fresh:
            try:
                fresh.create_experiment(make_spec(name=name))
            except APIConnectionError:
                expected = 0
            else:
                expected = 1
        outcomes.add(expected)
        figures.add("proxy: faults injected")
        assert proxy.refused_connections == attempt + 1
        assert len(posts(proxy, since=first)) == expected
        assert stored_count(module_server, name) == expected
        figures.add("proxy: experiments created under faults", expected)


@pytest.mark.bounded
def test_a_create_refused_by_the_kernel_is_retried_and_lands_once(
    module_server: RunningServer, proxy: FaultProxy, client: ExperimentClient, figures: Figures
) -> None:
    name = unique_name("create-refused")
    proxy.close_listener()
    attempts: list[float] = []

    def reopen_then_retry(delay: float) -> None:
        attempts.append(delay)
        proxy.open_listener()

    client._sleep = reopen_then_retry  # type: ignore[method-assign]
    created = client.create_experiment(make_spec(name=name))
    figures.add("proxy: faults injected")
    assert len(attempts) == 1, "a connection that was never made is safe to retry"
    assert created.spec is not None
    assert created.spec.meta.name == name
    assert len(posts(proxy)) == 1
    assert stored_count(module_server, name) == 1
    figures.add("proxy: experiments created under faults")


@pytest.mark.bounded
def test_the_async_client_keeps_the_same_rules(
    module_server: RunningServer, proxy: FaultProxy, figures: Figures
) -> None:
    """AsyncExperimentClient through the same faults: a create that reached the server is
    not sent again, a read is retried."""

    async def scenario() -> tuple[str, str]:
        async with AsyncExperimentClient(
            proxy.url, timeout=TIMEOUT, max_retries=2, retry_backoff=0.01
        ) as client:
            name = unique_name("async-create")
            proxy.plan(Fault.reset(after=0))
            with pytest.raises(APIConnectionError):
                await client.create_experiment(make_spec(name=name))
            made = await client.create_experiment(make_spec(name=name + "-ok"))
            proxy.plan(Fault.drop(), Fault.truncate(after=50))
            got = await client.get_experiment(made.experiment_id)
            assert got.spec == made.spec
            return name, made.experiment_id

    name, experiment_id = asyncio.run(scenario())
    figures.add("proxy: faults injected", 3)
    figures.add("proxy: experiments created under faults")
    assert len([r for r in posts(proxy) if r.fault.is_fault]) == 1
    assert stored_count(module_server, name) == 1
    assert len(proxy.requests_matching("GET", f"{API}/{experiment_id}")) == 3


# -- idempotent requests: retried, and the answer is right ----------------------------------------

TRANSIENT = [
    pytest.param(Fault.refuse(), id="refuse"),
    pytest.param(Fault.drop(), id="drop"),
    pytest.param(Fault.reset(after=0), id="reset-before-answer"),
    pytest.param(Fault.reset(after=100), id="reset-mid-response"),
    pytest.param(Fault.truncate(after=100), id="truncate"),
    pytest.param(Fault.delay(LATE), id="delay"),
    pytest.param(Fault.answer(503), id="proxy-503"),
]


@pytest.mark.bounded
@pytest.mark.parametrize("fault", TRANSIENT)
def test_reads_are_retried_through_one_fault(
    proxy: FaultProxy,
    client: ExperimentClient,
    direct_client: ExperimentClient,
    figures: Figures,
    fault: Fault,
) -> None:
    made = direct_client.create_experiment(make_spec(name=unique_name("read-fault")))
    proxy.plan(fault)
    got = client.get_experiment(made.experiment_id)
    figures.add("proxy: faults injected")
    assert got.experiment_id == made.experiment_id
    assert got.spec == made.spec
    gets = proxy.requests_matching("GET", f"{API}/{made.experiment_id}")
    assert len(gets) == 2 - (fault.kind is FaultKind.REFUSE)  # a refused one is never read
    proxy.plan(fault)
    listed = client.list_experiments()
    figures.add("proxy: faults injected")
    assert made.experiment_id in {e.experiment_id for e in listed}


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        pytest.param(Fault.drop(), APIConnectionError, id="drop", marks=pytest.mark.bounded),
        pytest.param(Fault.delay(LATE), APITimeoutError, id="delay"),
        pytest.param(Fault.answer(502), ServerError, id="proxy-502", marks=pytest.mark.bounded),
    ],
)
def test_reads_give_up_after_max_retries_with_a_typed_error(
    proxy: FaultProxy,
    client: ExperimentClient,
    direct_client: ExperimentClient,
    figures: Figures,
    fault: Fault,
    error: type[SubmarineError],
) -> None:
    made = direct_client.create_experiment(make_spec(name=unique_name("give-up")))
    proxy.plan(fault, fault, fault)
    with pytest.raises(error):
        client.get_experiment(made.experiment_id)
    figures.add("proxy: faults injected", 3)
    assert proxy.pending == 0, "1 try and 2 retries, no more"
    assert len(proxy.requests_matching("GET", f"{API}/{made.experiment_id}")) == 3


@pytest.mark.bounded
def test_a_patch_lost_after_the_server_acted_is_retried_without_a_second_experiment(
    module_server: RunningServer,
    proxy: FaultProxy,
    client: ExperimentClient,
    direct_client: ExperimentClient,
    figures: Figures,
) -> None:
    name = unique_name("patch-fault")
    made = direct_client.create_experiment(make_spec(name=name))
    changed = make_spec(name=name, cmd="echo patched", env={"K": "v"})
    proxy.plan(Fault.reset(after=0))
    patched = client.patch_experiment(made.experiment_id, changed)
    figures.add("proxy: faults injected")
    assert patched.experiment_id == made.experiment_id
    assert patched.spec is not None
    assert patched.spec.meta.cmd == "echo patched"
    assert patched.spec.meta.env_vars == {"K": "v"}
    assert stored_count(module_server, name) == 1
    assert direct_client.get_experiment(made.experiment_id).spec == patched.spec


@pytest.mark.bounded
def test_a_delete_lost_after_the_server_acted_ends_deleted_or_typed(
    module_server: RunningServer,
    proxy: FaultProxy,
    client: ExperimentClient,
    direct_client: ExperimentClient,
    figures: Figures,
) -> None:
    name = unique_name("delete-fault")
    made = direct_client.create_experiment(make_spec(name=name))
    proxy.plan(Fault.reset(after=0))
    outcome = ""
    try:
        outcome = client.delete_experiment(made.experiment_id).status_name
    except NotFoundError as exc:
        # The retry found it gone: the first try deleted it. Typed, and true.
        outcome = exc.message
    assert outcome in ("Deleted", "Not found experiment.")
    figures.set("proxy: a delete retried after a lost answer", outcome)
    figures.add("proxy: faults injected")
    assert stored_count(module_server, name) == 0
    with pytest.raises(NotFoundError):
        direct_client.get_experiment(made.experiment_id)


@pytest.mark.bounded
def test_following_logs_through_faults_loses_and_repeats_nothing(
    proxy: FaultProxy, client: ExperimentClient, direct_client: ExperimentClient, figures: Figures
) -> None:
    lines = 400
    code = f"import time\nfor i in range({lines}):\n    print(i, flush=True)\n    time.sleep(0.001)"
    made = direct_client.create_experiment(
        make_spec(name=unique_name("follow-fault"), cmd=python_cmd(code))
    )
    faults = [
        Fault.passthrough(),
        Fault.reset(after=120),
        Fault.passthrough(),
        Fault.truncate(after=200),
        Fault.drop(),
        Fault.passthrough(),
    ]
    proxy.policy = plan_of(faults)
    seen = [line for _, line in client.stream_logs(made.experiment_id, polling_interval=0.5)]
    proxy.clear()
    injected = sum(1 for r in proxy.requests if r.fault.is_fault)
    figures.add("proxy: faults injected", injected)
    assert injected >= 2
    assert seen == [str(i) for i in range(lines)]
    final = direct_client.get_experiment(made.experiment_id)
    assert final.status_name == "Succeeded"


# -- a storm of random faults ----------------------------------------------------------------------

STORM_FAULTS: list[tuple[Fault, int]] = [
    (Fault.passthrough(), 6),
    (Fault.refuse(), 2),
    (Fault.drop(), 2),
    (Fault.reset(after=0), 2),
    (Fault.reset(after=200), 2),
    (Fault.truncate(after=60), 2),
    (Fault.answer(503), 1),
    (Fault.delay(LATE), 1),
]


def _storm(
    module_server: RunningServer,
    proxy: FaultProxy,
    client: ExperimentClient,
    figures: Figures,
    operations: int,
    seed: int,
) -> None:
    chooser = random.Random(seed)
    faults = [fault for fault, weight in STORM_FAULTS for _ in range(weight)]
    created = 0
    for index in range(operations):
        name = f"storm-{seed}-{index}"
        fault = chooser.choice(faults)
        first = len(proxy.requests)
        proxy.plan(fault)
        error: SubmarineError | None = None
        try:
            answer = client.create_experiment(make_spec(name=name))
        except SubmarineError as exc:
            error = exc
        if error is not None:
            expected = 1 if fault.reaches_server else 0
            assert fault.is_fault, f"create {name} failed without a fault: {error!r}"
        else:
            # Only a reset at accept can be survived: it shows as a connect error, and a
            # request never sent is safe to send again.
            assert fault.kind in (FaultKind.PASS, FaultKind.REFUSE), f"{fault}, yet success"
            assert answer.spec is not None
            assert answer.spec.meta.name == name
            expected = 1
        landed = posts(proxy, since=first)
        assert len(landed) == expected, f"{fault}: {len(landed)} creates reached the server"
        wait_until(lambda: stored_count(module_server, name) == expected, what=name)  # noqa: B023
        created += expected
        if fault.is_fault:
            figures.add("proxy: faults injected")
            figures.add("proxy: experiments created under faults", expected)
        # A read through the next fault: retried until it is right.
        proxy.plan(chooser.choice(faults))
        if expected:
            got = client.list_experiments()
            assert sum(1 for e in got if e.spec and e.spec.meta.name == name) == 1
        proxy.clear()
    figures.add("proxy: storm operations", operations)
    assert sum(v for k, v in _storm_names(module_server, seed).items()) == created


def _storm_names(server: RunningServer, seed: int) -> dict[str, int]:
    from .conftest import stored_names

    names = stored_names(server)
    duplicates = {k: v for k, v in names.items() if v > 1}
    assert not duplicates, f"duplicate experiments: {duplicates}"
    return {k: v for k, v in names.items() if k.startswith(f"storm-{seed}-")}


@pytest.mark.bounded
def test_a_short_storm_of_random_faults(
    module_server: RunningServer, proxy: FaultProxy, client: ExperimentClient, figures: Figures
) -> None:
    _storm(module_server, proxy, client, figures, operations=30, seed=1)


def test_a_long_storm_of_random_faults(
    module_server: RunningServer, proxy: FaultProxy, client: ExperimentClient, figures: Figures
) -> None:
    _storm(module_server, proxy, client, figures, operations=300, seed=2)


def test_the_spec_answered_is_the_spec_sent(
    proxy: FaultProxy, client: ExperimentClient, direct_client: ExperimentClient
) -> None:
    sent = make_spec(name=unique_name("echo"), cmd="echo a b", env={"A": "1"})
    proxy.plan(Fault.passthrough())
    answer = client.create_experiment(sent)
    expected = ExperimentSpec.model_validate(sent)
    assert answer.spec is not None
    assert answer.spec.meta.cmd == expected.meta.cmd
    assert answer.spec.meta.env_vars == expected.meta.env_vars
    assert direct_client.get_experiment(answer.experiment_id).spec == answer.spec

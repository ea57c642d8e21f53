"""Following logs: stream_logs and wait_for_finish, on a server with and without the
log-stream extension (MockTransport; the live suite covers the local server)."""

from __future__ import annotations

import io
from urllib.parse import parse_qs

import httpx
import pytest

from submarine.client import ExperimentFailedError, NotFoundError, WaitTimeoutError
from tests.client.conftest import Script, experiment, fail, ok, pod_log

EXP_ID = "experiment-1647192232698-0007"
PS = f"{EXP_ID}-ps-0"
WORKER = f"{EXP_ID}-worker-0"


class PollingServer:
    """A real Submarine server's view of one experiment: each GET of the experiment moves
    to the next state; logs/{id} resends the whole log of the current state."""

    def __init__(self, states: list[tuple[str | None, dict[str, list[str]]]]) -> None:
        self.states = states
        self.index = -1

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/ping"):
            return ok("Pong")
        if path.endswith("/log-stream"):
            return fail(404, "no such endpoint")
        if path == f"/api/v1/experiment/{EXP_ID}":
            self.index = min(self.index + 1, len(self.states) - 1)
        status, pods = self.states[max(self.index, 0)]
        if status is None:
            return fail(404, "Not found experiment.")
        if path == f"/api/v1/experiment/logs/{EXP_ID}":
            return ok(pod_log(EXP_ID, pods))
        return ok(experiment(EXP_ID, status))


RUNS = [
    ("Accepted", {}),
    ("Running", {PS: ["ps up"], WORKER: []}),
    ("Running", {PS: ["ps up"], WORKER: ["step 1", "step 2"]}),
    ("Running", {PS: ["ps up", "ps done"], WORKER: ["step 1", "step 2", "step 3"]}),
    ("Succeeded", {PS: ["ps up", "ps done"], WORKER: ["step 1", "step 2", "step 3", "bye"]}),
]
ALL_LINES = [
    (PS, "ps up"),
    (WORKER, "step 1"),
    (WORKER, "step 2"),
    (PS, "ps done"),
    (WORKER, "step 3"),
    (WORKER, "bye"),
]


def test_stream_logs_follow_yields_each_line_once_until_terminal(make, fake_time):
    script = Script(PollingServer(RUNS))
    lines = make(script).stream_logs(EXP_ID, polling_interval=3)
    assert lines == ALL_LINES
    assert fake_time.sleeps == [3, 3, 3, 3]
    assert script.paths()[0] == "GET /api/v1/experiment/ping"
    assert script.paths().count("GET /api/v1/experiment/ping") == 1


def test_stream_logs_without_follow_yields_what_is_there_and_stops(make, fake_time):
    script = Script(PollingServer(RUNS[2:]))
    lines = make(script).stream_logs(EXP_ID, follow=False)
    assert lines == [(PS, "ps up"), (WORKER, "step 1"), (WORKER, "step 2")]
    assert fake_time.sleeps == []


def test_stream_logs_stops_when_the_experiment_vanishes(make):
    states = [*RUNS[:3], (None, {})]
    lines = make(Script(PollingServer(states))).stream_logs(EXP_ID, polling_interval=1)
    assert lines == [(PS, "ps up"), (WORKER, "step 1"), (WORKER, "step 2")]


def test_stream_logs_of_an_unknown_experiment_is_not_found(make):
    with pytest.raises(NotFoundError, match="Not found experiment"):
        make(Script(PollingServer([(None, {})]))).stream_logs(EXP_ID)


def test_a_restarted_pod_is_shown_again_from_its_start(make):
    states = [
        ("Running", {WORKER: ["try 1", "crash"]}),
        ("Running", {WORKER: ["try 2"]}),
        ("Succeeded", {WORKER: ["try 2", "done"]}),
    ]
    lines = make(Script(PollingServer(states))).stream_logs(EXP_ID, polling_interval=1)
    assert [line for _, line in lines] == ["try 1", "crash", "try 2", "done"]


def test_wait_for_finish_prints_each_new_line_once_under_pod_headers(make, fake_time):
    out = io.StringIO()
    log = make(Script(PollingServer(RUNS))).wait_for_finish(EXP_ID, 5, stream=out)
    assert out.getvalue() == (
        f"The logs of Pod {PS}:\nps up\n"
        f"The logs of Pod {WORKER}:\nstep 1\nstep 2\n"
        f"The logs of Pod {PS}:\nps done\n"
        f"The logs of Pod {WORKER}:\nstep 3\nbye\n"
    )
    assert log.experiment_id == EXP_ID
    assert {pod.pod_name: pod.lines for pod in log.pods} == RUNS[-1][1]
    assert fake_time.sleeps == [5, 5, 5, 5]


@pytest.mark.parametrize("status", ["Failed", "Deleted"])
def test_wait_for_finish_stops_on_failed_and_deleted_without_raising(make, status):
    states = [("Running", {WORKER: ["a"]}), (status, {WORKER: ["a", "oops"]})]
    out = io.StringIO()
    log = make(Script(PollingServer(states))).wait_for_finish(EXP_ID, 1, stream=out)
    assert log.pods[0].lines == ["a", "oops"]
    assert out.getvalue().endswith("oops\n")


def test_wait_for_finish_raise_on_failure(make):
    states = [("Running", {WORKER: ["a"]}), ("Failed", {WORKER: ["a", "Traceback: boom"]})]
    client = make(Script(PollingServer(states)))
    with pytest.raises(ExperimentFailedError, match="ended with status Failed") as caught:
        client.wait_for_finish(EXP_ID, 1, raise_on_failure=True, stream=io.StringIO())
    assert caught.value.experiment_id == EXP_ID
    assert caught.value.log.pods[0].lines[-1] == "Traceback: boom"
    assert "Traceback: boom" in str(caught.value)


def test_wait_for_finish_returns_when_the_experiment_vanishes(make):
    states = [("Running", {WORKER: ["a"]}), (None, {})]
    log = make(Script(PollingServer(states))).wait_for_finish(EXP_ID, 1, stream=io.StringIO())
    assert log.to_dict() == pod_log(EXP_ID, {WORKER: ["a"]})


def test_wait_for_finish_times_out(make, fake_time):
    states = [("Running", {WORKER: ["a"]})]
    client = make(Script(PollingServer(states)))
    start = fake_time.now
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait_for_finish(EXP_ID, 10, timeout=25, stream=io.StringIO())
    assert isinstance(caught.value, TimeoutError)
    assert caught.value.status == "Running"
    assert "within 25 s" in str(caught.value)
    assert fake_time.sleeps == [10, 10, 5]
    assert fake_time.now - start == 25


def test_wait_for_finish_prints_to_stdout_by_default(make, capsys):
    states = [("Succeeded", {WORKER: ["only line"]})]
    make(Script(PollingServer(states))).wait_for_finish(EXP_ID)
    assert capsys.readouterr().out == f"The logs of Pod {WORKER}:\nonly line\n"


@pytest.mark.parametrize(("interval", "timeout"), [(-1, None), (1, -5)])
def test_wait_for_finish_refuses_negative_times(make, interval, timeout):
    script = Script(PollingServer(RUNS))
    with pytest.raises(ValueError, match="0 or more seconds"):
        make(script).wait_for_finish(EXP_ID, interval, timeout)
    assert script.requests == []


class StreamServer:
    """The local server's log-stream extension, scripted: one page per call."""

    def __init__(self, pages: list[dict], final_log: dict | None = None) -> None:
        self.pages = pages
        self.final_log = final_log
        self.calls: list[dict[str, list[str]]] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.path
        if path.endswith("/ping"):
            return ok("Pong", attributes={"extensions": ["log-stream"]})
        if path.endswith("/log-stream"):
            self.calls.append(parse_qs(request.url.query.decode()))
            page = self.pages.pop(0)
            if page.get("gone"):
                return fail(404, "Not found experiment.")
            return ok({"experimentId": EXP_ID, **page})
        if path == f"/api/v1/experiment/logs/{EXP_ID}" and self.final_log is not None:
            return ok(self.final_log)
        return fail(404, f"unexpected {request.method} {path}")


def page(status: str, cursor: str, more: bool = False, **pods: list[str]) -> dict:
    return {
        "status": status,
        "cursor": cursor,
        "more": more,
        "pods": [{"podName": name, "lines": lines} for name, lines in pods.items()],
    }


def test_log_stream_passes_the_cursor_and_stops_at_terminal(make, fake_time):
    server = StreamServer(
        [
            page("Running", "c1", worker_0=["one"]),
            page("Running", "c2", True, worker_0=["two"], ps_0=["p"]),
            page("Running", "c3", worker_0=["three"]),
            page("Succeeded", "c4"),
        ]
    )
    lines = make(Script(server)).stream_logs(EXP_ID, polling_interval=7)
    assert lines == [
        ("worker_0", "one"),
        ("worker_0", "two"),
        ("ps_0", "p"),
        ("worker_0", "three"),
    ]
    assert [call.get("cursor") for call in server.calls] == [None, ["c1"], ["c2"], ["c3"]]
    assert [call["wait"] for call in server.calls] == [["0.000"], ["7.000"], ["0.000"], ["7.000"]]
    assert all(call["limit"] == ["1048576"] for call in server.calls)
    assert fake_time.sleeps == []


def test_log_stream_without_follow_drains_pages_marked_more(make):
    server = StreamServer(
        [
            page("Running", "c1", True, w=["1"]),
            page("Running", "c2", False, w=["2"]),
            page("Running", "c3", w=["never asked"]),
        ]
    )
    assert make(Script(server)).stream_logs(EXP_ID, follow=False) == [("w", "1"), ("w", "2")]
    assert len(server.calls) == 2


def test_log_stream_stops_when_the_experiment_vanishes(make):
    server = StreamServer([page("Running", "c1", w=["1"]), {"gone": True}])
    assert make(Script(server)).stream_logs(EXP_ID) == [("w", "1")]


def test_log_stream_of_an_unknown_experiment_is_not_found(make):
    with pytest.raises(NotFoundError):
        make(Script(StreamServer([{"gone": True}]))).stream_logs(EXP_ID)


def test_wait_for_finish_long_polls_within_the_timeout_and_never_sleeps(make, fake_time):
    server = StreamServer(
        [page("Running", "c1", w=["1"]), page("Running", "c2"), page("Succeeded", "c3", w=["2"])],
        final_log=pod_log(EXP_ID, {"w": ["1", "2"]}),
    )
    client = make(Script(server))
    out = io.StringIO()
    log = client.wait_for_finish(EXP_ID, polling_interval=30, timeout=12, stream=out)
    assert out.getvalue() == "The logs of Pod w:\n1\n2\n"
    assert log.pods[0].lines == ["1", "2"]
    assert [call["wait"] for call in server.calls] == [["0.000"], ["12.000"], ["12.000"]]
    assert fake_time.sleeps == []


def test_wait_for_finish_with_the_extension_times_out(make, fake_time):
    class Clocked(StreamServer):
        def __call__(self, request: httpx.Request) -> httpx.Response:
            if request.url.path.endswith("/log-stream"):
                fake_time.now += float(parse_qs(request.url.query.decode())["wait"][0])
            return super().__call__(request)

    server = Clocked([page("Running", f"c{i}") for i in range(10)])
    with pytest.raises(WaitTimeoutError):
        make(Script(server)).wait_for_finish(EXP_ID, 4, timeout=10, stream=io.StringIO())
    assert [call["wait"][0] for call in server.calls] == ["0.000", "4.000", "4.000", "2.000"]


def test_extension_is_detected_once_per_client(make):
    server = StreamServer([page("Succeeded", "a", w=["x"]), page("Succeeded", "b", w=["y"])])
    script = Script(server)
    client = make(script)
    assert client.stream_logs(EXP_ID) == [("w", "x")]
    assert client.stream_logs(EXP_ID) == [("w", "y")]
    assert script.paths().count("GET /api/v1/experiment/ping") == 1


def watch_stream(driver, *args, **kwargs) -> tuple[list[tuple[str, str, str]], str, list[str]]:
    """Read a whole LogStream of either client: each line with the stream's status when it
    came, then the final status and the pods."""
    stream = driver.client.stream_logs(*args, **kwargs)
    seen: list[tuple[str, str, str]] = []
    if driver.kind == "sync":
        for pod, line in stream:
            seen.append((pod, line, stream.status))
    else:

        async def read() -> None:
            async for pod, line in stream:
                seen.append((pod, line, stream.status))

        driver.loop.run_until_complete(read())
    return seen, stream.status, stream.pods


def test_a_log_stream_tells_the_status_as_it_goes(make):
    server = StreamServer(
        [
            page("Accepted", "c1"),
            page("Running", "c2", worker_0=["one"], ps_0=["p"]),
            page("Succeeded", "c3", worker_0=["two"]),
        ]
    )
    seen, status, pods = watch_stream(make(Script(server)), EXP_ID, polling_interval=1)
    assert seen == [
        ("worker_0", "one", "Running"),
        ("ps_0", "p", "Running"),
        ("worker_0", "two", "Succeeded"),
    ]
    assert status == "Succeeded"
    assert pods == ["worker_0", "ps_0"]


def test_a_polled_stream_tells_the_status_and_deleted_when_it_vanishes(make):
    states = [("Running", {PS: ["ps up"]}), (None, {})]
    seen, status, _ = watch_stream(make(Script(PollingServer(states))), EXP_ID, polling_interval=1)
    assert seen == [(PS, "ps up", "Running")]
    assert status == "Deleted"


def test_stream_logs_gives_up_after_its_timeout(make, fake_time):
    script = Script(PollingServer([("Running", {PS: ["ps up"]})]))
    with pytest.raises(WaitTimeoutError, match="did not finish within 5"):
        make(script).stream_logs(EXP_ID, polling_interval=2, timeout=5)
    assert fake_time.sleeps == [2, 2, 1]


def test_closing_a_sync_stream_stops_its_requests():
    from submarine.client import ExperimentClient

    script = Script(PollingServer([("Running", {PS: ["ps up", "ps 2"]})]))
    with ExperimentClient("http://h", transport=httpx.MockTransport(script)) as client:
        client._sleep = lambda seconds: None
        with client.stream_logs(EXP_ID) as stream:
            assert next(stream) == (PS, "ps up")
        sent = len(script.requests)
        assert list(stream) == []
        assert len(script.requests) == sent


def test_an_invalid_id_or_interval_is_refused_when_the_stream_is_made(make):
    script = Script(PollingServer([("Running", {})]))
    client = make(script).client
    with pytest.raises(ValueError, match="experiment id must be a non-empty string"):
        client.stream_logs(" ")
    with pytest.raises(ValueError, match="polling_interval must be 0 or more"):
        client.stream_logs(EXP_ID, polling_interval=-1)
    assert script.requests == []

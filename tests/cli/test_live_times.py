"""What ``wait`` and ``logs --follow`` show of a run: its own time, from the server's times
(not how long the command has been watching), and why it waits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from submarine.cli._live import Progress, format_elapsed
from submarine.models import Experiment

START = datetime(2024, 5, 23, 9, 1, 12, tzinfo=timezone.utc)


def experiment(**times: datetime | None) -> Experiment:
    wire = {key: value.strftime("%Y-%m-%dT%H:%M:%SZ") for key, value in times.items() if value}
    return Experiment.model_validate({"experimentId": "experiment-1-0001", **wire})


def test_a_finished_run_shows_how_long_it_ran() -> None:
    progress = Progress("experiment-1-0001")
    progress.learn(
        experiment(
            acceptedTime=START - timedelta(minutes=5),
            runningTime=START,
            finishedTime=START + timedelta(seconds=32),
        )
    )
    assert format_elapsed(progress.elapsed()) == "0:32"


def test_a_queued_run_counts_from_when_it_was_accepted() -> None:
    progress = Progress("experiment-1-0001")
    accepted = datetime.now(timezone.utc) - timedelta(minutes=3)
    progress.learn(experiment(acceptedTime=accepted))
    assert 180 <= progress.elapsed() < 3600  # from the server's time, not the command's


def test_without_times_it_counts_from_the_watch() -> None:
    progress = Progress("experiment-1-0001")
    progress.learn(experiment())
    assert progress.since is None
    assert 0 <= progress.elapsed() < 3600


def test_a_queued_run_says_why_it_waits_until_it_runs() -> None:
    progress = Progress("experiment-1-0001", status="Accepted", replicas=2)
    waiting = "waiting in the queue: needs 4 cpus, 1.5 free; 2 experiments ahead"
    answer = experiment(acceptedTime=START).to_dict()
    progress.learn(Experiment.model_validate({**answer, "reason": waiting}))
    assert progress.parts()[2:] == ["2 replicas", waiting]
    progress.status = "Running"
    assert progress.parts()[2:] == ["2 replicas"]

"""The on-disk layout of experiments: paths by id, and the state file that outlives a crash."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from submarine.server.run.layout import JobLayout, JobState


def test_everything_of_an_experiment_is_under_its_id(tmp_path: Path) -> None:
    layout = JobLayout(tmp_path)
    eid = "experiment-1-0001"
    home = tmp_path / "experiments" / eid
    assert layout.directory(eid) == home
    assert layout.log_path(eid, f"{eid}-ps-0") == home / "logs" / f"{eid}-ps-0.log"
    assert layout.tensorboard_dir(eid) == home / "tensorboard"
    assert layout.code_dir(eid) == home / "code"
    assert layout.scratch_dir(eid) == home / "tmp"
    assert not layout.exists(eid)
    layout.prepare(eid)
    assert (home / "logs").is_dir()
    assert (home / "tensorboard").is_dir()
    layout.discard(eid)
    assert not home.exists()
    layout.discard(eid)  # nothing left: nothing happens


@pytest.mark.parametrize("bad", ["", "..", "../etc", "a/b", "experiment 1", "é"])
def test_an_id_that_is_not_a_plain_name_is_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match=r"is not a valid id"):
        JobLayout(tmp_path).directory(bad)


def test_the_state_round_trips_and_replaces_the_old_one(tmp_path: Path) -> None:
    layout = JobLayout(tmp_path)
    eid = "experiment-1-0002"
    assert layout.read_state(eid) == JobState()
    layout.prepare(eid)
    pods = [f"{eid}-master-0", f"{eid}-worker-0"]
    layout.write_state(eid, pods, {f"{eid}-master-0": (4242, 1.5), "git-clone": (17, 2.0)})
    state = layout.read_state(eid)
    assert state.pods == tuple(pods)
    assert state.groups == ((f"{eid}-master-0", 4242, 1.5), ("git-clone", 17, 2.0))
    assert state.pgids == ((4242, 1.5), (17, 2.0))
    layout.write_state(eid, pods, {})
    assert layout.read_state(eid) == JobState(tuple(pods), ())
    assert [p.name for p in layout.directory(eid).iterdir() if p.is_file()] == ["state.json"]


@pytest.mark.parametrize(
    ("text", "expected", "warned"),
    [
        ("not json", JobState(), False),
        ("[1, 2]", JobState(), False),
        ('{"pods": "x", "groups": {"p": [1, 2.0]}}', JobState(None, (("p", 1, 2.0),)), False),
        ('{"pods": ["p"], "groups": {"p": "garbage"}}', JobState(("p",), ()), True),
        ('{"pods": ["p"], "groups": [1, 2]}', JobState(("p",), ()), True),
    ],
)
def test_what_cannot_be_read_of_a_state_is_left_out(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, text: str, expected: JobState, warned: bool
) -> None:
    layout = JobLayout(tmp_path)
    eid = "experiment-1-0003"
    layout.prepare(eid)
    (layout.directory(eid) / "state.json").write_text(text)
    with caplog.at_level(logging.WARNING, logger="submarine.server.run.layout"):
        assert layout.read_state(eid) == expected
    assert ("unreadable process records" in caplog.text) is warned

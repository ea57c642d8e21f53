"""The experiment commands against the real local server: exit codes, formats, error lines."""

from __future__ import annotations

import io
import json
import re
import threading
from datetime import datetime
from pathlib import Path

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from submarine.cli import _app
from submarine.cli._live import exit_code_of, format_elapsed, watch
from submarine.client import ExperimentClient
from submarine.models import Experiment
from tests.support import gated_cmd, make_spec, wait_until

pytestmark = pytest.mark.slow

SCRIPTS = {
    "succeeds": "print('line-one')\nprint('line-two')\n",
    "fails": "print('about-to-fail')\nraise SystemExit(3)\n",
    "sleeps": "import time\ntime.sleep(60)\n",
}


def spec_file(tmp_path: Path, name: str, script: str, *, replicas: int = 1) -> Path:
    """A spec whose replicas run one of SCRIPTS (written next to it)."""
    code = tmp_path / f"{script}.py"
    code.write_text(SCRIPTS[script])
    path = tmp_path / f"{name}.yaml"
    spec = make_spec(roles={"Worker": replicas}, name=name, cmd=f"python {code}")
    path.write_text(yaml.safe_dump(spec))
    return path


def invoke(url: str, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app.app, ["--host", url, *args])
    return result.exit_code, result.stdout, result.stderr


def create(url: str, spec: Path) -> str:
    code, out, err = invoke(url, "experiment", "create", "-f", str(spec), "-o", "json")
    assert (code, err) == (0, "")
    created = json.loads(out)
    assert created["status"] == "Accepted"
    experiment_id: str = created["experimentId"]
    return experiment_id


def test_create_get_list_and_formats(server_url: str, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, "formats", "succeeds")
    experiment_id = create(server_url, spec)

    code, out, _ = invoke(server_url, "experiment", "get", experiment_id, "-o", "yaml")
    assert code == 0
    got = yaml.safe_load(out)
    assert got["experimentId"] == experiment_id
    assert got["spec"]["meta"]["name"] == "formats"

    code, out, _ = invoke(server_url, "experiment", "get", experiment_id)
    assert code == 0
    assert json.loads(out)["experimentId"] == experiment_id  # not a terminal: JSON

    code, out, _ = invoke(server_url, "experiment", "get", experiment_id, "-o", "table")
    assert code == 0
    assert re.search(rf"^ID\s+{experiment_id}$", out, re.MULTILINE)
    assert re.search(r"^Roles\s+ROLE\s+REPLICAS\s+RESOURCES\s+COMMAND$", out, re.MULTILINE)

    code, out, _ = invoke(server_url, "experiment", "wait", experiment_id, "--interval", "0.2")
    assert (code, out) == (0, "")

    code, out, _ = invoke(server_url, "experiment", "list", "-o", "table")
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == [
        "ID", "NAME", "FRAMEWORK", "ROLES", "STATUS", "ACCEPTED", "FINISHED", "DURATION"
    ]  # fmt: skip
    row = next(r for r in rows if r.startswith(experiment_id))
    assert row.split()[1:5] == ["formats", "TensorFlow", "Worker", "1"]
    assert "Succeeded" in row
    assert re.fullmatch(r"[0-9]+:[0-5][0-9]", row.split()[-1])  # it ran: a duration

    code, out, _ = invoke(server_url, "experiment", "list", "--status", "SUCCEEDED", "-o", "json")
    assert code == 0
    listed = json.loads(out)
    assert experiment_id in [e["experimentId"] for e in listed]
    assert {e["status"] for e in listed} == {"Succeeded"}

    code, out, _ = invoke(server_url, "experiment", "list", "--status", "running", "-o", "yaml")
    assert code == 0
    assert experiment_id not in [e["experimentId"] for e in yaml.safe_load(out) or []]


def test_create_wait_follow_succeeds_with_logs_and_progress(
    server_url: str, tmp_path: Path
) -> None:
    spec = spec_file(tmp_path, "follow", "succeeds", replicas=2)
    code, out, err = invoke(
        server_url, "experiment", "create", "-f", str(spec), "--wait", "--follow",
        "--interval", "0.2", "-o", "json",
    )  # fmt: skip
    assert code == 0
    log_lines = [line for line in out.splitlines() if line.startswith("[")]
    assert sorted(log_lines) == sorted(
        f"[worker-{i}] {text}" for i in (0, 1) for text in ("line-one", "line-two")
    )
    final = json.loads(out[out.index("\n{") :])
    assert final["status"] == "Succeeded"
    experiment_id = final["experimentId"]
    progress = err.splitlines()
    assert progress[0] == f"created {experiment_id} (follow)"
    assert re.fullmatch(rf"{experiment_id}: Succeeded · \d+:\d\d · 2 replicas", progress[-1])


def test_wait_exit_codes_failed_timeout_deleted(server_url: str, tmp_path: Path) -> None:
    failing = create(server_url, spec_file(tmp_path, "fails", "fails"))
    code, _, err = invoke(server_url, "experiment", "wait", failing, "--interval", "0.2")
    assert code == 1
    assert f"{failing}: Failed" in err
    reason = f"replica {failing}-worker-0 exited with code 3"
    assert err.splitlines()[-1] == f"{failing}: {reason}"  # why, where people look
    code, out, _ = invoke(server_url, "experiment", "get", failing, "-o", "table")
    assert code == 0
    assert re.search(rf"^Status\s+Failed\nReason\s+{re.escape(reason)}$", out, re.MULTILINE)
    # The time is the run's own (running to finished), however long the wait took.
    with ExperimentClient(server_url) as client:
        done = client.get_experiment(failing)
    assert isinstance(done.running_time, datetime)
    assert isinstance(done.finished_time, datetime)
    took = format_elapsed((done.finished_time - done.running_time).total_seconds())
    assert f"{failing}: Failed · {took} · 1 replica" in err.splitlines()

    sleeping = create(server_url, spec_file(tmp_path, "sleeps", "sleeps"))
    code, out, err = invoke(
        server_url, "experiment", "wait", sleeping, "--timeout", "0.5", "--interval", "0.2"
    )
    assert (code, out) == (2, "")
    # The last status seen depends on how far the replica got in 0.5 s: any live one.
    assert re.fullmatch(
        rf"error: experiment {sleeping} did not finish within 0.5 s \(last status: "
        rf"(Accepted|Created|Running)\); it keeps running: wait again with "
        rf"`submarine experiment wait {sleeping}`",
        err.splitlines()[-1],
    )

    code, out, _ = invoke(server_url, "experiment", "delete", sleeping, "-o", "json")
    assert code == 0
    assert json.loads(out)["status"] == "Deleted"
    code, _, err = invoke(server_url, "experiment", "wait", sleeping)
    assert code == 1
    assert err.startswith(f"error: no experiment {sleeping!r} on {server_url}")


def test_deleting_during_a_wait_ends_it_as_deleted(server_url: str, tmp_path: Path) -> None:
    sleeping = create(server_url, spec_file(tmp_path, "deleted-while-waited", "sleeps"))
    screen = io.StringIO()
    plain = Console(file=screen, force_terminal=False, width=200)
    results: list[Experiment] = []
    with ExperimentClient(server_url) as client:
        waiter = threading.Thread(
            target=lambda: results.append(
                watch(client, sleeping, interval=0.1, timeout=30, print_lines=False, console=plain)
            )
        )
        waiter.start()
        wait_until(lambda: f"{sleeping}: " in screen.getvalue(), what="the first progress line")
        assert invoke(server_url, "experiment", "delete", sleeping)[0] == 0
        waiter.join(30)
    assert not waiter.is_alive()
    assert [r.status_name for r in results] == ["Deleted"]
    assert re.search(rf"^{sleeping}: Deleted · ", screen.getvalue(), re.MULTILINE)
    assert exit_code_of(results[0]) == 1


def test_create_wait_on_a_failing_experiment_exits_1(server_url: str, tmp_path: Path) -> None:
    spec = spec_file(tmp_path, "fails-fast", "fails")
    code, out, _ = invoke(
        server_url, "experiment", "create", "-f", str(spec), "--wait", "--follow", "--interval",
        "0.2",
    )  # fmt: skip
    assert code == 1
    assert "[worker-0] about-to-fail" in out.splitlines()


def test_logs_in_each_format(server_url: str, tmp_path: Path) -> None:
    experiment_id = create(server_url, spec_file(tmp_path, "logs", "succeeds"))
    assert invoke(server_url, "experiment", "wait", experiment_id, "--interval", "0.2")[0] == 0

    code, out, _ = invoke(server_url, "experiment", "logs", experiment_id)
    assert code == 0
    assert out.splitlines() == ["[worker-0] line-one", "[worker-0] line-two"]

    code, out, _ = invoke(server_url, "experiment", "logs", experiment_id, "-o", "json")
    assert code == 0
    log = json.loads(out)
    assert log["experimentId"] == experiment_id
    assert log["logContent"] == [
        {"podName": f"{experiment_id}-worker-0", "podLog": ["line-one", "line-two"]}
    ]

    code, out, _ = invoke(server_url, "experiment", "logs", experiment_id, "--follow")
    assert code == 0
    assert out.splitlines() == ["[worker-0] line-one", "[worker-0] line-two"]


def test_logs_of_the_master_only(server_url: str, tmp_path: Path) -> None:
    # TensorFlow succeeds when the workers do, and the ps is then stopped: the worker waits
    # until the ps has written its lines (it says so with a file), so they are always there.
    printed = tmp_path / "ps-printed"
    ps = tmp_path / "ps.py"
    ps.write_text(
        f"import pathlib, time\nprint('line-one')\nprint('line-two', flush=True)\n"
        f"pathlib.Path({str(printed)!r}).touch()\ntime.sleep(60)\n"
    )
    worker = gated_cmd(printed, "line-one", "line-two")
    spec = make_spec(roles={"Ps": 1, "Worker": 1}, name="master-only", cmd=worker)
    spec["spec"]["Ps"]["cmd"] = f"python {ps}"
    path = tmp_path / "master-only.yaml"
    path.write_text(yaml.safe_dump(spec))
    code, out, _ = invoke(
        server_url, "experiment", "create", "-f", str(path), "--wait", "--interval", "0.2",
        "-o", "json",
    )  # fmt: skip
    assert code == 0
    experiment_id = json.loads(out)["experimentId"]
    code, out, _ = invoke(server_url, "experiment", "logs", experiment_id)
    assert code == 0
    assert {line.split("]")[0] for line in out.splitlines()} == {"[ps-0", "[worker-0"}
    for follow in ([], ["--follow"]):
        code, out, _ = invoke(
            server_url, "experiment", "logs", experiment_id, "--master-only", *follow
        )
        assert code == 0
        assert out.splitlines()[:2] == ["[ps-0] line-one", "[ps-0] line-two"]
        assert {line.split("]")[0] for line in out.splitlines()} == {"[ps-0"}


def test_patch_replaces_the_spec(server_url: str, tmp_path: Path) -> None:
    experiment_id = create(server_url, spec_file(tmp_path, "patch-me", "sleeps"))
    patched = spec_file(tmp_path, "patched", "sleeps", replicas=2)
    code, out, _ = invoke(
        server_url, "experiment", "patch", experiment_id, "-f", str(patched), "-o", "json"
    )
    assert code == 0
    result = json.loads(out)
    assert result["experimentId"] == experiment_id
    assert result["spec"]["spec"]["Worker"]["replicas"] == 2
    assert invoke(server_url, "experiment", "delete", experiment_id)[0] == 0


def test_an_unknown_id_is_one_line_and_exit_1(server_url: str) -> None:
    for command in (["get"], ["delete"], ["logs"], ["wait"]):
        code, out, err = invoke(server_url, "experiment", *command, "experiment-1-9999")
        assert (code, out) == (1, "")
        assert err == (
            f"error: no experiment 'experiment-1-9999' on {server_url}: "
            "`submarine experiment list` shows the ids there are\n"
        )


def test_an_invalid_spec_is_refused_before_sending(server_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "meta:\n  name: bad\n  framework: PyTorch\n  cmd: x\n"
        "environment: {image: x}\n"
        "spec:\n  Master: {replicas: 1, resources: 'memory=1.5G'}\n"
        "  Ps: {replicas: 1, resources: 'cpu=1'}\n"
    )
    code, out, err = invoke(server_url, "experiment", "create", "-f", str(bad))
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert lines[0].startswith(f"error: {bad}:7: spec.Master.resources: memory='1.5G'")
    assert lines[1].startswith(f"error: {bad}:8: spec.Ps: 'Ps' is not a role of PyTorch")
    assert len(lines) == 2
    assert invoke(server_url, "experiment", "list", "-o", "json")[1].count('"bad"') == 0


def test_the_live_line_on_a_terminal(server_url: str, tmp_path: Path) -> None:
    experiment_id = create(server_url, spec_file(tmp_path, "live", "succeeds"))
    screen = io.StringIO()
    terminal = Console(file=screen, force_terminal=True, width=120, color_system=None)
    with ExperimentClient(server_url) as client:
        final = watch(
            client, experiment_id, interval=0.2, timeout=30, print_lines=False, console=terminal
        )
    assert final.status_name == "Succeeded"
    drawn = screen.getvalue()
    assert "worker-0: line-two" in drawn  # the latest log line, on the live line
    assert re.search(r"Succeeded · \d+:\d\d · 1 replica\b", drawn)
    last = drawn.rstrip().splitlines()[-1]
    assert re.search(rf"● {experiment_id}: Succeeded after \d+:\d\d · 1 replica$", last)


def test_yaml_leaves_out_nulls_unless_full_and_list_filters_by_name(
    server_url: str, tmp_path: Path
) -> None:
    experiment_id = create(server_url, spec_file(tmp_path, "Readable-One", "succeeds"))
    create(server_url, spec_file(tmp_path, "other", "succeeds"))

    code, out, _ = invoke(server_url, "experiment", "get", experiment_id, "-o", "yaml")
    assert code == 0
    assert ": null" not in out
    assert "resourceMap" not in out
    assert yaml.safe_load(out)["spec"]["spec"]["Worker"]["resources"] == "cpu=100m,memory=64M"
    code, out, _ = invoke(server_url, "experiment", "get", experiment_id, "-o", "yaml", "--full")
    assert code == 0
    full = yaml.safe_load(out)
    assert full["spec"]["spec"]["Worker"]["resourceMap"] == {"cpu": "100m", "memory": "64M"}
    assert "finishedTime" in full
    assert ": null" in out  # every field the server sent, nulls too

    code, out, _ = invoke(server_url, "experiment", "list", "--name", "readable", "-o", "json")
    assert code == 0
    assert [e["experimentId"] for e in json.loads(out)] == [experiment_id]


def test_get_by_name_shows_the_one_experiment_or_names_each(
    server_url: str, tmp_path: Path
) -> None:
    first = create(server_url, spec_file(tmp_path, "by-name-once", "succeeds"))
    code, out, err = invoke(server_url, "experiment", "get", "by-name-once", "-o", "json")
    assert code == 0
    assert json.loads(out)["experimentId"] == first
    assert f"'by-name-once' is the name of {first}" in err

    twins = [create(server_url, spec_file(tmp_path, "by-name-twice", "succeeds")) for _ in "ab"]
    code, out, err = invoke(server_url, "experiment", "get", "by-name-twice")
    assert code == 1
    assert out == ""
    assert "2 experiments are named 'by-name-twice'" in err
    assert all(twin in err for twin in twins)

    code, _, err = invoke(server_url, "experiment", "get", "no-such-name")
    assert code == 1
    assert "no experiment 'no-such-name'" in err

"""Goal 11 against MLflow: ``submarine.log_metric`` and MLflow's own ``log_metric``, each to
its own local server, in the same run; and 10,000 values read back.

Ours logs to a local server (``python -m submarine.server``) as a replica does (``JOB_ID``,
``SUBMARINE_TRACKING_URI``); MLflow (:data:`~benchmarks.mlflowside.MLFLOW_PACKAGE`, in a venv
of its own under the work dir) logs to ``mlflow server`` on 127.0.0.1 over a SQLite file.
Each side runs in a process of its own (``track_worker.py``) that times its own calls; the
parent asks them in turn, rotating the order every repeat, so a ratio's samples come from
the same moment. MLflow is measured three ways: ``synchronous=True`` (a request per call),
``synchronous=False`` as MLflow sets it (a queue, and a request per call from a thread
pool), and ``synchronous=False`` with ``MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS=1`` (the queue
sent in batches each second, as ours is).

* per call: ``n`` calls, then the flush: time per call until every value is at the server;
* the loop: the goal-11 training loop (the parameter-server example's step) logging its
  loss every step, flushed at the end, and the same loop without logging;
* reading: 10,000 values of one metric, ``get_metrics`` / ``iter_metrics`` against
  ``MlflowClient.get_metric_history``.

Each side's own store is asked afterwards how many values it holds, against how many were
logged: a value lost would fail the run.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import httpx

from benchmarks.context import Context
from benchmarks.harness import Pair, Row, Stats, format_value, rotate
from benchmarks.mlflowside import MLFLOW_ENV, MlflowServer, ensure_mlflow, mlflow_version
from benchmarks.servers import Server, Worker

__all__ = ["experiment_on", "run"]

_SCRIPT_NAME = "track_worker.py"
_BUFFERED = {"MLFLOW_ASYNC_LOGGING_BUFFERING_SECONDS": "1"}
_MLFLOW_WAYS = {
    "sync": "MLflow `log_metric` (synchronous)",
    "async": "MLflow `log_metric(synchronous=False)`",
    "buffered": "MLflow `log_metric(synchronous=False)`, buffered 1 s",
}


def experiment_on(url: str, name: str) -> str:
    """A new experiment (one ``true`` replica) on the local server at ``url``: its id, the
    ``JOB_ID`` a tracking process logs under."""
    spec = {
        "meta": {"name": name, "framework": "TensorFlow", "cmd": "true"},
        "environment": {"image": "local"},
        "spec": {"Worker": {"replicas": 1, "resources": "cpu=100m,memory=64M"}},
    }
    answer = httpx.post(f"{url}/api/v1/experiment", json=spec, timeout=30).json()
    return str(answer["result"]["experimentId"])


def _samples(
    workers: dict[str, tuple[Worker, dict[str, Any]]], repeats: int
) -> dict[str, list[dict[str, Any]]]:
    """Every answer of each (worker, command), in rotating order, after one warm-up."""
    answers: dict[str, list[dict[str, Any]]] = {name: [] for name in workers}

    def one(name: str) -> float:
        worker, command = workers[name]
        answer = worker.call(**command)
        answers[name].append(answer)
        return float(answer["seconds"])

    rotate([partial(one, name) for name in workers], warmup=1, repeats=repeats)
    return {name: found[1:] for name, found in answers.items()}  # the warm-up left out


def _stats(answers: list[dict[str, Any]], field: str = "seconds") -> Stats:
    return Stats.of([float(answer[field]) for answer in answers])


def run(ctx: Context) -> None:
    """Log per call and in a loop, and read 10,000 values, ours against MLflow's."""
    calls = ctx.size(500, 10)
    steps = ctx.size(1000, 10)
    values = ctx.size(10_000, 200)
    repeats = ctx.size(5, 1)
    python = ensure_mlflow(ctx.upstream_work or ctx.work)
    version = mlflow_version(python)
    example = str(ctx.repo / "examples" / "ps_digits")
    script = ctx.repo / "benchmarks" / _SCRIPT_NAME
    scratch = ctx.scratch("mlflow")

    ctx.log(f"mlflow: starting {version}'s server and ours")
    with (
        MlflowServer(python, scratch / "mlflow-server.log") as mlflow,
        Server(scratch / "ours") as ours,
    ):
        writer = experiment_on(ours.url, "tracking-vs-mlflow")
        reader = experiment_on(ours.url, "tracking-read")

        def ours_worker(name: str, experiment: str) -> Worker:
            env = {"JOB_ID": experiment, "SUBMARINE_TRACKING_URI": ours.url}
            return Worker(
                "ours",
                ours.url,
                script=script,
                args=[example, str(ctx.repo)],
                env=env,
                log=scratch / f"{name}.log",
            )

        def mlflow_worker(name: str, env: dict[str, str]) -> Worker:
            return Worker(
                "mlflow",
                mlflow.url,
                python=python,
                script=script,
                args=[example],
                env={**MLFLOW_ENV, **env},
                log=scratch / f"{name}.log",
            )

        workers = {
            "ours": ours_worker("ours", writer),
            "mlflow": mlflow_worker("mlflow", {}),
            "buffered": mlflow_worker("mlflow-buffered", _BUFFERED),
            "reader": ours_worker("reader", reader),
        }
        try:
            for worker in workers.values():
                _ = worker.ready
            _measure(ctx, workers, calls, steps, values, repeats)
        finally:
            for worker in workers.values():
                worker.close()
    ctx.note(
        f"mlflow: {version} in its own venv; `mlflow server` on 127.0.0.1 with its defaults "
        "(4 workers), backend a SQLite file in a temporary directory; ours: the local server, "
        "SQLite, one process"
    )


def _measure(
    ctx: Context,
    workers: dict[str, Worker],
    calls: int,
    steps: int,
    values: int,
    repeats: int,
) -> None:
    ours, mlflow, buffered = workers["ours"], workers["mlflow"], workers["buffered"]
    modes = {"sync": (mlflow, "sync"), "async": (mlflow, "async"), "buffered": (buffered, "async")}

    ctx.log(f"mlflow: {calls} calls a sample: ours, MLflow sync, async, async buffered")
    got = _samples(
        {
            "ours": (ours, {"op": "calls", "n": calls}),
            **{way: (w, {"op": "calls", "n": calls, "mode": m}) for way, (w, m) in modes.items()},
        },
        repeats,
    )
    what = f"`submarine.log_metric`, per call ({calls} calls, then the flush)"
    for index, (way, label) in enumerate(_MLFLOW_WAYS.items(), start=1):
        ctx.add(
            Row.paired(
                f"11m.{index}",
                what,
                f"{label}, same",
                Pair(_stats(got["ours"]), _stats(got[way])),
                note="each to its own local server; until every value is at the server",
            )
        )
    returned = ", ".join(
        f"{name} {format_value(_stats(got[name], 'call_seconds').median, 's')}"
        for name in ("ours", *modes)
    )
    ctx.note(f"mlflow: per call, until the call returned (before the flush): {returned}")

    ctx.log(f"mlflow: loops of {steps} steps: plain, ours, MLflow sync, async, async buffered")
    got = _samples(
        {
            "plain": (ours, {"op": "loop", "n": steps, "mode": "none"}),
            "ours": (ours, {"op": "loop", "n": steps}),
            **{way: (w, {"op": "loop", "n": steps, "mode": m}) for way, (w, m) in modes.items()},
        },
        repeats,
    )
    what = f"training loop of {steps} steps with `submarine.log_metric` each step"
    for index, (way, label) in enumerate(_MLFLOW_WAYS.items(), start=4):
        ctx.add(
            Row.paired(
                f"11m.{index}",
                what,
                f"the same loop with {label}",
                Pair(_stats(got["ours"]), _stats(got[way])),
                note="flushed at the end, in the loop's time",
            )
        )
    plain = _stats(got["plain"]).median
    overheads = ", ".join(
        f"{name} {format_value((_stats(got[name]).median - plain) / steps, 's')}"
        for name in ("ours", *modes)
    )
    ctx.note(
        f"mlflow: the loop's step alone takes {format_value(plain / steps, 's')}; logging "
        f"added, per step: {overheads}"
    )

    ctx.log(f"mlflow: reading {values:,} values back")
    ours_target = workers["reader"].call(op="fill", n=values)["target"]
    mlflow_target = mlflow.call(op="fill", n=values)["target"]
    reader = workers["reader"]
    got = _samples(
        {
            "list": (reader, {"op": "read", "target": ours_target, "how": "list"}),
            "iter": (reader, {"op": "read", "target": ours_target, "how": "iter"}),
            "mlflow": (mlflow, {"op": "read", "target": mlflow_target}),
        },
        repeats,
    )
    for name, found in got.items():
        counts = {answer["count"] for answer in found}
        if counts != {values}:
            raise RuntimeError(f"reading back ({name}) found {counts} values, not {values}")
    history = "MLflow `MlflowClient.get_metric_history`, same"
    for key, name, how in (("11m.7", "list", "get_metrics"), ("11m.8", "iter", "iter_metrics")):
        ctx.add(
            Row.paired(
                key,
                f"reading {values:,} values of a metric back: `ExperimentClient.{how}`",
                history,
                Pair(_stats(got[name]), _stats(got["mlflow"])),
            )
        )

    for name in ("ours", "mlflow", "buffered"):
        count = workers[name].call(op="stored")
        if count["stored"] != count["logged"]:
            raise RuntimeError(f"{name}: {count['logged']} values logged, {count['stored']} stored")
    ctx.note("mlflow: every value logged by either side was stored (counted afterwards)")

"""Goal 5b: wall time of ``submarine experiment list`` / ``get`` against the upstream CLI.

Both are whole processes, started from scratch, against the same local server holding
1,000 experiments: ours is ``submarine --host URL experiment list``; upstream's is
``submarine list experiment`` from its own venv, pointed at the server through its config
file (which lives inside its package; the original is put back afterwards). Output goes to
a pipe, as when a script reads it; each command's output is checked once before timing.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from benchmarks.context import Context
from benchmarks.harness import Goal, Pair, Row, rotate
from benchmarks.servers import Server, fill_store
from benchmarks.upstream import cli_config_path, upstream_env

__all__ = ["run", "wall_time"]

_CORE = "import sys; sys.modules['httpx._main'] = None; import pydantic, httpx"
"""The core dependencies the project mandates, imported as our CLI imports them (without
httpx's own command-line tool): no client on them starts faster than this."""
_FLOOR = "import sys; sys.modules['httpx._main'] = None; import typer, submarine.models, httpx"
"""What ``submarine experiment get`` cannot do without: its CLI framework, models and HTTP."""


def wall_time(args: Sequence[str], *, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Seconds from start to exit of a command, and what it printed (``RuntimeError`` if it
    fails). Output goes to a pipe, as when a script reads it."""
    start = time.perf_counter()
    done = subprocess.run(
        list(args),
        cwd=tempfile.gettempdir(),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=env,
        check=False,
        timeout=120,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}: {done.stderr[-800:]!r}")
    return elapsed, (done.stdout + done.stderr).decode("utf-8", errors="replace")


class _Timed:
    """A command timed again and again; every output must contain ``expect``."""

    def __init__(self, args: Sequence[str], expect: str, env: dict[str, str] | None) -> None:
        self.args = list(args)
        self.expect = expect
        self.env = env

    def __call__(self) -> float:
        elapsed, output = wall_time(self.args, env=self.env)
        if self.expect not in output:
            raise RuntimeError(
                f"{' '.join(self.args)} did not print {self.expect!r}: {output[-800:]!r}"
            )
        return elapsed


def _ours() -> list[str]:
    script = Path(sys.executable).with_name("submarine")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "submarine.cli"]


def run(ctx: Context) -> None:
    """Time both CLIs' list and get, alternating."""
    count = ctx.size(1000, 20)
    repeats = ctx.size(5, 1)
    warmup = ctx.size(1, 0)
    upstream_python = ctx.upstream()
    upstream_cli = str(upstream_python.with_name("submarine"))
    config = cli_config_path(upstream_python)
    original = config.read_bytes() if config.exists() else None

    data = ctx.scratch("cli")
    ids = fill_store(data, count)
    target = ids[len(ids) // 2]
    with Server(data) as server:
        parts = urlsplit(server.url)
        config.write_text(
            f"connection:\n  hostname: {parts.hostname}\n  port: {parts.port}\n", encoding="utf-8"
        )
        try:
            ours = [*_ours(), "--host", server.url]
            up_env = {**upstream_env(), "COLUMNS": "200"}
            ours_env = {**os.environ, "COLUMNS": "200"}
            last = f"bench-{count - 1}"  # the last row of the list; names are not folded
            for key, ours_args, up_args, expect, what in (
                (
                    "5b.1",
                    [*ours, "experiment", "list"],
                    [upstream_cli, "list", "experiment"],
                    last,
                    f"CLI `experiment list`, {count:,} experiments (wall)",
                ),
                (
                    "5b.2",
                    [*ours, "experiment", "get", target],
                    [upstream_cli, "get", "experiment", target],
                    target,
                    "CLI `experiment get ID` (wall)",
                ),
            ):
                ctx.log(f"cli: {what}")
                mine, theirs = rotate(
                    [
                        _Timed(ours_args, expect, ours_env),
                        _Timed(up_args, expect, up_env),
                    ],
                    warmup=warmup,
                    repeats=repeats,
                )
                ctx.add(
                    Row.paired(
                        key,
                        what,
                        "upstream CLI, same server",
                        Pair(mine, theirs),
                        goal=Goal(0.3),
                        note=(
                            "upstream's get takes ~0.35 s, or ~1.35 s when its request "
                            "outlasts its spinner's first check, hence the spread; the floor "
                            "against its fast case: rows 5b.2c and 5b.2f"
                            if key == "5b.2"
                            else ""
                        ),
                    )
                )
            ctx.log("cli: the floor of a Python CLI on httpx and pydantic")
            core, floor, theirs = rotate(
                [
                    _Timed([sys.executable, "-I", "-c", _CORE], "", ours_env),
                    _Timed([sys.executable, "-I", "-c", _FLOOR], "", ours_env),
                    _Timed([upstream_cli, "get", "experiment", target], target, up_env),
                ],
                warmup=warmup,
                repeats=repeats,
            )
            ctx.add(
                Row.paired(
                    "5b.2c",
                    "a bare interpreter importing only pydantic and httpx (wall)",
                    "upstream CLI `get experiment ID`",
                    Pair(core, theirs),
                    note="the mandated core dependencies alone, no request, no output: above "
                    "0.30x, so no CLI on them can meet 5b.2's goal; python -I -c \"" + _CORE + '"',
                )
            )
            ctx.add(
                Row.paired(
                    "5b.2f",
                    "a bare interpreter importing only what `get` needs (wall)",
                    "upstream CLI `get experiment ID`",
                    Pair(floor, theirs),
                    note="our CLI's floor: no request, no output; python -I -c \"" + _FLOOR + '"',
                )
            )
        finally:
            if original is None:
                config.unlink(missing_ok=True)
            else:
                config.write_bytes(original)

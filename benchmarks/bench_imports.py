"""Goal 4: ``import submarine`` and ``from submarine import ExperimentClient`` vs upstream's.

Each sample is a fresh interpreter that times only the import statement (interpreter start-up
is the same for both and would only dilute the ratio). Ours and upstream's alternate.
``-X importtime`` of our import names the heaviest modules, for the notes.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

from benchmarks.context import Context
from benchmarks.harness import Goal, Row, alternate

__all__ = ["heaviest_imports", "run", "time_import"]

_TIMER = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"


def time_import(python: Path | str, statement: str, *, path: Path | None = None) -> float:
    """Seconds that ``statement`` takes in a fresh interpreter (``-I``: no cwd on the path)."""
    code = _TIMER.format(statement=statement)
    if path is not None:
        code = f"import sys; sys.path.insert(0, {str(path)!r}); " + code
    done = subprocess.run(
        [str(python), "-I", "-c", code],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{statement!r} failed under {python}: {done.stderr[-1500:]}")
    return float(done.stdout.strip().splitlines()[-1])


def heaviest_imports(python: Path | str, statement: str, top: int = 8) -> list[tuple[str, int]]:
    """Where ``statement``'s import time goes: self microseconds summed per package.

    Packages are top-level names (``httpx``, ``rich``), except that ``submarine`` is split
    into its modules (``submarine.models.spec``), which is where our own cost is.
    """
    done = subprocess.run(
        [str(python), "-I", "-X", "importtime", "-c", statement],
        cwd=tempfile.gettempdir(),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    totals: dict[str, int] = {}
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+\d+ \|\s*(\S+)", line)
        if not match:
            continue
        parts = match.group(2).split(".")
        key = ".".join(parts[:3]) if parts[0] == "submarine" else parts[0]
        totals[key] = totals.get(key, 0) + int(match.group(1))
    return sorted(totals.items(), key=lambda item: -item[1])[:top]


def run(ctx: Context) -> None:
    """Measure both import statements against the upstream package's."""
    ours = sys.executable
    upstream = ctx.upstream()
    repeats = ctx.size(15, 1)
    for key, statement in (
        ("4.1", "import submarine"),
        ("4.2", "from submarine import ExperimentClient"),
    ):
        ctx.log(f"imports: {statement}")
        pair = alternate(
            partial(time_import, ours, statement),
            partial(time_import, upstream, statement),
            warmup=ctx.size(1, 0),
            repeats=repeats,
        )
        ctx.add(
            Row.paired(
                key,
                f"`{statement}` (fresh interpreter)",
                "upstream's same import",
                pair,
                goal=Goal(1.0),
            )
        )
    # Evidence for the notes: our client loads its transport (httpx, the client core) when
    # the first client is made, so the import alone does not show that cost; this does.
    statement = "from submarine import ExperimentClient"
    made = statement + "; ExperimentClient('http://127.0.0.1:9')"
    ctx.log("imports: the import and a first client")
    pair = alternate(
        partial(time_import, ours, made),
        partial(time_import, upstream, made),
        warmup=ctx.size(1, 0),
        repeats=repeats,
    )
    ctx.add(
        Row.paired(
            "4.3",
            f"`{statement}` and making a client of an http:// host",
            "upstream's same",
            pair,
            note="evidence only: httpx (and, when the cli extra is installed, the rich, click "
            "and pygments it imports for its own command-line tool) loads with the first "
            "client, not with the import",
        )
    )
    ctx.log("imports: the models alone")
    pair = alternate(
        partial(time_import, ours, "import submarine.models"),
        partial(time_import, upstream, statement),
        warmup=ctx.size(1, 0),
        repeats=repeats,
    )
    ctx.add(
        Row.paired(
            "4.4",
            "`import submarine.models` alone",
            "upstream's `from submarine import ExperimentClient`",
            pair,
            note="evidence only: about what `from submarine import ExperimentClient` would cost "
            "with httpx and the client's parsers loaded on first use",
        )
    )
    heavy = heaviest_imports(ours, "from submarine import ExperimentClient")
    ctx.note(
        "heaviest direct imports of `from submarine import ExperimentClient` "
        "(-X importtime, self time per package): "
        + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in heavy)
    )
    heavy_up = heaviest_imports(upstream, "from submarine import ExperimentClient")
    ctx.note(
        "upstream's heaviest: " + ", ".join(f"{name} {us / 1000:.0f} ms" for name, us in heavy_up)
    )

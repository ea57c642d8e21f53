"""What every benchmark area receives: sizes, scratch space, the upstream venv, the results."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.harness import Row, Series
from benchmarks.report import text_table
from benchmarks.upstream import ensure_upstream

__all__ = ["Context"]


@dataclass
class Context:
    """The run's settings and everything it has measured so far."""

    tiny: bool
    """Smoke-test sizes (seconds, not minutes); the figures mean nothing."""
    work: Path
    """Scratch space (data dirs, logs, the upstream venv when built here)."""
    repo: Path
    """The repository root."""
    upstream_work: Path | None = None
    """Where the upstream venv is built when the shared one does not do (default: ``work``);
    tests point it at ``benchmarks/.work`` so that it is built once, not per test run."""
    rows: list[Row] = field(default_factory=list)
    series: list[Series] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    _upstream: Path | None = None

    def size(self, full: int, tiny: int) -> int:
        """``full`` in a real run, ``tiny`` in a smoke run."""
        return tiny if self.tiny else full

    def upstream(self) -> Path:
        """The upstream venv's python (built on first use; ``UpstreamUnavailableError`` if not)."""
        if self._upstream is None:
            self.log("upstream: locating or building the apache-submarine venv")
            self._upstream = ensure_upstream(self.repo, self.upstream_work or self.work)
        return self._upstream

    def add(self, row: Row) -> None:
        """Record a row and print it at once."""
        self.rows.append(row)
        print(text_table([row]).splitlines()[-1], flush=True)

    def note(self, text: str) -> None:
        """A remark for RESULTS.md."""
        self.notes.append(text)
        self.log("note: " + text)

    def log(self, text: str) -> None:
        """Progress on stderr, stamped with the seconds since the start."""
        print(f"[{time.monotonic() - self.started:6.1f}s] {text}", file=sys.stderr, flush=True)

    def scratch(self, name: str) -> Path:
        """A fresh directory under the work dir."""
        from benchmarks.servers import fresh_dir

        return fresh_dir(self.work / name)

"""The workbench's charting library is built into the package (``frontend/vendor.py``, run
by ``make`` and by the wheel's build hook), at the version the lockfile pins, and not kept
in git."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "submarine" / "server" / "workbench" / "static" / "vendor"


def test_the_built_charting_library_is_the_locked_version() -> None:
    recipe = runpy.run_path(str(ROOT / "frontend" / "vendor.py"))
    lock = json.loads((ROOT / "frontend" / "package-lock.json").read_text(encoding="utf-8"))
    locked = lock["packages"]["node_modules/uplot"]["version"]
    package = json.loads((ROOT / "frontend" / "package.json").read_text(encoding="utf-8"))
    assert package["dependencies"]["uplot"] == locked  # pinned exactly, not a range
    for name in ("uPlot.iife.min.js", "uPlot.min.css", "uPlot.LICENSE"):
        assert (VENDOR / name).stat().st_size > 0, f"{name} is not built: run `make`"
    assert recipe["built_version"]() == locked, "run `make` to build the locked uPlot"


def test_the_built_files_are_ignored_by_git() -> None:
    ignored = (ROOT / ".gitignore").read_text(encoding="utf-8").splitlines()
    assert "submarine/server/workbench/static/vendor/" in ignored
    assert "frontend/node_modules/" in ignored

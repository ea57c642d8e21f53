"""Builds the workbench's charting library into the package: uPlot, from npm at the version
``package-lock.json`` pins, copied into ``submarine/server/workbench/static/vendor/``.

The copies are not kept in git: the wheel's build hook (``hatch_build.py``) and ``make``
(for an editable checkout) run this when they are missing or are not the locked version.
Run by hand: ``python frontend/vendor.py`` (``--force`` rebuilds them anyway).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

FRONTEND = Path(__file__).resolve().parent
ROOT = FRONTEND.parent
VENDOR = ROOT / "submarine" / "server" / "workbench" / "static" / "vendor"
# What is copied: (file in node_modules/uplot, file in VENDOR).
FILES = (
    ("dist/uPlot.iife.min.js", "uPlot.iife.min.js"),
    ("dist/uPlot.min.css", "uPlot.min.css"),
    ("LICENSE", "uPlot.LICENSE"),
)
_BANNER = re.compile(r"/\*! https://github\.com/leeoniya/uPlot \(v([0-9][^)]*)\) \*/")


def locked_version() -> str:
    """The uPlot version ``package-lock.json`` pins."""
    lock = json.loads((FRONTEND / "package-lock.json").read_text(encoding="utf-8"))
    return str(lock["packages"]["node_modules/uplot"]["version"])


def built_version() -> str | None:
    """The version of the uPlot built into the package (from its banner), None if missing."""
    if not all((VENDOR / name).is_file() for _, name in FILES):
        return None
    head = (VENDOR / "uPlot.iife.min.js").read_text(encoding="utf-8")[:200]
    match = _BANNER.match(head)
    return match[1] if match else None


def build(force: bool = False) -> bool:
    """Install the locked uPlot with ``npm ci`` and copy it into the package, unless the
    locked version is there already; answers whether it built."""
    if not force and built_version() == locked_version():
        return False
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            "building the workbench's charts needs npm (Node.js 18 or later): install it, "
            "or build from an sdist, which holds the built files"
        )
    subprocess.run(
        [npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts"], cwd=FRONTEND, check=True
    )
    VENDOR.mkdir(parents=True, exist_ok=True)
    package = FRONTEND / "node_modules" / "uplot"
    for source, target in FILES:
        shutil.copyfile(package / source, VENDOR / target)
    if built_version() != locked_version():
        raise SystemExit(
            f"npm installed uPlot {built_version()}, but package-lock.json pins {locked_version()}"
        )
    return True


if __name__ == "__main__":
    built = build(force="--force" in sys.argv[1:])
    print(f"uPlot {locked_version()} {'built into' if built else 'already in'} {VENDOR}")

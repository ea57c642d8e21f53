"""The wheel's build hook: the workbench's charting library (uPlot, from npm at the version
``frontend/package-lock.json`` pins) built into the package when it is not there yet, so
that every wheel holds it (see ``frontend/vendor.py``)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class VendorBuildHook(BuildHookInterface):  # type: ignore[misc]
    """Runs ``frontend/vendor.py`` before the wheel is built."""

    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        """Build uPlot into ``submarine/server/workbench/static/vendor/`` if missing."""
        script = Path(self.root) / "frontend" / "vendor.py"
        if not script.is_file():  # an sdist: it holds the built files, not the recipe
            return
        runpy.run_path(str(script))["build"]()

"""``python -m submarine.server``: run the local Submarine-compatible server."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

from submarine.server import ServerStartError, SettingsError, serve, settings_from_args
from submarine.server.store.datadir import DataDirInUseError, DataDirOwnerError


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, configure logging, serve; the exit status (2: refused settings, or
    the data dir is in use by another server or belongs to another user)."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    settings = settings_from_args(argv)
    try:
        serve(settings)
    except (SettingsError, DataDirInUseError, DataDirOwnerError) as exc:
        print(f"python -m submarine.server: error: {exc}", file=sys.stderr, flush=True)
        return 2
    except ServerStartError as exc:
        print(f"python -m submarine.server: error: {exc}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

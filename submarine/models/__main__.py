"""``python -m submarine.models schemas [DIR]``: regenerate the JSON Schemas."""

from __future__ import annotations

import sys
from pathlib import Path

from submarine.models.schema import write_schemas


def main(argv: list[str]) -> int:
    """Write the schemas to DIR (default ``schemas/``) and list what was written."""
    if not argv or argv[0] != "schemas" or len(argv) > 2:
        print("usage: python -m submarine.models schemas [DIR]", file=sys.stderr)
        return 2
    for path in write_schemas(Path(argv[1] if len(argv) == 2 else "schemas")):
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

"""``python -m benchmarks``: run every area, print the table, write RESULTS.md and the plot.

Options: ``--only imports,client`` (areas by name or by goal number), ``--tiny`` (smoke-test
sizes), ``--out DIR`` (where RESULTS.md, results.png and results.json go; default: this
directory), ``--work DIR`` (scratch; default ``benchmarks/.work``), ``--no-write``.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks import AREAS, GOAL_AREAS
from benchmarks.context import Context
from benchmarks.report import (
    describe_machine,
    plot,
    render_block,
    text_table,
    update_results,
    write_json,
)
from benchmarks.servers import REPO

HERE = Path(__file__).resolve().parent


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--only", help="comma-separated areas or goal numbers: " + ", ".join(AREAS))
    parser.add_argument("--tiny", action="store_true", help="smoke-test sizes")
    parser.add_argument("--out", type=Path, default=HERE, help="where results are written")
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="scratch directory")
    parser.add_argument("--no-write", action="store_true", help="print only")
    return parser


def select(only: str | None) -> list[str]:
    """The areas to run, in their fixed order; ``ValueError`` names an unknown one."""
    if not only:
        return list(AREAS)
    wanted: set[str] = set()
    for item in (part.strip() for part in only.split(",")):
        if not item:
            continue
        if item in AREAS:
            wanted.add(item)
        elif item in GOAL_AREAS:
            wanted.add(GOAL_AREAS[item])
        else:
            raise ValueError(
                f"unknown area {item!r}: use one of {', '.join(AREAS)} "
                f"or a goal number ({', '.join(GOAL_AREAS)})"
            )
    return [name for name in AREAS if name in wanted]


def run_areas(ctx: Context, names: Sequence[str]) -> None:
    """Run the named areas; an area that fails is recorded in ``ctx.errors``, not fatal."""
    for name in names:
        runner: Callable[[Context], None] = AREAS[name]
        ctx.log(f"== {name}")
        try:
            runner(ctx)
        except Exception as exc:
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            ctx.errors.append(f"{name}: {detail}")
            ctx.log(f"!! {name} failed:\n{traceback.format_exc()}")


def write(ctx: Context, out: Path) -> None:
    """RESULTS.md (between its markers), results.png and results.json under ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    upstream = None
    if ctx._upstream is not None:
        from benchmarks.upstream import upstream_version

        upstream = upstream_version(ctx._upstream)
    notes = list(ctx.notes) + [f"ERROR in {error}" for error in ctx.errors]
    block = render_block(
        ctx.rows,
        ctx.series,
        machine=describe_machine(upstream),
        notes=notes,
        elapsed=time.monotonic() - ctx.started,
    )
    update_results(out / "RESULTS.md", block)
    write_json(out / "results.json", ctx.rows, ctx.series)
    plot(out / "results.png", ctx.rows, ctx.series)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmarks; exit 1 when an area failed, 2 on a usage error."""
    args = _parser().parse_args(argv)
    try:
        names = select(args.only)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    ctx = Context(tiny=args.tiny, work=args.work.resolve(), repo=REPO)
    ctx.work.mkdir(parents=True, exist_ok=True)
    run_areas(ctx, names)
    print()
    print(text_table(ctx.rows))
    for error in ctx.errors:
        print(f"ERROR in {error}", file=sys.stderr)
    if not args.no_write:
        write(ctx, args.out)
        print(f"\nwrote {args.out / 'RESULTS.md'} and {args.out / 'results.png'}")
    ctx.log("done")
    return 1 if ctx.errors else 0


if __name__ == "__main__":
    sys.exit(main())

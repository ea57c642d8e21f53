"""Turning rows into a table, RESULTS.md and a PNG plot, and describing the machine."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
from collections.abc import Iterable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from benchmarks.harness import Row, Series, Stats, format_value

__all__ = [
    "BEGIN",
    "END",
    "describe_machine",
    "markdown_table",
    "plot",
    "render_block",
    "text_table",
    "update_results",
    "write_json",
]

BEGIN = "<!-- results:begin (written by `make bench`; edit outside these markers) -->"
END = "<!-- results:end -->"

_HEADERS = ("#", "what", "ours: median (min..max)", "baseline", "ratio: median (min..max)", "goal")


def _span(stats: Stats | None, unit: str) -> str:
    if stats is None:
        return "-"
    u: Any = unit
    return (
        f"{format_value(stats.median, u)} "
        f"({format_value(stats.minimum, u)}..{format_value(stats.maximum, u)})"
    )


def _cells(row: Row) -> tuple[str, ...]:
    base = row.baseline
    if row.base is not None:
        base = f"{row.baseline}: {_span(row.base, row.unit)}"
    goal = row.goal.describe(row.unit) if row.goal is not None else "report"
    if row.goal is not None:
        goal = f"{goal}: **{row.verdict}**"
    return (row.key, row.what, _span(row.value, row.unit), base, _span(row.ratio, "x"), goal)


def markdown_table(rows: Sequence[Row]) -> str:
    """The results as a Markdown table, one line per row."""
    lines = ["| " + " | ".join(_HEADERS) + " |", "|" + "---|" * len(_HEADERS)]
    for row in rows:
        cells = [cell.replace("|", "\\|") for cell in _cells(row)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def text_table(rows: Sequence[Row]) -> str:
    """The results as aligned plain text for the terminal."""
    table = [_HEADERS, *(tuple(c.replace("**", "") for c in _cells(r)) for r in rows)]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEADERS))]
    out = []
    for index, line in enumerate(table):
        out.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())
        if index == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def _cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8")
    except OSError:
        return platform.processor() or "unknown CPU"
    match = re.search(r"^model name\s*:\s*(.+)$", text, re.MULTILINE)
    return match.group(1).strip() if match else platform.processor() or "unknown CPU"


def _memory() -> str:
    try:
        import psutil

        return format_value(float(psutil.virtual_memory().total), "B")
    except ImportError:
        return "unknown"


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine(upstream: str | None = None) -> list[str]:
    """Lines that say what machine and software produced the figures."""
    packages = ", ".join(
        f"{name} {_version(name)}"
        for name in ("submarine-sdk", "pydantic", "pydantic-core", "httpx", "starlette", "uvicorn")
    )
    lines = [
        f"CPU: {_cpu_model()}, {os.cpu_count()} logical cores; memory {_memory()}",
        f"OS: {platform.platform()}",
        f"Python: {platform.python_implementation()} {platform.python_version()}",
        f"Packages: {packages}",
    ]
    if upstream:
        lines.append(f"Upstream baseline: {upstream}")
    return lines


def _series_table(series: Series) -> str:
    lines = [
        f"| {series.x_label} | {series.y_label}: median (min..max) | per item returned |",
        "|---|---|---|",
    ]
    for x, stats in series.points:
        per_item = format_value(stats.median / x, "s") if x > 0 else "-"
        lines.append(f"| {x:,.0f} | {_span(stats, 's')} | {per_item} |")
    return "\n".join(lines)


def render_block(
    rows: Sequence[Row],
    series: Sequence[Series],
    *,
    machine: Sequence[str],
    notes: Iterable[str] = (),
    elapsed: float | None = None,
    plot_name: str | None = "results.png",
) -> str:
    """The generated part of RESULTS.md: date, machine, the table, series and notes."""
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    parts = [BEGIN, "", f"Measured {stamp}" + (f" in {elapsed:.0f} s." if elapsed else ".")]
    parts += ["", "Machine:", ""] + [f"- {line}" for line in machine]
    parts += ["", markdown_table(rows), ""]
    shipped = [r for r in rows if r.goal is not None]
    missed = [r for r in shipped if r.met is False]
    parts.append(
        f"Goals met by the package as it is: {len(shipped) - len(missed)} of {len(shipped)}"
        + (f"; missed: {', '.join('#' + r.key for r in missed)}." if missed else ".")
    )
    row_notes = [f"- #{r.key}: {r.note}" for r in rows if r.note]
    extra = [f"- {n}" for n in notes]
    if row_notes or extra:
        parts += ["", "Notes on this run:", "", *row_notes, *extra]
    for item in series:
        title = f"{item.panel}: {item.name}" if item.panel else item.name
        parts += ["", f"{title}:", "", _series_table(item)]
    if plot_name:
        parts += ["", f"![results]({plot_name})"]
    parts += ["", END]
    return "\n".join(parts)


_TEMPLATE = """# Benchmarks

Every figure is a median over repeats after warm-up, with min and max; every goal is a ratio
against a baseline measured in the same run (absolute times on a shared machine are noise).

## How to rerun

```
make bench                      # everything, about ten minutes on two cores
.venv/bin/python -m benchmarks --only 1,2,4   # a few areas
.venv/bin/python -m benchmarks --tiny --out /tmp/b   # smoke run at tiny sizes
```

## Results

{block}
"""


def update_results(path: Path, block: str) -> None:
    """Write the generated block into RESULTS.md, keeping everything outside the markers."""
    if path.exists():
        text = path.read_text(encoding="utf-8")
        start = text.find(BEGIN)
        stop = text.find(END)
        if start != -1 and stop != -1 and stop > start:
            text = text[:start] + block + text[stop + len(END) :]
            path.write_text(text, encoding="utf-8")
            return
        text = text.rstrip() + "\n\n## Results\n\n" + block + "\n"
        path.write_text(text, encoding="utf-8")
        return
    path.write_text(_TEMPLATE.format(block=block), encoding="utf-8")


def write_json(path: Path, rows: Sequence[Row], series: Sequence[Series]) -> None:
    """Raw samples of every row and series, for later analysis."""

    def stats(s: Stats | None) -> list[float] | None:
        return list(s.samples) if s is not None else None

    data = {
        "rows": [
            {
                "key": r.key,
                "what": r.what,
                "baseline": r.baseline,
                "unit": r.unit,
                "value": stats(r.value),
                "base": stats(r.base),
                "ratio": stats(r.ratio),
                "goal": None if r.goal is None else {"limit": r.goal.limit, "on": r.goal.on},
                "verdict": r.verdict,
                "note": r.note,
            }
            for r in rows
        ],
        "series": [
            {"name": s.name, "points": [[x, list(st.samples)] for x, st in s.points]}
            for s in series
        ],
    }
    path.write_text(json.dumps(data, indent=1), encoding="utf-8")


def plot(path: Path, rows: Sequence[Row], series: Sequence[Series]) -> None:
    """A PNG: ratios against their goals on the left, one chart per series panel beside it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels: dict[str, list[Series]] = {}
    for item in series:
        panels.setdefault(item.panel or item.name, []).append(item)
    ratio_rows = [r for r in rows if r.ratio is not None]
    fig, axes = plt.subplots(
        1,
        1 + len(panels),
        figsize=(8 + 5.5 * len(panels), 1.0 + 0.36 * max(10, len(ratio_rows))),
        squeeze=False,
    )
    first = axes[0][0]
    medians = [r.ratio.median for r in ratio_rows if r.ratio is not None]
    lows = [m - r.ratio.minimum for m, r in zip(medians, ratio_rows, strict=True) if r.ratio]
    highs = [r.ratio.maximum - m for m, r in zip(medians, ratio_rows, strict=True) if r.ratio]
    colors = [
        "tab:green" if r.met is True else "tab:red" if r.met is False else "tab:gray"
        for r in ratio_rows
    ]
    ys = list(range(len(ratio_rows)))
    first.barh(ys, medians, xerr=[lows, highs], color=colors, capsize=3)
    for y, r in zip(ys, ratio_rows, strict=True):
        if r.goal is not None and r.goal.on == "ratio":
            first.plot([r.goal.limit, r.goal.limit], [y - 0.4, y + 0.4], color="black", lw=2)
    first.set_yticks(ys)
    first.set_yticklabels(
        [f"#{r.key} {r.what}"[:60].replace("`", "") for r in ratio_rows], fontsize=7
    )
    first.invert_yaxis()
    first.set_xscale("log")
    first.axvline(1.0, color="gray", ls=":", lw=1)
    first.set_xlabel(
        "ratio to baseline (log); black tick: goal; green met, red missed, grey report"
    )
    first.set_title("Ratios: median, whiskers min..max")
    for ax, (title, curves) in zip(axes[0][1:], panels.items(), strict=True):
        # Cost per item returned: a flat line is linear growth, a rising one is worse.
        for item in curves:
            xs = [x for x, _ in item.points]
            per = [s.median / x * 1e6 for x, s in item.points]
            ax.errorbar(
                xs,
                per,
                yerr=[
                    [p - s.minimum / x * 1e6 for p, (x, s) in zip(per, item.points, strict=True)],
                    [s.maximum / x * 1e6 - p for p, (x, s) in zip(per, item.points, strict=True)],
                ],
                marker="o",
                capsize=3,
                label=item.name,
            )
        ax.set_xscale("log")
        ax.set_ylim(bottom=0)
        ax.set_xlabel(curves[0].x_label)
        ax.set_ylabel(f"{curves[0].y_label}, per experiment (µs); flat = linear growth")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=7)
        ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)

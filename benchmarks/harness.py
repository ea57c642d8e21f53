"""The measuring kit: timed repeats after warm-up, statistics, paired ratios and result rows.

Absolute times on a shared two-core machine are noise, so every figure that has a goal is a
*ratio* against a baseline measured in the same run. Candidate and baseline are measured in
alternating batches (ABBA order, so a slow drift of the machine hits both alike) and the ratio
of each pair of batches is one sample; the reported ratio is the median of those samples.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "Goal",
    "Pair",
    "Row",
    "Series",
    "Stats",
    "alternate",
    "format_value",
    "measure",
    "measure_pair",
    "percentile",
    "rotate",
    "time_batch",
]

Unit = Literal["s", "/s", "B", "x"]
"""How a row's figures read: seconds, a rate per second, bytes, or a bare ratio."""


def percentile(samples: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation between closest ranks."""
    if not samples:
        raise ValueError("percentile of no samples: measure at least one repeat")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile q={q!r} is out of range: use 0..100")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * q / 100.0
    low = math.floor(position)
    high = math.ceil(position)
    if low == high:
        return ordered[low]
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class Stats:
    """A set of measured samples and the figures reported for it."""

    samples: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.samples:
            raise ValueError("Stats needs at least one sample")

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        """Statistics of the given samples (at least one)."""
        return cls(tuple(float(s) for s in samples))

    @property
    def median(self) -> float:
        """The median sample: the figure every table reports."""
        return float(statistics.median(self.samples))

    @property
    def minimum(self) -> float:
        """The smallest sample."""
        return min(self.samples)

    @property
    def maximum(self) -> float:
        """The largest sample."""
        return max(self.samples)

    @property
    def p95(self) -> float:
        """The 95th percentile."""
        return percentile(self.samples, 95.0)

    @property
    def count(self) -> int:
        """How many samples there are."""
        return len(self.samples)

    def scaled(self, factor: float) -> Stats:
        """The same samples multiplied by ``factor`` (e.g. seconds per batch -> per call)."""
        return Stats(tuple(s * factor for s in self.samples))

    def inverted(self) -> Stats:
        """Rates from durations (or durations from rates): each sample ``1/x``."""
        return Stats(tuple(1.0 / s if s > 0 else math.inf for s in self.samples))


@dataclass(frozen=True)
class Pair:
    """A candidate and its baseline measured in alternating batches, and their paired ratio."""

    candidate: Stats
    baseline: Stats

    def __post_init__(self) -> None:
        if self.candidate.count != self.baseline.count:
            raise ValueError(
                f"paired stats need as many candidate samples ({self.candidate.count}) "
                f"as baseline samples ({self.baseline.count})"
            )

    @property
    def ratio(self) -> Stats:
        """Candidate over baseline, one sample per pair of batches."""
        return Stats(
            tuple(
                c / b if b > 0 else math.inf
                for c, b in zip(self.candidate.samples, self.baseline.samples, strict=True)
            )
        )


def time_batch(fn: Callable[[], object], inner: int) -> float:
    """Seconds per call of ``fn``, timed over ``inner`` back-to-back calls."""
    if inner < 1:
        raise ValueError(f"inner={inner!r}: a batch needs at least one call")
    start = time.perf_counter()
    for _ in range(inner):
        fn()
    return (time.perf_counter() - start) / inner


def measure(
    fn: Callable[[], object], *, warmup: int = 1, repeats: int = 5, inner: int = 1
) -> Stats:
    """Time ``fn``: ``warmup`` untimed calls, then ``repeats`` batches of ``inner`` calls.

    Each sample is the mean seconds per call of one batch.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: measure at least one repeat")
    for _ in range(warmup):
        fn()
    return Stats.of([time_batch(fn, inner) for _ in range(repeats)])


def alternate(
    candidate: Callable[[], float],
    baseline: Callable[[], float],
    *,
    warmup: int = 1,
    repeats: int = 5,
) -> Pair:
    """Pair samples of two self-timing measurements (each call returns its own seconds).

    Both are warmed up first; then each repeat takes one sample of each, the order
    flipping every repeat (ABBA) so that drift of the machine is shared evenly.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: measure at least one repeat")
    for _ in range(warmup):
        candidate()
        baseline()
    cand: list[float] = []
    base: list[float] = []
    for index in range(repeats):
        if index % 2 == 0:
            cand.append(candidate())
            base.append(baseline())
        else:
            base.append(baseline())
            cand.append(candidate())
    return Pair(Stats.of(cand), Stats.of(base))


def rotate(
    measurements: Sequence[Callable[[], float]], *, warmup: int = 1, repeats: int = 5
) -> list[Stats]:
    """Samples of several self-timing measurements, taken in turn, the order rotating each
    repeat (so none always goes first); one ``Stats`` per measurement, in the given order.

    Any two of them form a :class:`Pair` whose ratio samples come from the same repeat.
    """
    if repeats < 1:
        raise ValueError(f"repeats={repeats!r}: measure at least one repeat")
    count = len(measurements)
    for _ in range(warmup):
        for measurement in measurements:
            measurement()
    samples: list[list[float]] = [[] for _ in measurements]
    for index in range(repeats):
        for step in range(count):
            which = (index + step) % count
            samples[which].append(measurements[which]())
    return [Stats.of(s) for s in samples]


def measure_pair(
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    *,
    warmup: int = 1,
    repeats: int = 5,
    inner: int = 1,
) -> Pair:
    """Time a candidate against its baseline in alternating batches of ``inner`` calls."""
    if inner < 1:
        raise ValueError(f"inner={inner!r}: a batch needs at least one call")
    return alternate(
        lambda: time_batch(candidate, inner),
        lambda: time_batch(baseline, inner),
        warmup=warmup,
        repeats=repeats,
    )


@dataclass(frozen=True)
class Goal:
    """What a row must show: its ratio (or its own median) at most ``limit``."""

    limit: float
    on: Literal["ratio", "value"] = "ratio"

    def met_by(self, row: Row) -> bool | None:
        """Whether the row meets the goal; None when the row has no figure to judge."""
        stats = row.ratio if self.on == "ratio" else row.value
        if stats is None:
            return None
        return stats.median <= self.limit

    def describe(self, unit: Unit) -> str:
        """The goal as the table shows it: ``ratio <= 1.10`` or ``<= 300 ms``."""
        if self.on == "ratio":
            return f"ratio <= {self.limit:.2f}"
        return f"<= {format_value(self.limit, unit)}"


@dataclass(frozen=True)
class Row:
    """One line of the results table."""

    key: str
    """The issue's number of the measurement, like ``1`` or ``2b``."""
    what: str
    """What was measured."""
    baseline: str
    """What it was compared with ('-' when nothing)."""
    unit: Unit
    """How ``value`` and ``base`` read."""
    value: Stats | None = None
    """The candidate's figures."""
    base: Stats | None = None
    """The baseline's figures."""
    ratio: Stats | None = None
    """Candidate over baseline (paired samples where measured in alternation)."""
    goal: Goal | None = None
    """What the row must show; None for rows that only report."""
    note: str = ""
    """A short remark printed under the table."""

    @classmethod
    def paired(
        cls,
        key: str,
        what: str,
        baseline: str,
        pair: Pair,
        *,
        unit: Unit = "s",
        goal: Goal | None = None,
        note: str = "",
    ) -> Row:
        """A row from an alternating measurement of candidate and baseline."""
        return cls(key, what, baseline, unit, pair.candidate, pair.baseline, pair.ratio, goal, note)

    @property
    def met(self) -> bool | None:
        """Whether the goal is met; None for report-only rows."""
        return self.goal.met_by(self) if self.goal is not None else None

    @property
    def verdict(self) -> str:
        """``met``, ``MISSED`` or ``report``."""
        met = self.met
        if met is None:
            return "report"
        return "met" if met else "MISSED"


@dataclass
class Series:
    """A curve for the plot: y against x (e.g. list latency against stored experiments).

    Curves with the same ``panel`` share one chart.
    """

    name: str
    x_label: str
    y_label: str
    points: list[tuple[float, Stats]] = field(default_factory=list)
    panel: str = ""


def format_value(value: float, unit: Unit) -> str:
    """A figure: ``412 µs``, ``1.23 ms``, ``5.10k/s``, ``48.0 MiB``, ``0.93x``, ``0.00031x``."""
    if math.isinf(value) or math.isnan(value):
        return str(value)
    if unit == "x":
        if 0 < abs(value) < 0.01:  # two significant digits, not 0.00x
            return f"{value:.{1 - math.floor(math.log10(abs(value)))}f}x"
        return f"{value:.2f}x"
    if unit == "s":
        for scale, name in ((1.0, "s"), (1e-3, "ms"), (1e-6, "µs"), (1e-9, "ns")):
            if abs(value) >= scale or scale == 1e-9:
                return f"{_digits(value / scale)} {name}"
    if unit == "/s":
        for scale, name in ((1e6, "M/s"), (1e3, "k/s")):
            if abs(value) >= scale:
                return f"{_digits(value / scale)}{name}"
        return f"{_digits(value)}/s"
    for scale, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if abs(value) >= scale:
            return f"{_digits(value / scale)} {name}"
    return f"{value:.0f} B"


def _digits(value: float) -> str:
    """Three significant digits, without scientific notation."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"

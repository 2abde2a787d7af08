"""Small statistics for the bench: nearest-rank percentiles and the median with min and max over rounds."""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

RANGE = "\N{EN DASH}"
"""Between the lowest and the highest round."""


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank percentile (``q`` from 0 to 100) of ``values``; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ratio(ours: float, baseline: float) -> float:
    """``ours / baseline``; NaN when either is missing, infinity when the baseline is zero."""
    if math.isnan(ours) or math.isnan(baseline):
        return math.nan
    if baseline == 0:
        return math.inf if ours else math.nan
    return ours / baseline


@dataclass(frozen=True)
class Spread:
    """The median of a figure over rounds, with the lowest and highest round."""

    median: float
    low: float
    high: float
    n: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        """Summarize one value per round (NaNs are left out)."""
        kept = [v for v in values if not math.isnan(v)]
        if not kept:
            return cls(math.nan, math.nan, math.nan, 0)
        return cls(statistics.median(kept), min(kept), max(kept), len(kept))

    def show(self, digits: int = 2) -> str:
        """``1.23 (1.10-1.40)``: median (lowest-highest); just the value when there was one round."""
        if self.n == 0:
            return "n/a"
        if self.n == 1 or self.low == self.high:
            return _fmt(self.median, digits)
        return f"{_fmt(self.median, digits)} ({_fmt(self.low, digits)}{RANGE}{_fmt(self.high, digits)})"

    def as_json(self) -> dict[str, float | int | None]:
        """``{"median", "min", "max", "rounds"}`` with NaN as null."""
        return {"median": _num(self.median), "min": _num(self.low), "max": _num(self.high), "rounds": self.n}


def paired(ours: Sequence[float], baseline: Sequence[float]) -> Spread:
    """The per-round ratios ``ours[i] / baseline[i]`` (A and B measured in the same round)."""
    return Spread.of([ratio(a, b) for a, b in zip(ours, baseline, strict=True)])


def _fmt(value: float, digits: int) -> str:
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _num(value: float) -> float | None:
    return None if math.isnan(value) or math.isinf(value) else round(value, 6)

"""Means and 95% confidence intervals over a handful of seeds (Student's t, two-sided)."""

from __future__ import annotations

import math
from collections.abc import Iterable

from scipy import stats


def finite(values: Iterable) -> list[float]:
    """The values that are numbers and not NaN/inf (a missing metric is NaN or None)."""
    out = []
    for v in values:
        if v is None:
            continue
        v = float(v)
        if math.isfinite(v):
            out.append(v)
    return out


def mean_ci95(values: Iterable) -> tuple[int, float, float]:
    """(n, mean, half-width of the 95% t-interval) of the finite `values`.

    half-width = t.ppf(0.975, n - 1) * s / sqrt(n), s the sample standard deviation (ddof 1).
    n = 1: the half-width is NaN (no spread to estimate); n = 0: mean and half-width are NaN.
    """
    xs = finite(values)
    n = len(xs)
    if n == 0:
        return 0, math.nan, math.nan
    mean = math.fsum(xs) / n
    if n == 1:
        return 1, mean, math.nan
    s = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    return n, mean, float(stats.t.ppf(0.975, n - 1)) * s / math.sqrt(n)


MANY_SEEDS = 5  # figures draw a t-band from this many seeds on; fewer: the seeds themselves (no band)


def band(values: Iterable, low: float = -math.inf, high: float = math.inf) -> tuple[float, float, float] | None:
    """(mean, lower, upper): the 95% t-interval of the finite `values`, clipped to the metric's range [low, high]
    (an accuracy never leaves [0, 1], a loss never goes below 0); None below MANY_SEEDS values, where a t-interval
    over a few seeds (t = 4.3 at n = 3) says little and can run far outside that range: draw the seeds instead."""
    n, mean, half = mean_ci95(values)
    if n < MANY_SEEDS:
        return None
    return mean, max(low, mean - half), min(high, mean + half)

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

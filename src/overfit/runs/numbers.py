"""How numbers are written for people, the one way everywhere (run summary, eval.py, the progress bar,
compare's .md tables, the results pages). Machine files (metrics.json, .csv, TensorBoard, compare_runs' dicts)
keep full-precision fractions.

    pct(0.87136)        "87.1%"     accuracies: percent, one decimal (pct(x, unit="") "87.1": a column headed %)
    pp(0.01534)         "+1.5 pp"   differences of accuracies: percentage points, signed
    sig(0.192624)       "0.193"     losses: 3 significant digits (2.42551e-05 -> "2.43e-05", 1.6452 -> "1.65")
    dec(0.030012)       "0.030"     ECE, Brier, AUROC: 3 decimals; dec(t, 2) for the temperature T
    metric(key, value)  by the metric's name: train/acc_eval -> pct, val/loss -> sig, test/ece -> dec, ...
    cell(0.8714, "acc") "87.1"      a table cell, its unit in the column's header; cell_ci: mean ± CI half-width,
                                    both to the mean's decimals ("0.737 ± 0.033", "1.65 ± 0.40", "87.2 ± 0.6")

It imports nothing but `math`: compare's tables use it without torch or Lightning.
"""

from __future__ import annotations

import math

MISSING = "-"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def fixed(value: float, digits: int, sign: str = "") -> str:
    """`value` to `digits` decimals, never a negative zero (-0.0004 -> "0.000"; with sign "+": "+0.000")."""
    return f"{round(value, digits) + 0.0:{sign}.{digits}f}"


def pct(value, digits: int = 1, sign: str = "", unit: str = "%") -> str:
    """A fraction in percent: pct(0.8714) "87.1%"; unit="" for a column whose header says %."""
    return fixed(100 * value, digits, sign) + unit if _finite(value) else MISSING


def pp(value, digits: int = 1) -> str:
    """A difference of two fractions in signed percentage points: pp(0.015) "+1.5 pp"."""
    return fixed(100 * value, digits, "+") + " pp" if _finite(value) else MISSING


def decimals_for(value: float, digits: int = 3) -> int:
    """How many decimals show `digits` significant digits of `value`, counted after rounding (0.9996 rounds to
    1.00: 2 decimals, where 0.9994 takes 3, 0.999)."""
    if not _finite(value) or value == 0:
        return digits - 1
    rounded = float(f"{abs(value):.{digits - 1}e}")  # 0.9996 -> 1.00: its exponent is 0, not -1
    return max(digits - 1 - math.floor(math.log10(rounded)), 0)


def sig(value, digits: int = 3, sign: str = "") -> str:
    """`digits` significant digits, fixed-point from 0.001 to 99,999 (0.193, 1.65, 245), else exponent (2.43e-05)."""
    if not _finite(value):
        return MISSING
    if value != 0 and not 1e-3 <= abs(float(f"{abs(value):.{digits - 1}e}")) < 1e5:
        return f"{value:{sign}.{digits - 1}e}"
    return fixed(value, decimals_for(value, digits), sign)


def dec(value, digits: int = 3, sign: str = "") -> str:
    """A fixed number of decimals: ECE, Brier and AUROC 3, the temperature T 2."""
    return fixed(value, digits, sign) if _finite(value) else MISSING


def kind(key: str) -> str:
    """What a metric is, from its name (`<split>/<metric>`, as logged): "acc", "loss", "score" (ECE, Brier,
    AUROC: fractions in [0, 1] read to 3 decimals), "temperature", or "other"."""
    name = key.rsplit("/", 1)[-1].lower()
    if name.startswith("acc"):
        return "acc"
    if name.startswith("loss"):
        return "loss"
    if name.startswith(("ece", "brier", "auroc")):
        return "score"
    if name.startswith("temperature"):
        return "temperature"
    return "other"


def metric(key: str, value) -> str:
    """`value` written as a metric named `key` is: test/acc 0.8714 -> "87.1%", val/loss -> "0.281"."""
    how = kind(key)
    if how == "acc":
        return pct(value)
    if how == "score":
        return dec(value)
    if how == "temperature":
        return dec(value, 2)
    return sig(value)


def scale_and_decimals(how: str, value: float) -> tuple[float, int]:
    """How a metric of kind `how` (kind()'s names) is written in a table: accuracies (and their differences) in
    % or pp to 1 decimal, ECE/Brier/AUROC to 3 decimals, T to 2, losses and the rest to 3 significant digits."""
    if how == "acc":
        return 100.0, 1
    if how == "score":
        return 1.0, 3
    if how == "temperature":
        return 1.0, 2
    return 1.0, decimals_for(value)


def cell(value, how: str, sign: str = "") -> str:
    """A table cell (fixed-point, no unit: the header names it): cell(0.8714, "acc") "87.1", cell(1.6452, "loss")
    "1.65"; "-" for a missing value."""
    if not _finite(value):
        return MISSING
    scale, decimals = scale_and_decimals(how, value)
    return fixed(scale * value, decimals, sign)


def cell_ci(mean, ci, how: str, sign: str = "") -> str:
    """mean ± half-width of its CI, both to the mean's decimals; the bare mean where there is no CI."""
    text = cell(mean, how, sign)
    if text == MISSING or not _finite(ci):
        return text
    scale, decimals = scale_and_decimals(how, mean)
    return f"{text} ± {scale * ci:.{decimals}f}"

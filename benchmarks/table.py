"""The main benchmark's helpers: one child process measured, the machine, the load average, ratio rows, the table."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Each child is this package's entry point in a fresh process, started from the repository root.
ME = [sys.executable, "-m", "benchmarks"]


def run(cmd: list[str], workdir: Path, name: str) -> tuple[dict | None, float, float]:
    """(last JSON line of stdout or None, wall seconds, peak RSS in GB) of one fresh subprocess."""
    out_path, err_path = workdir / f"{name}.out", workdir / f"{name}.err"
    start = time.perf_counter()
    with open(out_path, "w") as out, open(err_path, "w") as err:
        proc = subprocess.Popen(cmd, cwd=REPO, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # wait4, not wait: the rusage of this child alone
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        tail = err_path.read_text().strip().splitlines()[-5:]
        sys.exit(f"benchmark: {name} failed (exit {proc.returncode}):\n  " + "\n  ".join(tail))
    lines = out_path.read_text().strip().splitlines()
    result = json.loads(lines[-1]) if lines and lines[-1].startswith("{") else None
    return result, wall, usage.ru_maxrss / 1024**2  # ru_maxrss is in KiB on Linux


def machine() -> str:
    from overfit.runs.threads import cpu_model, usable_cpus  # here, not on top: the data child times torch's import

    return f"{cpu_model()}, {len(usable_cpus())} cores"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def ratio_row(figure: str, pairs: list[tuple[float, float]], bounds: str, target: float | None = None) -> tuple:
    """A row for `thing / floor`, from (thing, floor) pairs each measured in the same minutes: the median of their
    ratios. A floor slower than what it bounds has measured something else (another thread count, a neighbour's
    burst on one side only), and its ratio would flatter the thing: the row says so instead of giving one."""
    ratio = statistics.median(thing / floor for thing, floor in pairs)
    if ratio < 1.0:
        return (figure, f"broken measurement (floor slower than {bounds})", "x", target)
    return (figure, ratio, "x", target)


def print_table(rows: list, caption: str, markdown: bool) -> None:
    """rows: (figure, value, unit[, target[, notebook]]), a missing target or notebook figure left blank; a value
    that is a string (a broken measurement) is printed as it is, with `broken` as its result."""

    def fmt(value, unit):
        if value is None or isinstance(value, str):
            return value or ""
        if unit == "":
            return f"{value:.4f}"
        return f"{value:.2f} {unit}" if unit in ("GB", "x") or value < 10 else f"{value:.1f} {unit}"

    def result(value, target):
        if isinstance(value, str):
            return "broken"
        return ("pass" if value <= target else "FAIL") if target else ""

    header = ["figure", "value", "target", "result", "notebook"]
    body = [
        [
            name,
            fmt(value, unit),
            f"<= {fmt(target, unit)}" if target else "",
            result(value, target),
            fmt(notebook, unit),
        ]
        for name, value, unit, target, notebook in (tuple(r) + (None,) * (5 - len(r)) for r in rows)
    ]
    if markdown:
        print(f"\n{caption}\n\n| " + " | ".join(header) + " |\n|" + "---|" * len(header))
        for row in body:
            print("| " + " | ".join(row) + " |")
        return
    widths = [max(len(r[i]) for r in body + [header]) for i in range(len(header))]
    print(f"\n{caption}")
    for row in [header] + body:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())

"""scripts/benchmark.py's helpers: one child process measured, the machine, the load average, the table of figures."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from overfit.threads import cpu_model, usable_cpus

REPO = Path(__file__).resolve().parents[1]


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
    return f"{cpu_model()}, {len(usable_cpus())} cores"


def load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def print_table(rows: list, caption: str, markdown: bool) -> None:
    """rows: (figure, value, unit[, target[, notebook]]), a missing target or notebook figure left blank."""

    def fmt(value, unit):
        if value is None:
            return ""
        if unit == "":
            return f"{value:.4f}"
        return f"{value:.2f} {unit}" if unit in ("GB", "x") or value < 10 else f"{value:.1f} {unit}"

    header = ["figure", "value", "target", "result", "notebook"]
    body = [
        [
            name,
            fmt(value, unit),
            f"<= {fmt(target, unit)}" if target else "",
            ("pass" if value <= target else "FAIL") if target else "",
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

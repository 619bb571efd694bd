"""What scripts/benchmark.py prints with its figures: the machine, the load average, and the table of figures."""

import os

from overfit.threads import cpu_model, usable_cpus


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

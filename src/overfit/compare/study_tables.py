"""The text of the results: the tables and sections of docs/results/results.md and of the README's block.

Every function here formats what studies.py measured (a `Sweep`, defined here) and overfit.compare pooled (one
row per group: mean and 95% CI of each metric over seeds, `<metric>_mean` / `<metric>_ci95`); nothing is read
here but this machine's CPU model (`machine`), which the headers name.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from overfit.compare import REFERENCE
from overfit.compare.labels import first_value, plain
from overfit.compare.pooling import CHANCE_EPOCHS, calibrated
from overfit.runs import numbers
from overfit.runs.threads import cpu_model, usable_cpus

GAP = "gap = train acc - val acc at the last epoch, both of the final weights in eval mode (dropout off)"
SPLIT = (
    "where a variant's seeds split (some sat at chance, 50% val acc, for "
    f"{CHANCE_EPOCHS}+ epochs in a row, others did not), each seed's value, marked (split)"
)
SWEPT = {"more_data": ("data.train_size", "train size"), "capacity": ("model.hidden", "width")}


# What studies.measure reads off one sweep dir.
@dataclass
class Sweep:
    study: str
    path: Path
    runs: int = 0  # run dirs with a metrics.json
    unfinished: list = field(default_factory=list)  # run dirs without one
    wall_s: float = 0.0  # sum of the runs' metrics.json wall_s (data, fit, test)
    train_s: float = 0.0  # sum of time/train_s (fit only)
    span_s: float = math.nan  # sweep start (dir name, else first event) -> the last run's last event
    start: float = math.nan  # unix time


def machine() -> str:
    """`<lscpu model name>, <n> cores, torch <version>` of this machine."""
    return f"{cpu_model()}, {len(usable_cpus())} cores, torch {torch.__version__}"


def _num(value):
    """A swept value as the tables show it: "[16, 16]" -> 16, 1.0 -> 1, 0.5 stays, text that is no literal stays."""
    return plain(first_value(value, keep_text=True))


def _split(row: dict, metric: str) -> str:
    """Whether the seeds behind `metric` split (some stuck at chance: overfit.compare.pooling), and how."""
    return row.get("diff_split" if metric.endswith("_diff") else "split") or ""


ECE = (
    "ECE = expected calibration error of P(positive) on the test split (15 equal-width bins; a fraction, 0 = "
    "calibrated); at T: after temperature scaling (one T fitted on the validation split)"
)


# digits=LOSS: 3 significant digits of the mean, its CI to the same decimals (runs/numbers.py, as every loss)
LOSS = None


def _pct(row: dict, metric: str, sign: str = "", scale: float = 100, digits: int | None = 1) -> str:
    """mean ± CI of `metric` (in % by default); the bare mean for n = 1; the seeds' own values where they split
    (a t-interval over 3 seeds of a two-valued outcome would only be wide)."""
    mean, ci = row.get(f"{metric}_mean", math.nan), row.get(f"{metric}_ci95", math.nan)
    if not isinstance(mean, (int, float)) or not math.isfinite(mean):
        return "-"

    def places(value: float) -> int:
        return numbers.decimals_for(scale * value) if digits is LOSS else digits

    if _split(row, metric) and row.get(f"{metric}_seeds"):
        return " / ".join(numbers.fixed(scale * v, places(v), sign) for v in row[f"{metric}_seeds"]) + " (split)"
    text = numbers.fixed(scale * mean, places(mean), sign)
    return text + (f" ± {scale * ci:.{places(mean)}f}" if math.isfinite(ci) else "")


def _name(row: dict, most: int | None = None) -> str:
    """A pooled row's name: its group, n where it is not the usual one, and which seed sat at chance where the
    seeds split."""
    name = row["group"] + (f" (n={row['n']})" if most is not None and row["n"] != most else "")
    return name + (f" (seeds split: {row['split']})" if row.get("split") else "")


def long_table(pooled: list[dict]) -> str:
    head = [
        "variant",
        "n",
        "test acc %",
        "Δ test acc vs baseline (paired), pp",
        "best val acc %",
        "gap (train - val acc), pp",
        "min val loss",
        "test loss",
    ]
    ece = calibrated(pooled)
    head += ["test ECE", "Δ test ECE vs baseline (paired)", "test ECE at T", "T"] if ece else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in pooled:
        cells = (
            f" {_pct(r, 'test_ece', '', 1, 3)} | {_pct(r, 'test_ece_diff', '+', 1, 3)} | "
            f"{_pct(r, 'test_ece_scaled', '', 1, 3)} | {_pct(r, 'temperature', '', 1, 2)} |"
            if ece
            else ""
        )
        lines.append(
            f"| {_name(r)} | {r['n']} | {_pct(r, 'test_acc')} | {_pct(r, 'test_acc_diff', '+')} | "
            f"{_pct(r, 'best_val_acc')} | {_pct(r, 'gap')} | {_pct(r, 'min_val_loss', '', 1, LOSS)} | "
            f"{_pct(r, 'test_loss', '', 1, LOSS)} |" + cells
        )
    return "\n".join(lines) + "\n"


def _swept_values(pooled: list[dict], key: str) -> list:
    values = {_num(r.get(key)) for r in pooled}
    return sorted(values, key=lambda v: (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))


def wide_table(
    pooled: list[dict], key: str, label: str, metric: str, sign: str = "", scale: float = 100, digits: int = 1
) -> str:
    """Rows: the swept value; columns: the variants (in table order); cells: mean ± CI (n)."""
    variants = list(dict.fromkeys(r["variant"] for r in pooled if not metric.endswith("_diff") or r["n_paired"]))
    cells = {(_num(r.get(key)), r["variant"]): r for r in pooled}
    values = _swept_values(pooled, key)
    lines = [f"| {label} | " + " | ".join(variants) + " |", "|" + "---|" * (len(variants) + 1)]
    most = max(r["n"] for r in pooled)
    for value in values:
        row = [
            _pct(c, metric, sign, scale, digits) + (f" (n={c['n']})" if c["n"] != most else "")
            if (c := cells.get((value, v)))
            else "-"
            for v in variants
        ]
        lines.append(f"| {value} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def short_table(pooled: list[dict]) -> str:
    """The README's regularization table: one row per variant, the figures the lab's conclusion rests on."""
    head = ["variant", "test acc %", "Δ test acc vs baseline, pp", "gap (train - val acc), pp", "test loss"]
    ece = calibrated(pooled)
    head += ["test ECE", "test ECE at T"] if ece else []
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    most = max(r["n"] for r in pooled)
    for r in pooled:
        name = _name(r, most)
        lines.append(
            f"| {name} | {_pct(r, 'test_acc')} | {_pct(r, 'test_acc_diff', '+')} | {_pct(r, 'gap')} | "
            f"{_pct(r, 'test_loss', '', 1, LOSS)} |"
            + (f" {_pct(r, 'test_ece', '', 1, 3)} | {_pct(r, 'test_ece_scaled', '', 1, 3)} |" if ece else "")
        )
    return "\n".join(lines) + "\n"


def swept_table(pooled: list[dict], key: str, label: str) -> str:
    """The README's table of a swept study, transposed: columns = the swept values; rows = the reference
    variant's test acc, gap and test loss, then each other variant's paired difference to it (without a
    reference variant in the sweep: each variant's test acc)."""
    variants = list(dict.fromkeys(r["variant"] for r in pooled))
    cells = {(_num(r.get(key)), r["variant"]): r for r in pooled}
    values = _swept_values(pooled, key)
    if REFERENCE in variants:
        rows = [
            (f"{REFERENCE} test acc %", REFERENCE, "test_acc", "", 100, 1),
            (f"{REFERENCE} gap, pp", REFERENCE, "gap", "", 100, 1),
            (f"{REFERENCE} test loss", REFERENCE, "test_loss", "", 1, LOSS),
        ] + [(f"{v} - {REFERENCE} test acc, pp", v, "test_acc_diff", "+", 100, 1) for v in variants if v != REFERENCE]
        if calibrated(pooled):  # the other variants' ECE: results.md's wide tables
            rows += [
                (f"{REFERENCE} test ECE", REFERENCE, "test_ece", "", 1, 3),
                (f"{REFERENCE} test ECE at T", REFERENCE, "test_ece_scaled", "", 1, 3),
            ]
    else:
        rows = [(f"{v} test acc %", v, "test_acc", "", 100, 1) for v in variants]
    most = max(r["n"] for r in pooled)
    lines = [f"| {label} | " + " | ".join(map(str, values)) + " |", "|" + "---|" * (len(values) + 1)]
    for title, variant, metric, sign, scale, digits in rows:
        row = [
            _pct(c, metric, sign, scale, digits) + (f" (n={c['n']})" if c["n"] != most else "")
            if (c := cells.get((v, variant)))
            else "-"
            for v in values
        ]
        lines.append(f"| {title} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def readme_section(sweep: Sweep, pooled: list[dict], warnings: list[str]) -> str:
    """One study in the README's block: a one-line header and one short table (figures: after all studies)."""
    epochs = "/".join(sorted({str(r.get("trainer.max_epochs")) for r in pooled}))
    head = f"**{sweep.study}** (`{sweep.path.name}`: {sweep.runs} runs, max epochs {epochs}, "
    head += f"{duration(sweep.span_s)} wall"
    head += f"; {len(sweep.unfinished)} unfinished run(s) left out)" if sweep.unfinished else ")"
    if sweep.study in SWEPT:
        key, label = SWEPT[sweep.study]
        table = swept_table(pooled, key, label)
    else:
        table = short_table(pooled)
    text = [head, "", table]
    if warnings:
        text += [f"**{len(warnings)} warning(s)** (what could not be read): see the full tables.", ""]
    return "\n".join(text)


def duration(seconds: float) -> str:
    return "-" if not math.isfinite(seconds) else f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _when(sweep: Sweep) -> str:
    return (
        datetime.fromtimestamp(sweep.start, timezone.utc).strftime("%Y-%m-%d")
        if math.isfinite(sweep.start)
        else "unknown date"
    )


def study_section(sweep: Sweep, pooled: list[dict], warnings: list[str], figures: list[str], img: str) -> str:
    epochs = "/".join(sorted({str(r.get("trainer.max_epochs")) for r in pooled}))
    seeds = sorted({s for r in pooled for s in r["seeds"]}, key=str)
    text = [
        f"### {sweep.study}",
        "",
        (
            f"`{sweep.path.name}`: {sweep.runs} runs ({len(pooled)} groups x seeds {', '.join(map(str, seeds))}; "
            f"max epochs {epochs}), {duration(sweep.span_s)} wall (sum over runs: {duration(sweep.wall_s)}, "
            f"of which fit {duration(sweep.train_s)}), {_when(sweep)}."
        ),
    ]
    if sweep.unfinished:
        text.append(f"**{len(sweep.unfinished)} unfinished run(s), left out:** {', '.join(sweep.unfinished)}.")
    text.append("")
    if sweep.study in SWEPT:
        key, label = SWEPT[sweep.study]
        tables = [
            ("Test accuracy, %", "test_acc", "", 100, 1),
            ("Generalization gap (train acc - val acc at the last epoch), pp", "gap", "", 100, 1),
            ("Test accuracy minus baseline (same seed, same " + label + "), pp", "test_acc_diff", "+", 100, 1),
        ]
        if calibrated(pooled):
            tables += [
                ("Test ECE (as trained)", "test_ece", "", 1, 3),
                ("Test ECE after temperature scaling", "test_ece_scaled", "", 1, 3),
                ("Temperature T (fitted on the validation split)", "temperature", "", 1, 2),
            ]
        for title, metric, sign, scale, digits in tables:
            text += [f"{title}:", "", wide_table(pooled, key, label, metric, sign, scale, digits)]
    text += [long_table(pooled)]
    text += [f"![{sweep.study}: {name}]({img}{sweep.study}_{name})\n" for name in figures]
    if warnings:
        text += ["**Warnings** (what could not be read):", ""] + [f"- {w}" for w in warnings] + [""]
    return "\n".join(text)


def readme_block(sections: dict, sweeps_info: list[Sweep], img: str) -> str:
    """The README's compact block: header, one short table per study, the figures; `img`: docs/results/ as
    seen from the README."""
    seeds = sorted({s for _, pooled, _, _ in sections.values() for r in pooled for s in r["seeds"]}, key=str)
    dates = sorted({_when(s) for s in sweeps_info})
    text = [
        f"Generated by `python scripts/results.py` from {len(sweeps_info)} sweep(s) of {', '.join(dates)} on "
        f"{machine()}: mean ± half-width of the 95% t-interval over seeds {', '.join(map(str, seeds))}; "
        f"{SPLIT}; accuracies in %, differences in percentage points (pp), paired by seed; {GAP}; {ECE}. Every table, "
        f"with best val acc, min val loss and run times: [results.md]({img}results.md).",
        "",
    ]
    text += [readme_section(*sections[s][:3]) for s in sections]
    figures = [(s, name) for s in sections for name in sections[s][3][:1]]  # each study's first: its headline
    if figures:
        first, rest = figures[0], figures[1:]
        text.append(f"![{first[0]}: {first[1]}]({img}{first[0]}_{first[1]})\n")
        if rest:
            text += [
                "| " + " | ".join(s for s, _ in rest) + " |",
                "|" + "---|" * len(rest),
                "| " + " | ".join(f"![{s}: {n}]({img}{s}_{n})" for s, n in rest) + " |",
                "",
            ]
    return "\n".join(text)


def results_page(sections: dict, sweeps_info: list[Sweep]) -> str:
    """docs/results/results.md: a header (sweeps, machine, what the numbers are), then every study's tables."""
    dates = sorted({_when(s) for s in sweeps_info})
    header = (
        f"Generated by `python scripts/results.py` from {len(sweeps_info)} sweep(s) of {', '.join(dates)} "
        f"on {machine()}. Mean ± half-width of the 95% t-interval over seeds; {SPLIT}; accuracies in %, "
        f"differences in percentage points (pp); {GAP}; {ECE}. The figures draw each seed (a t-band over 3 seeds "
        "would say little and can leave the metric's range). Wall time: from the sweep's start (its dir name) "
        "to its last run's last TensorBoard event, one process (Python start-up, ~5 s, not included).\n"
    )
    full = header + "\n" + "\n".join(study_section(*sections[s], "") for s in sections)
    return "## Results\n\n" + full

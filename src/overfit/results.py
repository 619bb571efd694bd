"""The README's results, regenerated from sweep dirs: tables (mean ± 95% CI over seeds) and figures.

    python scripts/results.py            # newest sweep of each study under logs/multiruns -> docs/results/

docs/results/results.md gets every table; the README's marked block a compact summary of the same numbers (one
row per variant for regularization, one short table each for more_data and capacity, the three figures) with a
link to results.md.

Studies are the multirun experiments (conf/experiment/): regularization (the six variants), more_data (test acc
and gap vs data.train_size) and capacity (vs width, with and without dropout). A sweep's study is read from its
multirun.yaml. All comes from the sweep dirs (event files via overfit.compare, metrics.json, .hydra/), so the same
dirs give the same files, byte for byte; only the machine is this one's (lscpu): run it where the sweeps ran.
"""

from __future__ import annotations

import ast
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch
import yaml

from overfit.compare import REFERENCE, load_runs, read_events, write_comparison
from overfit.errors import OverfitError

STUDIES = ("regularization", "more_data", "capacity")
SWEPT = {"more_data": ("data.train_size", "train size"), "capacity": ("model.hidden", "width")}
FIGURES = {
    "regularization": ["curves_pooled.png"],
    "more_data": ["test_acc_gap_vs_train_size.png"],
    "capacity": ["test_acc_gap_vs_width.png"],
}
BEGIN, END = "<!-- results:begin (python scripts/results.py) -->", "<!-- results:end -->"
SWEEP_NAME = re.compile(r"^(\d{4}-\d\d-\d\d_\d\d-\d\d-\d\d)(-\d+)?$")  # conf/hydra/default.yaml's sweep.dir


def study_of(sweep: Path) -> str | None:
    """The `experiment=` a sweep dir was launched with (its multirun.yaml), None if unknown."""
    try:
        config = yaml.safe_load((Path(sweep) / "multirun.yaml").read_text())
        return config["hydra"]["runtime"]["choices"].get("experiment")
    except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
        return None


def newest_sweeps(logs: Path) -> dict[str, Path]:
    """{study: its newest sweep dir under <logs>/multiruns} (names are start times: newest sorts last)."""
    found = {}
    for sweep in sorted(p for p in (Path(logs) / "multiruns").glob("*") if p.is_dir()):
        kind = study_of(sweep)
        if kind in STUDIES:
            found[kind] = sweep
    return found


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


def measure(study: str, sweep: Path) -> Sweep:
    """Runs, summed run times and the sweep's wall time, from its dir alone."""
    info = Sweep(study, Path(sweep))
    first, last, longest = math.inf, -math.inf, 0.0
    for run in sorted(p for p in Path(sweep).iterdir() if (p / ".hydra").is_dir()):
        metrics = run / "metrics.json"
        if not metrics.is_file():
            info.unfinished.append(run.name)
            continue
        record = json.loads(metrics.read_text())
        info.runs += 1
        info.wall_s += record.get("wall_s", math.nan)
        info.train_s += record.get("metrics", {}).get("time/train_s", math.nan)
        longest = max(longest, record.get("wall_s", 0.0))
        for path in sorted(run.rglob("events.out.tfevents.*")):
            times = [e.wall_time for e in read_events(path)[0] if e.wall_time]
            if times:
                first, last = min(first, min(times)), max(last, max(times))
    named = SWEEP_NAME.match(Path(sweep).name)
    info.start = time.mktime(time.strptime(named.group(1), "%Y-%m-%d_%H-%M-%S")) if named else first
    if not first - longest - 60 < info.start <= first:  # a name in another time zone: the first run's first event
        info.start = first
    info.span_s = last - info.start if math.isfinite(last) else math.nan
    return info


def add_train_size(runs) -> None:
    """data.train_size into each run's HPARAMS (from its .hydra/config.yaml) where the summary lacks it, so
    that runs of different train sizes are not pooled together. A no-op where tracking logs it itself."""
    for run in runs:
        if not run.hparams or "data.train_size" in run.hparams:
            continue
        try:
            run_dir = run.path.parent if run.path.name == "tensorboard" else run.path
            config = yaml.safe_load((run_dir / ".hydra" / "config.yaml").read_text())
            size = config["data"].get("train_size")
        except (OSError, yaml.YAMLError, KeyError, TypeError, AttributeError):
            continue
        if size is not None:
            run.hparams["data.train_size"] = size


def machine() -> str:
    """`<lscpu model name>, <n> cores, torch <version>` of this machine."""
    model = ""
    for command, prefix in ((["lscpu"], "Model name"), (["cat", "/proc/cpuinfo"], "model name")):
        try:
            out = subprocess.run(command, check=False, capture_output=True, text=True, env={"LC_ALL": "C"}).stdout
        except OSError:
            continue
        model = model or next((ln.split(":", 1)[1].strip() for ln in out.splitlines() if ln.startswith(prefix)), "")
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model or 'unknown CPU'}, {cores} cores, torch {torch.__version__}"


def _num(value):
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return value
    if isinstance(value, (list, tuple)):
        value = value[0] if value else None
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _pct(row: dict, metric: str, sign: str = "", scale: float = 100, digits: int = 1) -> str:
    """mean ± CI of `metric` (in % by default); the bare mean for n = 1."""
    mean, ci = row.get(f"{metric}_mean", math.nan), row.get(f"{metric}_ci95", math.nan)
    if not isinstance(mean, (int, float)) or not math.isfinite(mean):
        return "-"
    text = f"{scale * mean:{sign}.{digits}f}"
    return text + (f" ± {scale * ci:.{digits}f}" if math.isfinite(ci) else "")


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
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in pooled:
        lines.append(
            f"| {r['group']} | {r['n']} | {_pct(r, 'test_acc')} | {_pct(r, 'test_acc_diff', '+')} | "
            f"{_pct(r, 'best_val_acc')} | {_pct(r, 'gap')} | {_pct(r, 'min_val_loss', '', 1, 3)} | "
            f"{_pct(r, 'test_loss', '', 1, 3)} |"
        )
    return "\n".join(lines) + "\n"


def _swept_values(pooled: list[dict], key: str) -> list:
    values = {_num(r.get(key)) for r in pooled}
    return sorted(values, key=lambda v: (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v)))


def wide_table(pooled: list[dict], key: str, label: str, metric: str, sign: str = "") -> str:
    """Rows: the swept value; columns: the variants (in table order); cells: mean ± CI (n)."""
    variants = list(dict.fromkeys(r["variant"] for r in pooled if metric != "test_acc_diff" or r["n_paired"]))
    cells = {(_num(r.get(key)), r["variant"]): r for r in pooled}
    values = _swept_values(pooled, key)
    lines = [f"| {label} | " + " | ".join(variants) + " |", "|" + "---|" * (len(variants) + 1)]
    most = max(r["n"] for r in pooled)
    for value in values:
        row = [
            _pct(c, metric, sign) + (f" (n={c['n']})" if c["n"] != most else "")
            if (c := cells.get((value, v)))
            else "-"
            for v in variants
        ]
        lines.append(f"| {value} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def short_table(pooled: list[dict]) -> str:
    """The README's regularization table: one row per variant, the figures the lab's conclusion rests on."""
    head = ["variant", "test acc %", "Δ test acc vs baseline, pp", "gap (train - val acc), pp", "test loss"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    most = max(r["n"] for r in pooled)
    for r in pooled:
        name = r["group"] + (f" (n={r['n']})" if r["n"] != most else "")
        lines.append(
            f"| {name} | {_pct(r, 'test_acc')} | {_pct(r, 'test_acc_diff', '+')} | {_pct(r, 'gap')} | "
            f"{_pct(r, 'test_loss', '', 1, 3)} |"
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
            (f"{REFERENCE} test loss", REFERENCE, "test_loss", "", 1, 3),
        ] + [(f"{v} - {REFERENCE} test acc, pp", v, "test_acc_diff", "+", 100, 1) for v in variants if v != REFERENCE]
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
        for title, metric, sign in (
            ("Test accuracy, %", "test_acc", ""),
            ("Generalization gap (train acc - val acc at the last epoch), pp", "gap", ""),
            ("Test accuracy minus baseline (same seed, same " + label + "), pp", "test_acc_diff", "+"),
        ):
            text += [f"{title}:", "", wide_table(pooled, key, label, metric, sign)]
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
        "accuracies in %, differences in percentage points (pp), paired by seed; gap = train acc - val acc at the "
        "last epoch (train acc with dropout on). Every table, with best val acc, min val loss and run times: "
        f"[results.md]({img}results.md).",
        "",
    ]
    text += [readme_section(*sections[s][:3]) for s in sections]
    figures = [(s, name) for s in sections for name in sections[s][3]]
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


def write_results(sweeps: dict[str, Path], out: Path, readme: Path | None = None) -> dict:
    """docs/results/: results.md (every table), <study>.csv (compare's pooled.csv) and the figures; and the
    block between BEGIN and END in `readme`, if it has one: the compact summary (readme_block). Returns
    {"files", "warnings", "readme", "sweeps"}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sections, files, all_warnings, sweeps_info = {}, [], [], []
    for study in STUDIES:
        for old in out.glob(f"{study}_*.png"):
            old.unlink()
        (out / f"{study}.csv").unlink(missing_ok=True)
        if study not in sweeps:
            continue
        info = measure(study, sweeps[study])
        runs = load_runs(sweeps[study])
        add_train_size(runs)
        with tempfile.TemporaryDirectory() as tmp:
            written = write_comparison(runs, tmp)
            names = [n for n in FIGURES[study] if (Path(tmp) / n).is_file()]
            for name in names:
                files.append(shutil.copyfile(Path(tmp) / name, out / f"{study}_{name}"))
            files.append(shutil.copyfile(Path(tmp) / "pooled.csv", out / f"{study}.csv"))
        warnings = [w.replace(str(sweeps[study]), sweeps[study].name) for w in written["warnings"]]
        all_warnings += [f"{study}: {w}" for w in warnings]
        sections[study] = (info, written["pooled"], warnings, names)
        sweeps_info.append(info)
    if not sections:
        raise OverfitError(
            "no sweep of any study (" + ", ".join(STUDIES) + "): run e.g. "
            "`python train.py experiment=regularization` first"
        )
    dates = sorted({_when(s) for s in sweeps_info})
    header = (
        f"Generated by `python scripts/results.py` from {len(sweeps_info)} sweep(s) of {', '.join(dates)} "
        f"on {machine()}. Mean ± half-width of the 95% t-interval over seeds; accuracies in %, differences "
        "in percentage points (pp); gap = train acc - val acc at the last epoch (train acc with dropout on). "
        "Wall time: from the sweep's start (its dir name) to its last run's last TensorBoard event, one "
        "process (Python start-up, ~5 s, not included).\n"
    )

    full = header + "\n" + "\n".join(study_section(*sections[s], "") for s in sections)
    (out / "results.md").write_text("## Results\n\n" + full)
    files.append(out / "results.md")
    updated = None
    text = readme.read_text() if readme is not None and readme.is_file() else ""
    if BEGIN in text and END in text.split(BEGIN, 1)[1]:
        before, rest = text.split(BEGIN, 1)
        img = os.path.relpath(out, readme.parent).replace(os.sep, "/") + "/"
        new = before + BEGIN + "\n" + readme_block(sections, sweeps_info, img) + "\n" + END + rest.split(END, 1)[1]
        if new != text:
            readme.write_text(new)
        updated = readme
    return {"files": files, "warnings": all_warnings, "readme": updated, "sweeps": sweeps_info}

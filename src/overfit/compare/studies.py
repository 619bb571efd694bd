"""The README's results, regenerated from sweep dirs: tables (mean ± 95% CI over seeds) and figures.

    python scripts/results.py            # newest sweep of each study under logs/multiruns -> docs/results/

docs/results/results.md gets every table and figure; the README's marked block a compact summary of the same
numbers (one row per variant for regularization, one short table each for more_data and capacity, each study's
first figure) with a link to results.md.

Studies are the multirun experiments (conf/experiment/): regularization (the six variants), more_data (test acc
and gap vs data.train_size) and capacity (vs width, with and without dropout). A sweep's study is read from its
multirun.yaml. All comes from the sweep dirs (event files via overfit.compare, metrics.json, .hydra/), so the same
dirs give the same files, byte for byte; only the machine is this one's (lscpu): run it where the sweeps ran.
Here: which sweeps, what they hold (runs, times) and writing the files; their text is study_tables.py's.
"""

from __future__ import annotations

import json
import math
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from overfit.compare import load_runs, read_events, write_comparison
from overfit.compare.study_tables import Sweep, readme_block, results_page
from overfit.errors import OverfitError

STUDIES = ("regularization", "more_data", "capacity")
FIGURES = {  # the first of each goes into the README too
    "regularization": ["remedies.png", "curves_pooled.png", "reliability.png", "ece_vs_epoch.png"],
    "more_data": ["test_acc_gap_vs_train_size.png", "test_ece_vs_train_size.png"],
    "capacity": ["test_acc_gap_vs_width.png", "test_ece_vs_width.png"],
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
    (out / "results.md").write_text(results_page(sections, sweeps_info))
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

"""The six-variant sweep and its floor (--sweep), and Lightning's epochs against the plain loop's (--epoch-ratio):
the parent side of `python -m benchmarks`; the measurements themselves are children in overhead.py."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from .loops import recorded_threads
from .overhead import SIX
from .table import ME, load, ratio_row, run

# The two ways to run the sweep on one machine: one process, runs one after another (the default launcher), or
# joblib, two processes at once with one torch thread each (cpu_threads=1: two jobs of two threads on two cores
# would fight over them).
ONE_PROCESS, JOBLIB = "one process, one run after another", "joblib, 2 jobs x 1 thread"
SWEEPS = {ONE_PROCESS: [], JOBLIB: ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "cpu_threads=1"]}
# Each train.py run writes the threads train() gave it (loops.record_threads), for the floor to train on the same.
RECORD_THREADS = "+callbacks.benchmark_threads._target_=benchmarks.loops.record_threads"


def epoch_ratio_rows(args, variant: str, epochs: int, workdir: Path, target: float) -> list[tuple]:
    """Lightning's epochs against the plain loop's with a run's duties, taking turns in one process."""
    cmd = ME + ["--child", "epochs", f"--epochs={epochs}", f"model={variant}", f"paths.data_dir={workdir / 'data'}"]
    got, _, _ = run(cmd + args.overrides, workdir, f"epochs_{variant}")
    n = got["epochs_timed"]
    print(
        f"  epochs {variant}: Lightning {got['lightning_min_s'] * 1e3:.1f} ms, plain with duties "
        f"{got['plain_min_s'] * 1e3:.1f} ms, fastest of {n}, threads {got['threads']} (load {load()})",
        flush=True,
    )
    what = "Lightning's epochs"
    return [
        ratio_row(
            f"  Lightning epoch / plain epoch with duties, {variant}, fastest of {n} each",
            [(got["lightning_min_s"], got["plain_min_s"])],
            what,
            target,
        ),
        ratio_row("  the same at the 25th percentile", [(got["lightning_p25_s"], got["plain_p25_s"])], what),
        ratio_row("  the same, medians", [(got["lightning_median_s"], got["plain_median_s"])], what),
    ]


def _sweep(how: str, repeat: int, args, workdir: Path, epochs: int) -> tuple[float, float, dict]:
    """`python train.py -m model=<six> seed=0`: wall time of the whole process, its six fits, each run's threads."""
    log_dir = workdir / f"sweep_{list(SWEEPS).index(how)}_{repeat}"
    cmd = [sys.executable, "train.py", "-m", f"model={','.join(SIX)}", "seed=0", f"trainer.max_epochs={epochs}"]
    cmd += [f"paths.log_dir={log_dir}", f"paths.data_dir={workdir / 'data'}", "trainer.enable_progress_bar=false"]
    cmd += [RECORD_THREADS] if how == ONE_PROCESS else []  # the floor's bound: the one-process sweep
    # Like for like with the floor, which trains and writes what a run writes but compares nothing: the comparison
    # a sweep ends with is timed on its own (compare_row)
    cmd += ["hydra.callbacks.compare.enabled=false"]
    _, wall, _ = run(cmd + SWEEPS[how] + args.overrides, workdir, log_dir.name)
    metrics = list(log_dir.glob("multiruns/*/*/metrics.json"))
    if len(metrics) != 6:
        sys.exit(f"benchmark: the sweep ({how}) wrote {len(metrics)} metrics.json, not 6: see {log_dir}")
    records = {record["variant"]: (m.parent, record) for m in metrics for record in [json.loads(m.read_text())]}
    fits = sum(r["metrics"]["time/train_s"] for _, r in records.values())
    threads = {v: recorded_threads(records[v][0]) for v in SIX if v in records}
    shown = f", threads {json.dumps(threads)}" if how == ONE_PROCESS else ""  # joblib's: cpu_threads=1
    print(f"  sweep, {how}: {wall:.1f} s wall, six fits {fits:.1f} s{shown} (load {load()})", flush=True)
    return wall, fits, threads


def sweep_rows(args, workdir: Path, epochs: int, target_s: float | None, target_ratio: float) -> list[tuple]:
    """The sweep both ways and its floor, interleaved repeat by repeat (the same minutes): sweep, floor, joblib."""
    walls = {how: [] for how in SWEEPS} | {"floor": []}
    fits = {how: [] for how in walls}
    for repeat in range(args.repeats):
        wall, fit, threads = _sweep(ONE_PROCESS, repeat, args, workdir, epochs)
        walls[ONE_PROCESS].append(wall)
        fits[ONE_PROCESS].append(fit)
        # The floor: the same six runs as plain PyTorch loops with a run's duties, one process, same imports, data
        # and the very thread counts the sweep's runs got (auto decides from the idle cores of that moment).
        cmd = ME + ["--child", "plainsweep", f"--epochs={epochs}", f"--child-threads={json.dumps(threads)}"]
        got, wall, _ = run(cmd + [f"paths.data_dir={workdir / 'data'}"] + args.overrides, workdir, f"floor_{repeat}")
        walls["floor"].append(wall)
        fits["floor"].append(got["fits_s"])
        print(
            f"  the six as plain loops: {wall:.1f} s wall, six loops {got['fits_s']:.1f} s, "
            f"threads {json.dumps(got['threads'])} (load {load()})",
            flush=True,
        )
        wall, fit, _ = _sweep(JOBLIB, repeat, args, workdir, epochs)
        walls[JOBLIB].append(wall)
        fits[JOBLIB].append(fit)
    # What the comparison the sweep ends with adds (off in the sweeps above): scripts/compare.py on one of them,
    # a fresh process, i.e. the same tables and figures plus compare's imports
    sweep_dir = next((workdir / "sweep_0_0" / "multiruns").iterdir())
    _, compare_s, _ = run([sys.executable, "scripts/compare.py", str(sweep_dir)], workdir, "compare_sweep")
    rows = [("the comparison a sweep ends with (scripts/compare.py on the six runs, whole process)", compare_s, "s")]
    for how in SWEEPS:
        rows += [
            (f"six-variant sweep, {how} (whole process, median)", statistics.median(walls[how]), "s", target_s),
            ("  sum of its six fits", statistics.median(fits[how]), "s"),
        ]
    return rows + [
        (
            "the six as plain PyTorch loops with duties, one process (the floor, median)",
            statistics.median(walls["floor"]),
            "s",
        ),
        ("  sum of its six loops", statistics.median(fits["floor"]), "s"),
        ratio_row(
            "  sweep in one process / the floor, same minutes (Lightning's and Hydra's share)",
            list(zip(walls[ONE_PROCESS], walls["floor"])),
            "the sweep",
            target_ratio,
        ),
    ]

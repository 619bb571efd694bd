"""The six-variant sweep's figures for scripts/benchmark.py (--sweep), and Lightning's epochs against the plain
loop's (--epoch-ratio): the parent side; the measurements themselves are children in bench_overhead.py."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from bench_overhead import SIX
from bench_table import load, run

BENCHMARK = str(Path(__file__).resolve().with_name("benchmark.py"))
# The two ways to run the sweep on one machine: one process, runs one after another (the default launcher), or
# joblib, two processes at once with one torch thread each (cpu_threads=1: two jobs of two threads on two cores
# would fight over them).
SWEEPS = {
    "one process, one run after another": [],
    "joblib, 2 jobs x 1 thread": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "cpu_threads=1"],
}


def epoch_ratio_rows(me: list[str], args, variant: str, epochs: int, workdir: Path) -> list[tuple]:
    """Lightning's epochs against the plain loop's, taking turns in one process (bench_overhead.child_epochs)."""
    cmd = me + ["--child", "epochs", f"--epochs={epochs}", f"model={variant}", f"paths.data_dir={workdir / 'data'}"]
    got, _, _ = run(cmd + args.overrides, workdir, f"epochs_{variant}")
    n = got["epochs_timed"]
    print(
        f"  epochs {variant}: Lightning {got['lightning_min_s'] * 1e3:.1f} ms, plain {got['plain_min_s'] * 1e3:.1f} ms"
        f" fastest of {n} (load {load()})",
        flush=True,
    )
    return [
        (
            f"  Lightning epoch / plain epoch, {variant}, fastest of {n} each",
            got["lightning_min_s"] / got["plain_min_s"],
            "x",
        ),
        ("  the same at the 25th percentile", got["lightning_p25_s"] / got["plain_p25_s"], "x"),
        ("  the same, medians", got["lightning_median_s"] / got["plain_median_s"], "x"),
    ]


def sweep_rows(args, workdir: Path, epochs: int, scale: float, target_s: float) -> list[tuple]:
    """`python train.py -m model=<six> seed=0`: wall time of the whole process (imports, data, six fits and tests)."""
    rows, one_process = [], None
    for how, launcher in SWEEPS.items():
        walls, fits = [], []
        for repeat in range(args.repeats):
            log_dir = workdir / f"sweep_{len(rows)}_{repeat}"
            cmd = [sys.executable, "train.py", "-m", f"model={','.join(SIX)}", "seed=0", f"trainer.max_epochs={epochs}"]
            cmd += [
                f"paths.log_dir={log_dir}",
                f"paths.data_dir={workdir / 'data'}",
                "trainer.enable_progress_bar=false",
            ]
            _, wall, _ = run(cmd + launcher + args.overrides, workdir, f"sweep_{len(rows)}_{repeat}")
            records = [json.loads(m.read_text()) for m in log_dir.glob("multiruns/*/*/metrics.json")]
            if len(records) != 6:
                sys.exit(f"benchmark: the sweep ({how}) wrote {len(records)} metrics.json, not 6: see {log_dir}")
            walls.append(wall)
            fits.append(sum(r["metrics"]["time/train_s"] for r in records))
            print(f"  sweep, {how}: {wall:.1f} s wall, six fits {fits[-1]:.1f} s (load {load()})", flush=True)
        rows += [
            (
                f"six-variant sweep, {how} (whole process, median)",
                statistics.median(walls),
                "s",
                target_s * scale,
            ),
            ("  sum of its six fits", statistics.median(fits), "s", None),
        ]
        one_process = one_process or statistics.median(walls)  # the first way: the default launcher
    # The floor: the same six runs as plain PyTorch loops with a run's duties, one process, same imports and data.
    walls, fits = [], []
    for repeat in range(args.repeats):
        cmd = [sys.executable, BENCHMARK, "--child", "plainsweep", f"--epochs={epochs}"]
        got, wall, _ = run(cmd + [f"paths.data_dir={workdir / 'data'}"] + args.overrides, workdir, f"floor_{repeat}")
        walls.append(wall)
        fits.append(got["fits_s"])
        print(f"  the six as plain loops: {wall:.1f} s wall, six loops {fits[-1]:.1f} s (load {load()})", flush=True)
    rows += [
        ("the six as plain PyTorch loops with duties, one process (the floor, median)", statistics.median(walls), "s"),
        ("  sum of its six loops", statistics.median(fits), "s", None),
        (
            "  sweep in one process / the floor (Lightning's and Hydra's share)",
            one_process / statistics.median(walls),
            "x",
        ),
    ]
    return rows

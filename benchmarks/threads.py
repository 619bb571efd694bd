"""cpu_threads=auto against cpu_threads=1, on an idle machine and with one core busy (a load this script starts).

    export OVERFIT_IMDB_ARCHIVE=/path/to/aclImdb_v1.tar.gz
    .venv/bin/python -m benchmarks threads                   # big, 2 epochs, 2 repeats per cell (~3 min)
    .venv/bin/python -m benchmarks threads --variant baseline --epochs 5 --repeats 3

Each cell runs `python train.py model=<variant>` in a fresh process and reads the run's `time/train_s` (fit).
The busy-core load is one Python process spinning on its own for exactly as long as the run, so it holds one
core the whole time (what a browser tab, a second job or a noisy neighbour does). The target (issue 14): auto
within 1.3x of one thread with a core busy, and keeping the two-thread gain for `big` when idle.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from overfit.runs.threads import cpu_model

REPO = Path(__file__).resolve().parents[1]
SPIN = "import time\nend = time.time() + 600\nwhile time.time() < end: pass"


def fit_seconds(variant: str, epochs: int, threads: str, busy: bool, tmp: Path, overrides: list[str]) -> float:
    log_dir = Path(tempfile.mkdtemp(dir=tmp))
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        f"model={variant}",
        f"trainer.max_epochs={epochs}",
        f"cpu_threads={threads}",
        f"paths.log_dir={log_dir}",
        "trainer.enable_progress_bar=false",
        "trainer.enable_model_summary=false",
        "test=false",
        *overrides,
    ]
    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    finally:
        if spinner is not None:
            spinner.kill()
            spinner.wait()
    if done.returncode != 0:
        raise SystemExit(f"error: {' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    record = json.loads(next(log_dir.glob("runs/*/metrics.json")).read_text())
    return record["metrics"]["time/train_s"]


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for every run, e.g. data.archive=...")
    parser.add_argument("--variant", default="big")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        # one warm-up run: the features cache and the page cache are filled before anything is timed
        fit_seconds(args.variant, 1, "1", False, Path(tmp), args.overrides)
        cells = {}
        for busy in (False, True):
            for threads in ("auto", "1"):
                times = [
                    fit_seconds(args.variant, args.epochs, threads, busy, Path(tmp), args.overrides)
                    for _ in range(args.repeats)
                ]
                cells[busy, threads] = times
                print(
                    f"{'busy' if busy else 'idle'} cpu_threads={threads:<4}  fit "
                    + " / ".join(f"{t:.1f}" for t in times)
                    + " s",
                    flush=True,
                )
    cpu = cpu_model()
    print(
        f"\n{args.variant}, {args.epochs} epochs, median of {args.repeats}; {os.cpu_count()} cores ({cpu}), "
        f"load average now {os.getloadavg()[0]:.1f}"
    )
    print("| machine | cpu_threads=auto | cpu_threads=1 | auto / 1 |\n|---|---|---|---|")
    for busy in (False, True):
        auto, one = statistics.median(cells[busy, "auto"]), statistics.median(cells[busy, "1"])
        print(f"| {'one core busy' if busy else 'idle'} | {auto:.1f} s | {one:.1f} s | {auto / one:.2f} |")

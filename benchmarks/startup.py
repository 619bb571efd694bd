"""How long a command takes to say something: a config mistake, --help, --cfg job, against `python -c pass`.

    .venv/bin/python -m benchmarks startup                 # median of 5 of each, in seconds
    .venv/bin/python -m benchmarks startup --repeats 9

Each command runs in a fresh process from the repository root, as a user types it, and is timed from start to exit
(it exits as soon as it has answered). The target (issue 23): each within 1.5 s on the 2-core machine. They answer
before torch and Lightning are imported (overfit/cli.py, tests/test_first_contact.py); loading those alone costs
5-8 s there, which is what every one of them cost before.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .table import load, machine

REPO = Path(__file__).resolve().parents[1]
TARGET_S = 1.5
# (label, arguments after the interpreter, the exit code that means it answered as meant)
COMMANDS = (
    ("python -c pass", ["-c", "pass"], 0),
    ("train.py --help", ["train.py", "--help"], 0),
    ("train.py modle=dropout", ["train.py", "modle=dropout"], 2),
    ("train.py model=dropuot", ["train.py", "model=dropuot"], 2),
    ("train.py --cfg job", ["train.py", "--cfg", "job"], 0),
    ("eval.py --help", ["eval.py", "--help"], 0),
    ("predict.py --help", ["predict.py", "--help"], 0),
)


def wall_seconds(args: list[str], expected_rc: int) -> float:
    start = time.perf_counter()
    done = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != expected_rc:
        raise SystemExit(f"error: python {' '.join(args)} exited {done.returncode}, not {expected_rc}:\n{done.stderr}")
    return seconds


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give 1 or more")
    full_error = "HYDRA_FULL_ERROR" in os.environ
    env_note = " (HYDRA_FULL_ERROR is set: Hydra's own help and error reports, not ours)" if full_error else ""
    # Interleaved rounds: a neighbour's load slows every command alike instead of the ones that ran during it.
    times: dict[str, list[float]] = {label: [] for label, _, _ in COMMANDS}
    wall_seconds(["train.py", "--cfg", "job"], 0)  # warm-up: the page cache holds Python, Hydra and the configs
    for _ in range(args.repeats):
        for label, cmd, rc in COMMANDS:
            times[label].append(wall_seconds(cmd, rc))
    floor = statistics.median(times["python -c pass"])
    print(f"{machine()}, load average {load()}{env_note}")  # machine(): torch, after the timing
    print(f"median of {args.repeats}, wall seconds from start to exit; target: each within {TARGET_S} s\n")
    print("| command | wall | over `python -c pass` | within target |\n|---|---|---|---|")
    for label, _, _ in COMMANDS:
        wall = statistics.median(times[label])
        ok = "" if label == "python -c pass" else ("yes" if wall <= TARGET_S else "NO")
        print(f"| `{label}` | {wall:.2f} s | {wall - floor:+.2f} s | {ok} |")

"""What the calibration metrics cost a fit: `baseline` fitted with and without them, side by side, in one process.

    .venv/bin/python -m benchmarks calibration OVERFIT_ARGS...       # e.g. data.archive=... ; 5 rounds
    .venv/bin/python -m benchmarks calibration --repeats 9 model=big

Each round fits the model twice through train() (the same seed, data cache warm), once as shipped and once with the
validation/test metrics of models/calibration.py (torchmetrics' AUROC, ECE, Brier) switched off, in alternating
order, and reads time/train_s (the fit alone: temperature scaling runs after it and is timed apart, as the extra
wall time of the run). The target (issue 22): the metrics cost <= 3% of a `baseline` fit. Judged by the time spent
inside the metrics during the shipped fits (a share that a neighbour's load scales with the rest of the fit); the
difference between the two sides' fastest fits is printed too, but on a shared 2-core machine it is noise of a few %.
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import tempfile
import time
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from .loops import compose
from .table import load, machine

TARGET = 0.03


@contextmanager
def metrics_timed(spent: list[float]):
    """EvalMetrics as shipped, the seconds inside its update/compute/reset added to spent[0]: the metrics' own share
    of a fit, which a neighbour's load slows alike with the rest of the fit (the ratio holds where the difference of
    two noisy fits does not)."""
    from overfit.models.calibration import EvalMetrics

    saved = EvalMetrics.update, EvalMetrics.compute, EvalMetrics.reset

    def timed(method):
        def wrapper(self, *args):
            start = time.perf_counter()
            try:
                return method(self, *args)
            finally:
                spent[0] += time.perf_counter() - start

        return wrapper

    EvalMetrics.update, EvalMetrics.compute, EvalMetrics.reset = map(timed, saved)
    try:
        yield
    finally:
        EvalMetrics.update, EvalMetrics.compute, EvalMetrics.reset = saved


@contextmanager
def metrics_off():
    """EvalMetrics as a no-op: what the fit was before issue 22 (the on-device loss/acc sums stay)."""
    from overfit.models.calibration import EvalMetrics

    saved = EvalMetrics.update, EvalMetrics.compute
    EvalMetrics.update, EvalMetrics.compute = (lambda self, *a: None), (lambda self: {})
    try:
        yield
    finally:
        EvalMetrics.update, EvalMetrics.compute = saved


def fit_seconds(overrides: list[str], tmp: str, tag: str, off: bool) -> tuple[float, float, float]:
    """(time/train_s, the run's wall seconds after the fit: test, temperature scaling, summary, the seconds inside
    the metrics, test included) of one train()."""
    from overfit.train import train

    cfg = compose([*overrides, f"paths.output_dir={tmp}/{tag}", f"paths.log_dir={tmp}/logs"])
    start = time.perf_counter()
    quiet = io.StringIO()  # each run's summary and Lightning's lines: the table below is the output
    spent = [0.0]
    with redirect_stdout(quiet), redirect_stderr(quiet), metrics_off() if off else metrics_timed(spent):
        train(cfg)
    wall = time.perf_counter() - start
    fit = json.loads((Path(tmp) / tag / "metrics.json").read_text())["metrics"]["time/train_s"]
    return fit, wall - fit, spent[0]


def main(argv: list[str] | None = None, prog: str | None = None) -> None:
    parser = argparse.ArgumentParser(prog=prog, description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. model=big data.archive=...")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats {args.repeats}: give 1 or more")
    overrides = ["model=baseline", "trainer.enable_progress_bar=false", "trainer.enable_model_summary=false"]
    overrides += args.overrides
    fits: dict[str, list[float]] = {"with": [], "without": []}
    after: dict[str, list[float]] = {"with": [], "without": []}
    inside: list[float] = []  # share of each shipped fit spent inside the metrics
    with tempfile.TemporaryDirectory() as tmp:
        fit_seconds(overrides, tmp, "warmup", off=False)  # the data cache and every import, once
        for i in range(args.repeats):
            for side in ("with", "without") if i % 2 == 0 else ("without", "with"):
                fit, rest, spent = fit_seconds(overrides, tmp, f"{side}_{i}", off=side == "without")
                fits[side].append(fit)
                after[side].append(rest)
                if side == "with":
                    inside.append(spent / fit)
    print(f"{machine()}, load average {load()}")
    print(f"{' '.join(args.overrides) or 'model=baseline'}: {args.repeats} fits each, alternating\n")
    print("| calibration metrics | fastest fit | median fit | after the fit (test, T, summary), median |")
    print("|---|---|---|---|")
    for side in ("without", "with"):
        print(
            f"| {side} | {min(fits[side]):.3f} s | {statistics.median(fits[side]):.3f} s "
            f"| {statistics.median(after[side]):.3f} s |"
        )
    cost = min(fits["with"]) / min(fits["without"]) - 1
    median_cost = statistics.median(fits["with"]) / statistics.median(fits["without"]) - 1
    share = statistics.median(inside)
    verdict = "within" if share <= TARGET else "OVER"
    print(
        f"\ntime inside the metrics (update, compute, reset; the test's included): {share:.1%} of a fit, median of "
        f"{len(inside)}; {verdict} the target of {TARGET:.0%}\n"
        f"difference of the fits: {cost:+.1%} (fastest), {median_cost:+.1%} (medians): noise where it disagrees"
    )

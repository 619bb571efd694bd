"""debug=fdr|limit|overfit|profiler (conf/debug/): each a real train.py run on the tiny archive, into logs/debug/
and nowhere else, doing what its name says (one batch, a few batches, one batch learnt by heart, a profile)."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import forked
import pytest
import torch
from conftest import REPO, tiny_overrides
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator


def debug_run(name: str, tmp_path: Path, archive: Path, *extra: str) -> tuple[Path, str]:
    """train.py debug=<name> (its own epochs, run dir and checkpointing): (the run dir, what it printed)."""
    keep = ("paths.output_dir", "trainer.max_epochs")  # the debug config sets these
    overrides = [o for o in tiny_overrides(archive, tmp_path) if not o.startswith(keep)]
    cmd = [sys.executable, str(REPO / "train.py"), *overrides, f"debug={name}", *extra]
    done = forked.run(cmd, cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    logs = tmp_path / "logs"
    assert not any((logs / "runs").glob("*")) and not any((logs / "multiruns").glob("*"))  # nothing in the real runs
    (run,) = (logs / "debug").iterdir()
    assert run.name.endswith(f"_baseline_{name}")
    return run, done.stdout + done.stderr


def scalars(run: Path, tag: str) -> list[tuple[int, float]]:
    events = EventAccumulator(str(run))
    events.Reload()
    return [(e.step, e.value) for e in events.Scalars(tag)]


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_fdr_runs_one_batch_of_each_and_writes_no_curves_or_checkpoints(tiny_archive, tmp_path):
    run, out = debug_run("fdr", tmp_path, tiny_archive)
    assert "fast_dev_run" in out
    record = json.loads((run / "metrics.json").read_text())
    assert record["epochs_run"] == 1 and "test/acc" in record["metrics"]
    assert not (run / "checkpoints").exists() and not list(run.glob("events.out.tfevents.*"))


def test_limit_runs_a_few_batches_for_a_few_epochs_with_curves_and_checkpoints(tiny_archive, tmp_path):
    run, _ = debug_run("limit", tmp_path, tiny_archive, "data.batch_size=4")  # 80 train rows: 20 batches an epoch
    assert [step for step, _ in scalars(run, "val/acc")] == [1, 2, 3]
    last = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert last["global_step"] == 3 * 5  # limit_train_batches: 5 of the 20, for 3 epochs


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_overfit_learns_one_batch_by_heart_and_keeps_nothing_else(tiny_archive, tmp_path):
    run, out = debug_run("overfit", tmp_path, tiny_archive)
    assert "overfit_batches=1" in out
    loss = scalars(run, "train/loss")
    assert len(loss) == 100 and loss[-1][1] < 0.25 * loss[0][1]
    assert scalars(run, "train/acc")[-1][1] == 1.0
    record = json.loads((run / "metrics.json").read_text())
    assert not any(k.startswith("test/") for k in record["metrics"])  # no test of a model fitted to one batch
    assert not (run / "checkpoints").exists()


def test_profiler_prints_where_the_time_goes(tiny_archive, tmp_path):
    run, out = debug_run("profiler", tmp_path, tiny_archive)
    assert "Profiler Report" in out and "run_training_epoch" in out
    assert "run_training_epoch" in (run / "train.log").read_text()
    assert not (run / "checkpoints").exists()

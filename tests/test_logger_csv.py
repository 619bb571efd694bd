"""logger=csv and logger=many: real train.py runs on the tiny archive whose curves arrive in <run dir>/metrics.csv
(one val row per epoch, the numbers metrics.json reports), beside TensorBoard's event files for `many`, and a
resumed run that keeps the rows of the epochs before it."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

import forked
import pytest
from conftest import REPO, tiny_overrides


def train_py(tmp_path: Path, archive: Path, *args: str, epochs: int = 3):
    overrides = [o for o in tiny_overrides(archive, tmp_path, epochs) if not o.startswith("paths.output_dir")]
    cmd = [sys.executable, str(REPO / "train.py"), *overrides, f"hydra.run.dir={tmp_path / 'run'}", *args]
    done = forked.run(cmd, cwd=tmp_path, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def step(row: dict) -> int:
    return int(float(row["step"]))  # Lightning 2.5.0 (our lower bound) writes a logged float step as "1.0"


def rows(run: Path, stage: str) -> list[dict]:
    """The rows holding `stage`/loss (Lightning's CSVLogger writes one row per stage and step)."""
    with (run / "metrics.csv").open(newline="") as file:
        return [r for r in csv.DictReader(file) if r.get(f"{stage}/loss")]


def test_csv_gets_a_row_per_epoch_with_the_runs_numbers(tiny_archive, tmp_path):
    done = train_py(tmp_path, tiny_archive, "logger=csv")
    run = tmp_path / "run"
    val, train = rows(run, "val"), rows(run, "train")
    assert [step(r) for r in val] == [1, 2, 3] == [step(r) for r in train]
    record = json.loads((run / "metrics.json").read_text())
    assert float(val[-1]["val/acc"]) == record["metrics"]["val/acc"]
    assert float(val[-1]["val/loss"]) == record["metrics"]["val/loss"]
    (test,) = rows(run, "test")
    assert float(test["test/acc"]) == record["metrics"]["test/acc"]
    assert not list(run.glob("events.out.tfevents.*"))  # csv alone: no TensorBoard files
    assert "(curves: metrics.csv)" in done.stdout and "not empty" not in done.stdout + done.stderr


def test_many_writes_tensorboard_and_csv_side_by_side(tiny_archive, tmp_path):
    train_py(tmp_path, tiny_archive, "logger=many", epochs=2)
    run = tmp_path / "run"
    assert [step(r) for r in rows(run, "val")] == [1, 2]
    assert list(run.glob("events.out.tfevents.*")) and (run / "hparams.yaml").is_file()


@pytest.mark.slow  # 1.5 s or more on 2 cores (--durations, 2026-12-07)
def test_a_resumed_run_keeps_its_earlier_rows_and_logs_a_rerun_epoch_once(tiny_archive, tmp_path):
    train_py(tmp_path, tiny_archive, "logger=csv", epochs=2)
    run = tmp_path / "run"
    first = rows(run, "val")
    # An epoch 3 logged after the last checkpoint (a crash before it was saved): the resume runs it again.
    with (run / "metrics.csv").open("a", newline="") as file:
        header = next(csv.reader((run / "metrics.csv").open()))
        csv.DictWriter(file, header).writerow({"step": 3, "val/loss": 9.0, "val/acc": 0.123})
    train_py(tmp_path, tiny_archive, "logger=csv", "ckpt_path=last", epochs=4)
    val = rows(run, "val")
    assert [step(r) for r in val] == [1, 2, 3, 4]
    assert val[:2] == first[:2] and float(val[2]["val/acc"]) != 0.123

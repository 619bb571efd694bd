"""compare reads a run's curves whichever TensorBoard names they carry: the names the model logs (train/loss,
val/acc, ...: runs from 2026-12-08 on) or loss/train, acc/val, ... (runs from before), both at step = epoch. The
factorization's per-step train/loss is no epoch curve, and HPARAMS' `sweep` column (where a run lies) no setting to
pool by. Runs are written straight as event files, so every value is known."""

from __future__ import annotations

from pathlib import Path

import pytest
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summaries

from overfit.compare import load_runs, pool_runs
from overfit.compare.runs import load_run
from overfit.runs.tensorboard import session_summaries

CURVES = {
    "train/loss": (0.6, 0.4, 0.3),
    "train/acc": (0.7, 0.8, 0.9),
    "val/loss": (0.5, 0.45, 0.5),
    "val/acc": (0.75, 0.8, 0.78),
}
OLD = {"train/loss": "loss/train", "train/acc": "acc/train", "val/loss": "loss/val", "val/acc": "acc/val"}
TESTED = 2  # the epoch whose weights were tested (early stopping restored them)


def write_run(run_dir: Path, names: dict, summaries: list) -> Path:
    """Three epochs of curves under `names` (the model's name -> the tag written), test metrics at TESTED."""
    writer = SummaryWriter(str(run_dir))
    for epoch in (1, 2, 3):
        for tag, values in CURVES.items():
            writer.add_scalar(names.get(tag, tag), values[epoch - 1], epoch)
    writer.add_scalar("test/loss", 0.45, TESTED)
    writer.add_scalar("test/acc", 0.8, TESTED)
    writer.add_scalar("train/acc_eval", 0.95, 3)
    for summary in summaries:
        writer.file_writer.add_summary(summary)
    writer.close()
    return run_dir


def test_old_and_new_tags_read_as_the_same_curves(tmp_path):
    old = write_run(tmp_path / "old", OLD, list(hparams_summaries({"model.variant": "dropout", "seed": 0}, {})))
    new = write_run(tmp_path / "new", {}, session_summaries({"model.variant": "dropout", "seed": 1}, "001_dropout"))
    for run in map(load_run, (old, new)):
        assert sorted(run.curves) == sorted(CURVES), run.name
        for tag, values in CURVES.items():  # float32 in the event file
            assert run.curves[tag] == pytest.approx(dict(zip((1, 2, 3), values))), (run.name, tag)
        assert run.test_epoch == run.restored_epoch == TESTED and run.problems == [], run.name
        assert run.row()["gap"] == pytest.approx(0.95 - 0.78)


def test_a_per_step_train_loss_without_accuracy_is_no_epoch_curve(tmp_path):
    """The factorization logs train/loss and train/gap every step: 100 steps are not 100 epochs."""
    writer = SummaryWriter(str(tmp_path / "factorization"))
    for step in range(100):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalar("train/gap", 0.5 / (step + 1), step)
    writer.close()
    assert load_run(tmp_path / "factorization").curves == {}


def test_runs_of_two_sweeps_pool_by_their_settings_not_by_where_they_lie(tmp_path):
    for seed, sweep in ((0, "12-08_10-00-00"), (1, "12-08_11-00-00")):
        params = {"model.variant": "dropout", "seed": seed, "sweep": sweep}
        write_run(tmp_path / sweep / f"0_dropout_s{seed}", {}, session_summaries(params, f"000_dropout_s{seed}"))
    runs = load_runs(tmp_path)
    assert [sorted(r.hparams) for r in runs] == [["model.variant", "seed"]] * 2  # no `sweep` setting
    rows = pool_runs(runs)
    assert len(rows) == 1 and rows[0]["n"] == 2

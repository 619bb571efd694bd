"""The whole comparison: `python train.py experiment=regularization seeds=1` (six variants, one sweep dir) on the
tiny archive, then `scripts/compare.py` on it: figures, table, HPARAMS sessions, subsets, seeds, empty dirs.
What TensorBoard itself shows of such a sweep: test_tensorboard.py."""

from __future__ import annotations

import csv
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import forked
import matplotlib.image
import pytest
from conftest import REPO, tiny_overrides
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from overfit.compare import VARIANTS, load_runs, read_hparams
from overfit.train import train


def run_py(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    """`python <args>` from the repository root, the tests' callbacks importable (PYTHONPATH=tests), in a child
    forked from a process that imported torch and co. once (tests/forked.py): a process of its own, less ~7 s."""
    env = {**os.environ, "PYTHONPATH": str(REPO / "tests")}
    return forked.run([sys.executable, *args], cwd=REPO, env=env, timeout=timeout)


def sweep_overrides(archive: Path, tmp: Path, epochs: int = 1) -> list[str]:
    """conftest's shrunk run, minus paths.output_dir: in a multirun each job's dir comes from Hydra. Without the
    comparison a sweep writes at its end (seconds of figures): test_sweeps.py tests it, with COMPARE_AT_END."""
    shrunk = [o for o in tiny_overrides(archive, tmp, epochs) if not o.startswith("paths.output_dir=")]
    return [*shrunk, NO_COMPARE_AT_END]


NO_COMPARE_AT_END = "hydra.callbacks.compare.enabled=false"


def run_sweep(archive: Path, tmp: Path, *overrides: str, epochs: int = 1) -> Path:
    """`python train.py experiment=regularization <overrides>`, shrunk, into <tmp>/sweep; returns that dir."""
    result = run_py(
        "train.py",
        "experiment=regularization",
        *overrides,
        *sweep_overrides(archive, tmp, epochs),
        f"hydra.sweep.dir={tmp / 'sweep'}",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp / "sweep"


@pytest.fixture(scope="module")
def sweep(tiny_archive, tmp_path_factory) -> Path:
    return run_sweep(tiny_archive, tmp_path_factory.mktemp("regularization"), "seeds=1")


@pytest.mark.slow
def test_one_word_runs_all_six_variants_into_one_sweep_dir(sweep):
    runs = sorted(p.name for p in sweep.iterdir() if p.is_dir())
    assert runs == sorted(f"{i}_{v}_s0" for i, v in enumerate(VARIANTS))
    for run in runs:  # each its own TensorBoard run, named by its variant and seed: the events lie in the run dir
        assert list((sweep / run).glob("events.out.tfevents.*")), run
        assert (sweep / run / "metrics.json").is_file()
    assert not (sweep.parent / "logs" / "multiruns").exists()  # no second sweep anywhere else


@pytest.mark.slow
def test_hparams_sessions_hold_variant_and_the_metrics_scalars(sweep):
    for i, variant in enumerate(VARIANTS):
        acc = EventAccumulator(str(sweep / f"{i}_{variant}_s0"))
        acc.Reload()
        params, metric_tags = read_hparams(acc)  # ranked names ("00 model.variant") read back as config keys
        assert params["model.variant"] == variant and params["seed"] == 0
        assert params["model.optimizer"] in ("RMSprop", "Adam") and params["model.optimizer.lr"] > 0
        # no experiment definition: TensorBoard derives the HPARAMS tab from the sessions in view
        assert metric_tags == []
        # the HPARAMS tab's metric columns: the run's scalars, under the names metrics.json uses
        assert {
            "test/acc",
            "test/loss",
            "val/acc_best",
            "time/train_s",
            "val/loss",
            "val/acc",
            "train/loss",
            "train/acc",
            "train/acc_eval",  # the final weights on the train split, dropout off (the gap's train acc)
            "train/loss_eval",
            # calibration (models/calibration.py): per-epoch val curves and the test split, raw and at T
            *("val/ece", "val/auroc", "val/brier", "test/ece", "test/auroc", "test/brier"),
            *("test/ece_scaled", "test/loss_scaled", "test/brier_scaled", "test/temperature"),
        } == set(acc.Tags()["scalars"])


@pytest.mark.slow
def test_compare_writes_figures_and_table(sweep, tmp_path):
    out = tmp_path / "cmp"
    result = run_py("scripts/compare.py", str(sweep), "--out", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "found 6 run(s)" in result.stdout and all(v in result.stdout for v in VARIANTS)
    assert "warning" not in result.stderr + result.stdout and not (out / "warnings.txt").exists()

    pngs = sorted(p.name for p in out.glob("*.png"))
    expected = (
        [f"curves_{v}.png" for v in VARIANTS]
        + [f"val_loss_baseline_vs_{v}.png" for v in VARIANTS[1:]]
        + ["train_loss_baseline_vs_big.png", "curves_pooled.png", "val_all_variants.png", "remedies.png"]
        + ["reliability.png", "ece_vs_epoch.png"]  # calibration: compare/calibration_plots.py
    )
    assert pngs == sorted(expected)
    for name in pngs:
        image = matplotlib.image.imread(out / name)  # a valid PNG, not just a file
        assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100 and image.std() > 0, name
        assert 0 < (out / name).stat().st_size < 200_000, name

    rows = list(csv.DictReader(open(out / "comparison.csv")))
    assert [r["variant"] for r in rows] == list(VARIANTS) and [r["run"] for r in rows] == list(VARIANTS)
    for r in rows:  # epochs count from 1; the test ran on the weights of the last (only) epoch
        assert int(r["epochs"]) == 1 and r["best_val_epoch"] == "1" and r["tested_epoch"] == "1"
        for key in ("best_val_acc", "test_acc"):
            assert 0.0 <= float(r[key]) <= 1.0, (r["run"], key)
        for key in ("final_val_loss", "test_loss", "train_s"):
            assert 0.0 < float(r[key]) < 100.0 and math.isfinite(float(r[key])), (r["run"], key)
    table = (out / "comparison.md").read_text().splitlines()
    assert len(table) == 2 + 6 and table[2].startswith("| baseline | 1 |")
    assert all(r["problems"] == "" for r in rows)

    # one seed each: six pooled rows of n = 1 (no CI), each non-baseline one paired on seed 0
    pooled = list(csv.DictReader(open(out / "pooled.csv")))
    assert [r["variant"] for r in pooled] == list(VARIANTS) and {r["n"] for r in pooled} == {"1"}
    assert {r["test_acc_ci95"] for r in pooled} == {""}
    assert [r["n_paired"] for r in pooled] == ["0"] + ["1"] * 5
    for r, per_run in zip(pooled, rows):
        assert float(r["test_acc_mean"]) == pytest.approx(float(per_run["test_acc"]))
    assert "(n=1, no CI)" in (out / "pooled.md").read_text()


@pytest.mark.slow
def test_compare_defaults_to_comparison_subdir_and_handles_a_subset(sweep, tmp_path):
    subset = tmp_path / "subset"
    for name in ("0_baseline_s0", "4_dropout_s0"):
        shutil.copytree(sweep / name, subset / name)
    result = run_py("scripts/compare.py", str(subset))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "found 2 run(s)" in result.stdout
    pngs = sorted(p.name for p in (subset / "comparison").glob("*.png"))
    assert pngs == [
        "curves_baseline.png",
        "curves_dropout.png",
        "curves_pooled.png",
        "ece_vs_epoch.png",
        "reliability.png",
        "remedies.png",
        "val_all_variants.png",
        "val_loss_baseline_vs_dropout.png",
    ]
    # re-running ignores its own output dir
    again = run_py("scripts/compare.py", str(subset))
    assert again.returncode == 0 and "found 2 run(s)" in again.stdout


@pytest.mark.slow
def test_compare_on_a_dir_without_runs_is_a_one_line_error(tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    for target in (tmp_path / "empty", tmp_path / "missing"):
        result = run_py("scripts/compare.py", str(target))
        assert result.returncode == 2
        assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
        assert str(target) in result.stderr and "Traceback" not in result.stderr


def test_runs_of_one_variant_with_different_seeds_get_distinct_labels(train_cfg, tmp_path):
    for seed in (0, 1):
        train(train_cfg("model=small", f"seed={seed}", f"paths.output_dir={tmp_path / 'logs' / f'run{seed}'}"))
    runs = load_runs(tmp_path / "logs")
    assert [r.label for r in runs] == ["small seed 0", "small seed 1"]
    assert [r.row()["seed"] for r in runs] == [0, 1]

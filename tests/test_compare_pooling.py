"""Pooling seeds in compare.py: n, mean, 95% CI, paired differences to baseline, the pooled tables, a seed run
twice. Runs are written straight as TensorBoard event files in Lightning's layout (an `epoch` scalar at each
logging step), so every value is known. Sweeps over train size and width, and the figures: test_compare_sweeps.py."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest
from scipy import stats
from torch.utils.tensorboard import SummaryWriter
from torch.utils.tensorboard.summary import hparams as hparams_summary

from overfit.compare import load_runs, pool_runs, write_comparison
from overfit.compare.stats import mean_ci95

HIDDEN = {
    "baseline": "[16, 16]",
    "small": "[4, 4]",
    "big": "[512, 512]",
    "l2": "[16, 16]",
    "dropout": "[16, 16]",
    "early_stopping": "[16, 16]",
}


def write_run(
    run_dir: Path,
    variant: str,
    seed: int,
    test_acc: float,
    *,
    val_acc=(0.6, 0.7),
    train_acc=(0.7, 0.9),
    val_loss=(0.6, 0.5),
    train_loss=(0.5, 0.3),
    test_loss: float = 0.4,
    train_acc_eval: float | None = -1.0,
    **extra,
) -> Path:
    """A finished run: per-epoch curves, test metrics and the HPARAMS summary, as overfit.train leaves them.
    train_acc_eval: the eval-mode train acc at the last epoch (default -1: the last train acc; None: not logged)."""
    writer = SummaryWriter(str(run_dir / "tensorboard"))
    for epoch, (vl, va, tl, ta) in enumerate(zip(val_loss, val_acc, train_loss, train_acc)):
        step = 5 * epoch + 4
        for tag, value in (
            ("val/loss", vl),
            ("val/acc", va),
            ("epoch", epoch),
            ("train/loss", tl),
            ("train/acc", ta),
            ("epoch", epoch),
        ):
            writer.add_scalar(tag, value, step)
    step = 5 * len(val_loss)
    for tag, value in (("test/loss", test_loss), ("test/acc", test_acc), ("epoch", len(val_loss) - 1)):
        writer.add_scalar(tag, value, step)
    writer.add_scalar("time/train_s", 1.5, 0)
    if train_acc_eval is not None:  # at the last epoch, 1-based, as BagOfWordsMLP.on_train_end logs it
        writer.add_scalar("train/acc_eval", train_acc[-1] if train_acc_eval == -1 else train_acc_eval, len(val_loss))
    params = {
        "model.variant": variant,
        "model.hidden": HIDDEN.get(variant, "[16, 16]"),
        "model.dropout": 0.0,
        "model.optimizer.lr": 0.001,
        "data.batch_size": 512,
        "seed": seed,
    }
    params.update({k.replace("__", "."): v for k, v in extra.items()})
    for summary in hparams_summary(params, {"test/acc": test_acc, "test/loss": test_loss}):
        writer._get_file_writer().add_summary(summary)
    writer.close()
    return run_dir


def t_ci(values) -> float:
    n = len(values)
    mean = sum(values) / n
    s = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    return stats.t.ppf(0.975, n - 1) * s / math.sqrt(n)


def test_mean_ci95_by_hand():
    n, mean, ci = mean_ci95([0.80, 0.82, 0.84])
    assert n == 3 and mean == pytest.approx(0.82)
    assert ci == pytest.approx(stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3))  # s = 0.02
    assert ci == pytest.approx(0.049683, abs=1e-6)
    n, mean, ci = mean_ci95([0.7, float("nan"), None])  # missing values are left out
    assert n == 1 and mean == pytest.approx(0.7) and math.isnan(ci)
    assert mean_ci95([])[0] == 0 and math.isnan(mean_ci95([])[1])


@pytest.fixture
def seeds_sweep(tmp_path) -> Path:
    """baseline and l2 on three seeds each, dropout on one seed."""
    root = tmp_path / "sweep"
    for seed, acc in enumerate((0.80, 0.82, 0.84)):
        write_run(
            root / f"b{seed}",
            "baseline",
            seed,
            acc,
            val_acc=(0.6, 0.7 + seed / 100),
            train_acc=(0.7, 0.9 + seed / 50),
            val_loss=(0.6, 0.5 - seed / 10),
        )
    for seed, acc in enumerate((0.83, 0.86, 0.85)):
        write_run(root / f"l{seed}", "l2", seed, acc)
    write_run(root / "d0", "dropout", 0, 0.81)
    return root


def test_pooled_rows_n_mean_ci_and_paired_difference(seeds_sweep):
    runs = load_runs(seeds_sweep)
    assert runs.warnings == []
    rows = {r["group"]: r for r in pool_runs(runs)}
    assert list(rows) == ["baseline", "l2", "dropout"]  # the notebook's order

    base = rows["baseline"]
    assert base["n"] == 3 and base["seeds"] == [0, 1, 2] and base["variant"] == "baseline"
    assert base["test_acc_mean"] == pytest.approx(0.82, abs=1e-6)
    assert base["test_acc_ci95"] == pytest.approx(stats.t.ppf(0.975, 2) * 0.02 / math.sqrt(3), abs=1e-6)
    assert base["test_loss_mean"] == pytest.approx(0.4, abs=1e-6)
    assert base["test_loss_ci95"] == pytest.approx(0, abs=1e-6)
    # best val acc: 0.70, 0.71, 0.72; min val loss: 0.5, 0.4, 0.3; gap at the last epoch: 0.2, 0.21, 0.22
    assert base["best_val_acc_mean"] == pytest.approx(0.71, abs=1e-6)
    assert base["best_val_acc_ci95"] == pytest.approx(t_ci([0.70, 0.71, 0.72]), abs=1e-6)
    assert base["min_val_loss_mean"] == pytest.approx(0.4, abs=1e-6)
    assert base["min_val_loss_ci95"] == pytest.approx(t_ci([0.5, 0.4, 0.3]), abs=1e-6)
    assert base["gap_mean"] == pytest.approx(0.21, abs=1e-6)
    assert base["gap_ci95"] == pytest.approx(t_ci([0.20, 0.21, 0.22]), abs=1e-6)
    assert base["n_paired"] == 0 and math.isnan(base["test_acc_diff_mean"])  # no difference to itself

    l2 = rows["l2"]  # per seed: 0.83-0.80, 0.86-0.82, 0.85-0.84
    diffs = [0.03, 0.04, 0.01]
    assert l2["n_paired"] == 3 and l2["paired_seeds"] == [0, 1, 2]
    assert l2["test_acc_diff_mean"] == pytest.approx(sum(diffs) / 3, abs=1e-6)
    assert l2["test_acc_diff_ci95"] == pytest.approx(t_ci(diffs), abs=1e-6)

    dropout = rows["dropout"]  # n = 1: a mean, no interval; paired on its one seed
    assert dropout["n"] == 1 and math.isnan(dropout["test_acc_ci95"])
    assert dropout["n_paired"] == 1 and dropout["test_acc_diff_mean"] == pytest.approx(0.01, abs=1e-6)
    assert math.isnan(dropout["test_acc_diff_ci95"])


@pytest.mark.slow
def test_pooled_tables_written(seeds_sweep, tmp_path):
    written = write_comparison(load_runs(seeds_sweep), tmp_path / "cmp")
    assert written["warnings"] == [] and not (tmp_path / "cmp" / "warnings.txt").exists()
    rows = list(csv.DictReader(open(tmp_path / "cmp" / "pooled.csv")))
    assert [r["group"] for r in rows] == ["baseline", "l2", "dropout"]
    for column in (
        "n",
        "test_acc_mean",
        "test_acc_ci95",
        "test_loss_mean",
        "test_loss_ci95",
        "best_val_acc_mean",
        "best_val_acc_ci95",
        "min_val_loss_mean",
        "min_val_loss_ci95",
        "gap_mean",
        "gap_ci95",
        "test_acc_diff_mean",
        "test_acc_diff_ci95",
        "n_paired",
    ):
        assert column in rows[0], column
    assert rows[0]["n"] == "3" and float(rows[0]["test_acc_mean"]) == pytest.approx(0.82, abs=1e-6)
    assert rows[2]["test_acc_ci95"] == ""  # n = 1: empty
    table = (tmp_path / "cmp" / "pooled.md").read_text()
    # in % and pp (runs/numbers.py); pooled.csv keeps the fractions
    assert "| baseline | 3 | 82.0 ± 5.0 |" in table
    assert "| dropout | 1 | 81.0 (n=1, no CI) |" in table
    assert f"| l2 | 3 | 84.7 ± {100 * t_ci([0.83, 0.86, 0.85]):.1f} |" in table
    assert f"+2.7 ± {100 * t_ci([0.03, 0.04, 0.01]):.1f} (n=3)" in table
    per_run = list(csv.DictReader(open(tmp_path / "cmp" / "comparison.csv")))
    assert len(per_run) == 7 and {r["problems"] for r in per_run} == {""}  # the per-run table is still there


@pytest.mark.slow
def test_a_seed_twice_is_pooled_but_not_paired_and_said(tmp_path):
    root = tmp_path / "repeats"
    write_run(root / "b0", "baseline", 0, 0.80)
    write_run(root / "d0", "dropout", 0, 0.82)
    write_run(root / "d0_again", "dropout", 0, 0.84)
    runs = load_runs(root)
    warnings = []
    rows = pool_runs(runs, warnings=warnings)
    dropout = rows[1]
    assert dropout["n"] == 2 and dropout["test_acc_mean"] == pytest.approx(0.83, abs=1e-6)
    assert dropout["n_paired"] == 0 and "seed 0 more than once" in dropout["problems"]
    assert len(warnings) == 1 and str(root / "d0_again" / "tensorboard") in warnings[0]
    assert "seed 0 more than once" in "\n".join(write_comparison(runs, tmp_path / "cmp")["warnings"])


def test_a_sweep_definition_at_the_sweep_root_is_no_run(tmp_path):
    """Sweeps until 2026-12-08 wrote their HPARAMS definition alone into a dir (the study dir, for Optuna)."""
    from tensorboard.compat.proto.summary_pb2 import Summary
    from tensorboard.plugins.hparams import api_pb2, metadata, plugin_data_pb2
    from torch.utils.tensorboard.writer import FileWriter

    root = tmp_path / "sweep"
    write_run(root / "b0", "baseline", 0, 0.80)
    writer = FileWriter(str(root), filename_suffix=".hparams")
    experiment = api_pb2.Experiment(
        hparam_infos=[api_pb2.HParamInfo(name="00 model.variant", type=api_pb2.DATA_TYPE_STRING)],
        metric_infos=[api_pb2.MetricInfo(name=api_pb2.MetricName(tag="test/acc"))],
    )
    meta = metadata.create_summary_metadata(plugin_data_pb2.HParamsPluginData(experiment=experiment))
    writer.add_summary(Summary(value=[Summary.Value(tag=metadata.EXPERIMENT_TAG, metadata=meta)]))
    writer.close()
    runs = load_runs(root)
    assert [r.name for r in runs] == ["b0"] and runs.warnings == []

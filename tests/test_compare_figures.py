"""Figures that cannot lie: no band outside a metric's range, the seeds themselves rather than a t-band over a few,
a headline figure whose labels say which remedy by how much, a gap of like with like, seeds that split said so.
Runs written as event files by test_compare_pooling.write_run; figures caught before they are saved."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
from matplotlib.collections import PolyCollection
from test_compare_pooling import write_run

import overfit.compare.plots as plots
from overfit.compare import load_runs, pool_runs, write_comparison
from overfit.compare.headline import plot_remedies
from overfit.compare.stats import band
from overfit.compare.study_tables import long_table, short_table
from overfit.compare.tables import comparison_tables

STUCK = (0.5, 0.5, 0.5, 0.85)  # a seed at chance for three epochs, then learning
FINE = (0.80, 0.84, 0.85, 0.86)


@pytest.fixture
def figures(monkeypatch):
    """Every figure overfit.compare saves, kept open: {file name: Figure}."""
    caught = {}

    def keep(fig, path, tight=True):
        caught[path.name] = fig
        return path

    for module in ("plots", "pooled_plots", "headline"):
        monkeypatch.setattr(f"overfit.compare.{module}._save", keep)
    yield caught
    plt.close("all")


def four_epochs(**kw):
    return dict(val_loss=(0.6, 0.5, 0.45, 0.5), train_loss=(0.5, 0.4, 0.3, 0.2), train_acc=(0.7, 0.8, 0.9, 0.95), **kw)


@pytest.fixture
def split_sweep(tmp_path):
    """baseline: 3 seeds, fine; small: seed 0 stuck at chance for 3 epochs; dropout: fine, better."""
    root = tmp_path / "sweep"
    for seed in range(3):
        write_run(root / f"b{seed}", "baseline", seed, 0.85 + seed / 200, val_acc=FINE, **four_epochs())
        stuck = seed == 0
        small = dict(val_acc=STUCK if stuck else FINE, train_acc_eval=0.6 if stuck else 0.97)
        write_run(root / f"s{seed}", "small", seed, 0.70 if stuck else 0.86, **{**four_epochs(), **small})
        write_run(root / f"d{seed}", "dropout", seed, 0.87 + seed / 200, val_acc=FINE, **four_epochs())
    return root


def test_band_is_clipped_to_the_metric_and_absent_below_many_seeds():
    assert band([0.5, 0.87, 0.87], 0.0, 1.0) is None  # 3 seeds: no band (t = 4.3; it ran from 0.2 to 1.3)
    mean, low, high = band([0.99, 1.0, 1.0, 0.9, 1.0, 0.97], 0.0, 1.0)
    assert high == 1.0 and 0.0 <= low < mean < 1.0  # the raw t-interval runs past 1
    assert band([0.01, 0.02, 0.3, 0.01, 0.0], 0.0)[1] == 0.0  # a loss band never below 0


def test_few_seeds_are_drawn_as_seeds_not_a_band(split_sweep, figures):
    write_comparison(load_runs(split_sweep), split_sweep / "cmp")
    fig = figures["curves_pooled.png"]
    for ax in fig.axes:
        assert not [c for c in ax.collections if isinstance(c, PolyCollection)], ax.get_title()  # no band
        ys = [y for line in ax.get_lines() for y in line.get_ydata()]
        assert ys and 0.0 <= min(ys) and (max(ys) <= 1.0 or "loss" in ax.get_title())
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert "small (n=3): seeds split, no mean" in labels and "baseline (n=3)" in labels
    acc = fig.axes[1]
    # baseline: 3 thin seed lines + 1 mean; small (split): 3 seed lines, no mean (a legend handle only)
    assert sum(1 for line in acc.get_lines() if line.get_linewidth() == 0.8) == 3 + 3  # baseline's and dropout's


def test_many_seeds_get_a_band_within_the_range(tmp_path, figures):
    root = tmp_path / "many"
    for seed in range(6):  # accuracies close to 1: an unclipped t-band would leave [0, 1]
        acc = (0.97, 0.99, 1.0, 0.999 if seed % 2 else 0.93)
        write_run(root / f"b{seed}", "baseline", seed, 0.9, val_acc=acc, **four_epochs())
    write_comparison(load_runs(root), root / "cmp")
    acc_ax = figures["curves_pooled.png"].axes[1]
    bands = [c for c in acc_ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 1
    ys = bands[0].get_paths()[0].vertices[:, 1]
    assert ys.max() <= 1.0 + 1e-9 and ys.min() >= 0.0


def test_split_seeds_are_said_in_the_tables(split_sweep):
    for seed in range(3):  # big: seed 0 at chance for two epochs only (slow, not stuck): no split
        val_acc = (0.5, 0.51, 0.8, 0.85) if seed == 0 else FINE
        write_run(split_sweep / f"g{seed}", "big", seed, 0.85, val_acc=val_acc, **four_epochs())
    rows = {r["group"]: r for r in pool_runs(load_runs(split_sweep))}
    assert rows["big"]["split"] == "" and rows["big"]["at_chance"] == ""
    small = rows["small"]
    assert small["split"] == "seed 0 at chance in epochs 1-3" and small["diff_split"] == small["split"]
    assert rows["baseline"]["split"] == "" and rows["dropout"]["split"] == ""
    assert small["test_acc_seeds"] == pytest.approx([0.70, 0.86, 0.86])
    table = short_table(list(rows.values()))
    assert "| small (seeds split: seed 0 at chance in epochs 1-3) | 70.0 / 86.0 / 86.0 (split) |" in table
    assert "±" not in table.split("small")[1].split("\n")[0]  # no interval for the split row
    assert "| baseline | 85.5 ± " in table
    assert "70.0 / 86.0 / 86.0 (split)" in long_table(list(rows.values()))


def test_the_gap_is_eval_mode_train_acc_minus_val_acc(split_sweep, tmp_path, figures):
    runs = {r.label: r for r in load_runs(split_sweep)}
    assert runs["small seed 0"].row()["gap"] == pytest.approx(0.6 - 0.85)  # train/acc_eval, not running 0.95
    assert runs["small seed 1"].row()["gap"] == pytest.approx(0.97 - 0.86)
    plots.plot_run(runs["small seed 1"], tmp_path)  # the per-run figure shows that point too, at the last epoch
    (point,) = [line for line in figures["curves_small_seed_1.png"].axes[1].get_lines() if line.get_marker() == "D"]
    assert list(point.get_xdata()) == [4] and list(point.get_ydata()) == [pytest.approx(0.97)]
    old = tmp_path / "old"
    write_run(old / "b0", "baseline", 0, 0.8, train_acc_eval=None, **four_epochs(val_acc=FINE))
    (run,) = load_runs(old)
    assert run.row()["gap"] == pytest.approx(0.95 - 0.86)  # the running train acc, and said so:
    assert run.row()["problems"] == "gap from the running train acc"
    assert "not like with like" in " ".join(load_runs(old).warnings)


def test_headline_figure_labels_which_remedy_by_how_much(split_sweep, figures):
    parts = comparison_tables(load_runs(split_sweep))
    rows = {g.row["group"]: g.row for g in parts["groups"]}
    plot_remedies(parts["groups"], "baseline", split_sweep)
    acc_ax, gap_ax, loss_ax = figures["remedies.png"].axes
    notes = [t.get_text() for t in acc_ax.texts]
    drop = rows["dropout"]["test_acc_diff_mean"]
    assert notes == [
        "reference",
        f"{100 * rows['small']['test_acc_diff_mean']:+.1f} pp, split",
        f"{100 * drop:+.1f} pp",
    ]
    assert drop == pytest.approx(0.02) and notes[2] == "+2.0 pp"
    gap_notes = [t.get_text() for t in gap_ax.texts]
    assert gap_notes[2] == f"{100 * (rows['dropout']['gap_mean'] - rows['baseline']['gap_mean']):+.1f} pp"
    ticks = [t.get_text() for t in acc_ax.get_yticklabels()]
    assert ticks == ["baseline", "small\nseed 0 at 50%\nin epochs 1-3", "dropout"]  # the split, named
    dots = [line for line in acc_ax.get_lines() if line.get_marker() == "o"]
    assert [len(line.get_xdata()) for line in dots] == [3, 3, 3]  # every seed drawn
    assert {t.get_text() for t in loss_ax.texts} == {"baseline", "small", "dropout"}  # lines labelled at their end
    assert loss_ax.get_ylim()[0] == 0 and math.isfinite(loss_ax.get_ylim()[1])

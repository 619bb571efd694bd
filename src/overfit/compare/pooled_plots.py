"""The pooled figures: curves per epoch (curves_pooled*.png) and, for sweeps of train size or width, test acc and
gap against them (test_acc_gap_vs_*.png); from pooled `Group`s, written by tables.write_comparison.

Each seed is drawn (thin lines, or dots against a swept value) with the seeds' mean bold. No t-interval band over
fewer than MANY_SEEDS seeds (at n = 3 it is 4.3 standard errors wide: one seed stuck at 50% stretched it from 0.2
to 1.3 on an accuracy), and from MANY_SEEDS on the band is clipped to the metric's range (BOUNDS). Where a
variant's seeds split (pooling.py: some stuck at chance), no mean line: the seeds, marked.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.ticker import MaxNLocator

from overfit.compare.labels import HIDDEN, TRAIN_SIZE, fmt_value, plain, variant_order, width
from overfit.compare.plots import _color, _save, _suffix
from overfit.compare.pooling import Group
from overfit.compare.stats import MANY_SEEDS, band, mean_ci95

BOUNDS = {"acc": (0.0, 1.0), "loss": (0.0, math.inf), "gap": (-1.0, 1.0)}  # what a band may never leave


def _bounds(metric: str) -> tuple[float, float]:
    return BOUNDS["gap" if "gap" in metric else "loss" if "loss" in metric else "acc"]


def _spread(
    ax,
    seeds: list[dict],
    color,
    label: str,
    metric: str,
    scale: float = 1.0,
    points: bool = False,
    split: bool = False,
    split_at: frozenset = frozenset(),
) -> dict:
    """Each seed's values ({x: value}, one dict per seed) as a thin line (`points`: dots), their mean as a bold line;
    a 95% t-band, clipped to the metric's range, only from MANY_SEEDS seeds on. Returns {x: mean}.
    `split` (some seeds stuck at chance, pooling.py): no mean line, which would sit between the two outcomes; the
    seeds are drawn bolder and the label says so; `split_at`: the x values where they split (the mean line breaks).
    `points`: the seeds as dots, nudged apart by variant (`color`) on a log x axis."""
    xs = sorted({x for seed in seeds for x in seed})
    means = {x: mean_ci95(seed[x] for seed in seeds if x in seed)[1] for x in xs}
    for seed in seeds:
        mine = sorted(seed)
        ys = [scale * seed[x] for x in mine]
        if points:  # hollow where the seeds split: said where it happens, not only in the title
            for hollow in (False, True):
                at = [(x, y) for x, y in zip(mine, ys) if (x in split_at) == hollow]
                style = {"markerfacecolor": "none", "markeredgewidth": 1.2} if hollow else {"markeredgewidth": 0}
                ax.plot([x for x, _ in at], [y for _, y in at], "o", color=color, alpha=0.7, markersize=4.5, **style)
        else:
            ax.plot(mine, ys, "-", color=color, alpha=0.8 if split else 0.4, linewidth=1.4 if split else 0.8)
    if split:
        ax.plot([], [], "-", color=color, linewidth=1.4, label=f"{label}: seeds split, no mean")
        return means
    ys = [math.nan if x in split_at else scale * means[x] for x in xs]
    ax.plot(xs, ys, "-", color=color, label=label, linewidth=2, marker=None if points else "o", markersize=3)
    bands = {x: band((seed[x] for seed in seeds if x in seed), *_bounds(metric)) for x in xs}
    if any(bands.values()):
        ax.fill_between(
            xs,
            [scale * b[1] if b else math.nan for b in bands.values()],
            [scale * b[2] if b else math.nan for b in bands.values()],
            color=color,
            alpha=0.15,
            linewidth=0,
        )
    return means


def _how(groups: list[Group], points: bool = False) -> str:
    """What the spread drawn shows, for a title."""
    fewest, seed = min(g.row["n"] for g in groups), "dots: each seed" if points else "thin: each seed"
    text = "mean and 95% CI over seeds" if fewest >= MANY_SEEDS else f"{seed}; bold: their mean" if fewest > 1 else ""
    if any(g.row.get("split") for g in groups):
        text += (
            "; hollow dots, no mean: a variant's seeds split (some stuck at 50%)"
            if points
            else ("; no mean where a variant's seeds split (some stuck at 50%)")
        )
    return text.strip("; ") or "one seed each"


def _partition(groups: list[Group], swept: list[str], exclude: str | None = None) -> dict:
    """{(swept key, value) pairs but `exclude`: groups} -- one figure per combination of the other swept values."""
    parts = defaultdict(list)
    for g in groups:
        parts[tuple((k, fmt_value(g.hparams.get(k))) for k in swept if k != exclude)].append(g)
    return parts


def plot_pooled_curves(groups: list[Group], swept: list[str], out: Path) -> list[Path]:
    """Val loss and val acc per epoch, one colour per variant: each seed a thin line, their mean a bold one (a 95%
    band only from MANY_SEEDS seeds on); stars: each seed's early-stopping epoch, on the mean line.

    An epoch's mean is over the runs that reached it (early stopping ends some runs sooner)."""
    paths = []
    for part, members in _partition(groups, swept).items():
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, tag, name in zip(axes, ("val/loss", "val/acc"), ("validation loss", "validation accuracy")):
            for g in members:
                seeds = [r.curves[tag] for r in g.runs if r.curves.get(tag)]
                if not seeds:
                    continue
                color = _color(g.row["variant"])
                label, split = f"{g.row['variant']} (n={g.row['n']})", bool(g.row.get("split"))
                means = _spread(ax, seeds, color, label, tag, split=split)
                restored = sorted({r.restored_epoch for r in g.runs if r.restored_epoch in means})
                if restored and not split:
                    star = {"color": color, "markersize": 12, "markeredgecolor": "black", "zorder": 5}
                    ax.plot(restored, [means[e] for e in restored], "*", **star)
            ax.set(xlabel="epoch", ylabel=name, title=f"{name}{_suffix(part, swept)[1]}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
        fig.suptitle(f"{_how(members)}; ★ early stopping's tested epoch", fontsize=9)
        paths.append(_save(fig, out / f"curves_pooled{_suffix(part, swept)[0]}.png"))
    return paths


def _varies(groups: list[Group], x) -> bool:
    """Whether x(hparams) takes more than one value within some variant."""
    seen = defaultdict(set)
    for g in groups:
        if x(g.hparams) is not None:
            seen[g.row["variant"]].add(x(g.hparams))
    return any(len(v) > 1 for v in seen.values())


SWEEP_PANELS = (("test_acc", "test accuracy, %", 100), ("gap", "gap (train acc - val acc, dropout off), pp", 100))
ECE_PANELS = (("test_ece", "test ECE (as trained)", 1), ("test_ece_scaled", "test ECE at T (temperature-scaled)", 1))


def plot_sweep(
    groups: list[Group], swept: list[str], key: str, out: Path, panels=SWEEP_PANELS, stem: str = "test_acc_gap"
) -> list[Path]:
    """Test acc and generalization gap (or other `panels`: (row key, y label, scale)) against `key`
    (data.train_size: log x; model.hidden: first layer's width, log2 x), one line per variant, each seed a dot;
    one figure per combination of the other swept values: <stem>_vs_<train_size|width>.png."""
    if key == TRAIN_SIZE:
        x, xlabel, name, base = (
            (lambda h: plain(h.get(TRAIN_SIZE)) if isinstance(h.get(TRAIN_SIZE), (int, float)) else None),
            "train size (examples)",
            "train_size",
            10,
        )
    else:
        x, xlabel, name, base = (lambda h: width(h.get(HIDDEN))), "width (first hidden layer)", "width", 2
    if key not in swept or not _varies(groups, x):
        return []
    paths = []
    for part, members in _partition(groups, swept, exclude=key).items():
        if not any(math.isfinite(g.row.get(f"{m}_mean", math.nan)) for g in members for m, _, _ in panels):
            continue  # runs from before a metric was measured (ECE): no empty figure
        fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.8))
        for ax, (metric, ylabel, scale) in zip(axes, panels):
            by_variant = defaultdict(list)
            for g in members:
                if x(g.hparams) is not None and math.isfinite(g.row[f"{metric}_mean"]):
                    by_variant[g.row["variant"]].append(g)
            variants = sorted(by_variant, key=variant_order)
            for i, variant in enumerate(variants):
                nudge = 1 + 0.06 * (i - (len(variants) - 1) / 2)  # variants side by side at each x (log axis)
                seeds = defaultdict(dict)  # seed -> {x: value}
                for g in by_variant[variant]:
                    for r in g.runs:
                        seeds[str(r.seed)][x(g.hparams) * nudge] = r.row()[metric]
                split = frozenset(x(g.hparams) * nudge for g in by_variant[variant] if g.row.get("split"))
                _spread(ax, list(seeds.values()), _color(variant), variant, metric, scale, True, split_at=split)
            if metric == "gap":
                ax.axhline(0, color="gray", linewidth=0.8)
            ax.set_xscale("log", base=base)
            ax.set(
                xlabel=xlabel,
                ylabel=ylabel,
                title=f"{ylabel.split(' (')[0].split(',')[0]} vs {name.replace('_', ' ')}{_suffix(part, swept)[1]}",
            )
            ax.legend(fontsize=7)
        fig.suptitle(_how(members, points=True), fontsize=9)
        paths.append(_save(fig, out / f"{stem}_vs_{name}{_suffix(part, swept)[0]}.png"))
    return paths

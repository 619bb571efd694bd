"""How far to trust each variant's confidence, drawn: reliability diagrams and ECE per epoch (seeds pooled).

reliability.png, one panel per pooled group: each bin of P(positive) (15 equal-width bins, models/calibration.py)
at its mean predicted probability against the fraction of positive reviews in it, the seeds' test reviews pooled
(their bin sums added), as trained (filled) and after temperature scaling (hollow); the diagonal is a calibrated
model. Bars underneath: how many reviews fall in each bin (an overconfident model piles them at 0 and 1). The
title gives the pooled test ECE as trained and at T. The bins come from each run's metrics.json (train.py).

ece_vs_epoch*.png: the validation ECE after each epoch, one colour per variant, each seed thin, the mean bold
(as curves_pooled*.png), one figure per combination of the swept values but the variant.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import LogLocator, MaxNLocator, NullFormatter

from overfit.compare.plots import _color, _save, _suffix
from overfit.compare.pooled_plots import _how, _partition, _spread
from overfit.compare.pooling import Group
from overfit.models.calibration import bins_ece


def pooled_bins(group: Group, key: str = "bins") -> dict | None:
    """The group's seeds' reliability bins added up (count, sum_p, sum_y per bin); None if a run lacks them.

    The last bin (P = 1.0 exactly, torchmetrics' rule) is folded into the one below it for drawing."""
    found = [r.calibration.get(key) for r in group.runs]
    if not found or any(not b for b in found) or len({len(b["count"]) for b in found}) != 1:
        return None
    sums = {k: np.sum([b[k] for b in found], axis=0) for k in ("count", "sum_p", "sum_y")}
    if len(found[0]["edges"]) < len(sums["count"]) + 1:  # n + 1 slots over n + 1 edges: fold the p = 1.0 slot
        sums = {k: np.append(v[:-2], v[-2] + v[-1]) for k, v in sums.items()}
    return {**sums, "edges": np.asarray(found[0]["edges"])}


def plot_reliability(groups: list[Group], out: Path) -> Path | None:
    drawn = [(g, pooled_bins(g), pooled_bins(g, "bins_scaled")) for g in groups]
    drawn = [d for d in drawn if d[1] is not None]
    if not drawn:
        return None
    cols = min(len(drawn), 6)
    rows = math.ceil(len(drawn) / cols)
    fig = plt.figure(figsize=(max(3.2 * cols, 6.5), 3.9 * rows + 0.6))
    grid = fig.add_gridspec(
        2 * rows, cols, height_ratios=[3, 1] * rows, hspace=0.35, wspace=0.3, top=1 - 0.7 / (3.9 * rows + 0.6)
    )
    for i, (group, bins, scaled) in enumerate(drawn):
        row, col = divmod(i, cols)
        ax = fig.add_subplot(grid[2 * row, col])
        bars = fig.add_subplot(grid[2 * row + 1, col], sharex=ax)
        color = _color(group.row["variant"])
        ax.plot([0, 1], [0, 1], color="gray", linewidth=0.8, linestyle="--")
        title = f"{group.row['group']} (n={group.row['n']})\npooled ECE {bins_ece(bins):.3f}"
        for found, style in ((bins, {"color": color}), (scaled, {"markerfacecolor": "none", "color": color})):
            if found is None:
                continue
            seen = found["count"] > 0
            mean_p = found["sum_p"][seen] / found["count"][seen]
            freq = found["sum_y"][seen] / found["count"][seen]
            ax.plot(mean_p, freq, "o-", markersize=4, linewidth=1 if "markerfacecolor" in style else 1.5, **style)
        if scaled is not None:
            t = group.row.get("temperature_mean", math.nan)
            title += f", at T={t:.2f}: {bins_ece(scaled):.3f}"
        ax.set(xlim=(0, 1), ylim=(0, 1), title=title)
        ax.title.set_fontsize(8)
        ax.tick_params(labelbottom=False, labelsize=7)
        if col == 0:
            ax.set_ylabel("fraction positive", fontsize=8)
        edges = bins["edges"]
        bars.bar(edges[:-1], bins["count"], width=np.diff(edges), align="edge", color=color, alpha=0.5)
        bars.set_yscale("log")
        bars.yaxis.set_major_locator(LogLocator(numticks=3))
        bars.yaxis.set_minor_formatter(NullFormatter())
        bars.tick_params(labelsize=7)
        bars.set_xlabel("predicted P(positive)", fontsize=8)
        if col == 0:
            bars.set_ylabel("reviews", fontsize=8)
    fig.suptitle(
        "reliability on the test split, seeds pooled\n"
        "filled: as trained; hollow: temperature-scaled; dashed: calibrated",
        fontsize=9,
    )
    return _save(fig, out / "reliability.png", tight=False)


def plot_ece_curves(groups: list[Group], swept: list[str], out: Path) -> list[Path]:
    """Validation ECE per epoch (runs from before it was logged: no figure)."""
    paths = []
    for part, members in _partition(groups, swept).items():
        with_ece = [g for g in members if any(r.curves.get("val/ece") for r in g.runs)]
        if not with_ece:
            continue
        fig, ax = plt.subplots(figsize=(6, 3.8))
        for g in with_ece:
            seeds = [r.curves["val/ece"] for r in g.runs if r.curves.get("val/ece")]
            label, split = f"{g.row['variant']} (n={g.row['n']})", bool(g.row.get("split"))
            _spread(ax, seeds, _color(g.row["variant"]), label, "val/ece", split=split)  # split: no mean line
        ax.set(xlabel="epoch", ylabel="validation ECE", title=f"calibration error per epoch{_suffix(part, swept)[1]}")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(bottom=0)
        ax.legend(fontsize=7)
        fig.suptitle(_how(with_ece), fontsize=9)
        paths.append(_save(fig, out / f"ece_vs_epoch{_suffix(part, swept)[0]}.png"))
    return paths

"""The headline figure of a comparison of variants (remedies.png): which remedy, by how much, at a glance.

Three panels side by side, one row per variant in the notebook's order:
    test accuracy (%)   each seed a dot, the mean a bar, the baseline's mean a dashed line; right: the paired
                        difference to the baseline (same seed), in pp
    gap (pp)            train acc - val acc at the last epoch, both in eval mode (dropout off); right: its
                        difference to the baseline's mean gap
    validation loss     per epoch: each seed a thin line, the mean a bold one, the variant's name at its end;
                        stars: early stopping's tested epochs
Each seed is drawn, never a t-interval over a few of them (one seed at chance would stretch it over the whole
axis); a variant whose seeds split (some stuck at chance: pooling.py) is said so next to its row.
"""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from overfit.compare.plots import _color, _save
from overfit.compare.pooling import Group


def _dots(ax, groups: list[Group], values, reference: Group | None, note) -> None:
    """One row per group: each seed's value a dot, the mean a bar, the reference's mean a dashed line, `note(g)`
    at the row's right end."""
    for y, g in enumerate(groups):
        color, xs = _color(g.row["variant"]), [v for v in values(g) if math.isfinite(v)]
        ax.plot(xs, [y] * len(xs), "o", color=color, alpha=0.7, markersize=7, markeredgecolor="white", zorder=3)
        if xs:  # the mean of seeds that split is no summary: drawn grey
            bar = "gray" if g.row.get("split") else "black"
            ax.plot([sum(xs) / len(xs)], [y], "|", color=bar, markersize=18, markeredgewidth=2.5, zorder=4)
    if reference is not None:
        xs = [v for v in values(reference) if math.isfinite(v)]
        if xs:
            ax.axvline(sum(xs) / len(xs), color="gray", linestyle="--", linewidth=1, zorder=1)
    low, high = ax.get_xlim()
    ax.set_xlim(low, high + 0.55 * (high - low))  # room for the notes at the right
    for y, g in enumerate(groups):
        text, alarm = note(g)
        ax.text(0.98, y, text, transform=ax.get_yaxis_transform(), ha="right", va="center", fontsize=9,
                color="tab:red" if alarm else "black", fontweight="bold" if alarm else "normal")  # fmt: skip
    ax.set_yticks(range(len(groups)), [_name(g) for g in groups])
    for label, g in zip(ax.get_yticklabels(), groups):
        if g.row.get("split"):
            label.set_color("tab:red")
    ax.set_ylim(len(groups) - 0.5, -0.5)  # first variant on top
    ax.grid(axis="x", alpha=0.3)


def _name(g: Group) -> str:
    """A row's name; where its seeds split, which seed sat at chance when (pooling's "seed 0 at chance in epochs
    1-8" -> "small\nseed 0 at 50%\nin epochs 1-8")."""
    split = g.row.get("split")
    return g.row["variant"] + ("\n" + split.replace(" at chance ", " at 50%\n").replace("; ", "\n") if split else "")


def _diff_note(g: Group, reference: Group | None) -> tuple[str, bool]:
    if g is reference:
        return "reference", False
    mean = g.row.get("test_acc_diff_mean", math.nan)
    text = f"{100 * mean:+.1f} pp" if math.isfinite(mean) else "-"
    return (text + ", split", True) if g.row.get("diff_split") else (text, False)


def _gap_note(g: Group, reference: Group | None) -> tuple[str, bool]:
    if g is reference:
        return "reference", False
    diff = g.row["gap_mean"] - reference.row["gap_mean"] if reference is not None else math.nan
    text = f"{100 * diff:+.1f} pp" if math.isfinite(diff) else "-"
    split = g.row.get("split") or (reference is not None and reference.row.get("split"))
    return (text + ", split", True) if split else (text, False)


def plot_remedies(groups: list[Group], reference: str, out: Path) -> Path | None:
    """remedies.png (see the module's doc); None with fewer than two groups or without the reference variant."""
    refs = [g for g in groups if g.row["variant"] == reference]
    if len(groups) < 2 or len(refs) != 1:
        return None
    ref = refs[0]
    fig, axes = plt.subplots(1, 3, figsize=(14, 0.45 * len(groups) + 2.4), width_ratios=(1, 1, 1.25))
    acc_ax, gap_ax, loss_ax = axes
    _dots(acc_ax, groups, lambda g: [100 * v for v in g.row["test_acc_seeds"]], ref, lambda g: _diff_note(g, ref))
    acc_ax.set(xlabel="test accuracy, %", title=f"Test accuracy (right: minus {reference}, same seed)")
    _dots(gap_ax, groups, lambda g: [100 * v for v in g.row["gap_seeds"]], ref, lambda g: _gap_note(g, ref))
    gap_ax.set(
        xlabel="train acc - val acc at the last epoch, dropout off, pp", title=f"Gap (right: minus {reference}'s)"
    )
    gap_ax.tick_params(labelleft=False)

    ends = []
    for g in groups:
        seeds = [r.curves["val/loss"] for r in g.runs if r.curves.get("val/loss")]
        if not seeds:
            continue
        color, epochs = _color(g.row["variant"]), sorted({e for s in seeds for e in s})
        split = bool(g.row.get("split"))  # no mean line between two outcomes: bolder seeds instead
        for s in seeds:
            style = {"alpha": 0.8, "linewidth": 1.3} if split else {"alpha": 0.35, "linewidth": 0.8}
            loss_ax.plot(sorted(s), [s[e] for e in sorted(s)], "-", color=color, **style)
        means = [sum(s[e] for s in seeds if e in s) / sum(e in s for s in seeds) for e in epochs]
        if not split:
            loss_ax.plot(epochs, means, "-", color=color, linewidth=2.2)
        stars = sorted({r.restored_epoch for r in g.runs if r.restored_epoch in epochs})
        for e in stars:
            loss_ax.plot([e], [means[epochs.index(e)]], "*", color=color, markersize=13, markeredgecolor="black")
        ends.append((means[-1], epochs[-1], g.row["variant"], color))
    _label_ends(loss_ax, ends)
    loss_ax.set(xlabel="epoch", ylabel="validation loss", title="Validation loss (★ early stopping's epoch)")
    loss_ax.set_ylim(bottom=0)
    loss_ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    loss_ax.grid(alpha=0.3)

    n = sorted({g.row["n"] for g in groups})
    seeds = f"{n[0]} seeds" if len(n) == 1 else f"{n[0]}-{n[-1]} seeds"
    key = [
        Line2D([], [], linestyle="none", marker="o", color="gray", label=f"a seed ({seeds} per variant)"),
        Line2D([], [], linestyle="none", marker="|", color="black", markersize=12, markeredgewidth=2.5, label="mean"),
        Line2D([], [], linestyle="--", color="gray", label=f"{reference}'s mean"),
    ]
    fig.legend(handles=key, loc="upper right", ncol=3, fontsize=9, frameon=False)
    fig.suptitle("Which remedy, by how much", x=0.01, ha="left", fontsize=12, fontweight="bold")
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return _save(fig, out / "remedies.png", tight=False)


def _label_ends(ax, ends: list[tuple]) -> None:
    """Each variant's name at the end of its mean line, nudged apart so that none overlaps another."""
    ends.sort()
    step = 0.055 * max(max(e[0] for e in ends), 1e-9)  # the panel's y axis starts at 0
    placed: list[float] = []
    for y, x, name, color in ends:
        y_text = max(y, placed[-1] + step) if placed else y
        placed.append(y_text)
        ax.annotate(name, (x, y), xytext=(x + 0.4, y_text), fontsize=8, color=color, va="center",
                    annotation_clip=False)  # fmt: skip
    ax.set_xlim(right=max(e[1] for e in ends) + 4.5)

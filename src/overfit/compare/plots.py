"""The comparison's figures (PNG, from `Run`s and pooled `Group`s); written by tables.write_comparison.

Per run (train vs val, the tested epoch marked), baseline vs each variant, all variants together
(val_all_variants*.png: one colour per variant, one line style and marker per seed, the tested epoch starred where
it is not the last one), pooled curves and, for sweeps of train size or width, test acc and gap against them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from overfit.compare.labels import HIDDEN, TRAIN_SIZE, VARIANTS, fmt_value, plain, short, variant_order, width  # noqa: E402
from overfit.compare.pooling import Group  # noqa: E402
from overfit.compare.runs import Run  # noqa: E402
from overfit.stats import mean_ci95  # noqa: E402

SEED_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"), ((0, (5, 1, 1, 1)), "v"), ((0, (1, 3)), "P"))


def _slug(text: str) -> str:
    """A label as part of a file name."""
    text = text.replace(", ", "x").replace("[", "").replace("]", "")  # hidden=[16, 16] -> hidden=16x16
    return "".join(c if c.isalnum() or c in "-_=." else "_" for c in text).strip("_")


def _plot(ax, series: dict, style: str, label: str, **kwargs) -> None:
    epochs = sorted(series)
    fmt = () if "linestyle" in kwargs else (style,)
    ax.plot(epochs, [series[e] for e in epochs], *fmt, label=label, **kwargs)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not 0.96 ... 1.04


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def _seed_style(run: Run, runs: list[Run]) -> dict:
    """Line style and marker of a run's seed (its rank among the seeds of `runs`): seeds apart in one colour."""
    seeds = sorted({str(r.seed) for r in runs})
    linestyle, marker = SEED_STYLES[seeds.index(str(run.seed)) % len(SEED_STYLES)]
    return {"linestyle": linestyle, "marker": marker, "markersize": 4}


def _mark_restored(ax, run: Run, tag: str, color) -> None:
    """A star on `tag`'s curve at the epoch early stopping restored (the tested weights), if not the last."""
    epoch = run.restored_epoch
    if epoch is not None and epoch in run.curves.get(tag, {}):
        ax.plot([epoch], [run.curves[tag][epoch]], "*", color=color, markersize=14, markeredgecolor="black", zorder=5)


def plot_run(run: Run, out: Path) -> Path:
    """The notebook's per-run figure: training vs validation, loss and accuracy per epoch, and the test result at
    the epoch whose weights were tested (a dotted line where early stopping restored an earlier epoch)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "acc")):
        _plot(ax, run.curves.get(f"train/{metric}", {}), "bo-", "training")
        _plot(ax, run.curves.get(f"val/{metric}", {}), "r^-", "validation")
        if run.test_epoch is not None and f"test/{metric}" in run.finals:
            ax.plot(
                [run.test_epoch],
                [run.finals[f"test/{metric}"]],
                "g*",
                markersize=12,
                label=f"test (weights of epoch {run.test_epoch})",
            )
        if run.restored_epoch is not None:
            ax.axvline(run.restored_epoch, color="gray", linestyle=":", linewidth=1)
        ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "loss")
        ax.set_title(f"{run.label}: training and validation {'accuracy' if metric == 'acc' else 'loss'}", fontsize=10)
        ax.legend(fontsize=8)
    return _save(fig, out / f"curves_{_slug(run.label)}.png")


def plot_pair(runs: list[Run], reference: str, other: str, tag: str, out: Path) -> Path | None:
    """`tag` of every `reference` run (blue) against every `other` run (red); seeds by line style and marker."""
    ref, oth = [r for r in runs if r.variant == reference], [r for r in runs if r.variant == other]
    if not ref or not oth:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for group, color in ((ref, "tab:blue"), (oth, "tab:red")):
        for run in group:
            _plot(ax, run.curves.get(tag, {}), "-", run.label, color=color, **_seed_style(run, ref + oth))
            _mark_restored(ax, run, tag, color)
    kind = "validation" if tag.startswith("val/") else "training"
    ax.set(xlabel="epoch", ylabel=f"{kind} loss", title=f"{reference} vs {other}: {kind} loss")
    ax.legend(fontsize=7)
    return _save(fig, out / f"{tag.split('/')[0]}_loss_{reference}_vs_{other}.png")


def plot_all_variants(runs: list[Run], swept: list[str], out: Path) -> list[Path]:
    """Validation loss and accuracy of every run in one figure (one per combination of the swept values): one colour
    per variant, one line style and marker per seed, a star at the epoch early stopping restored."""
    parts = defaultdict(list)
    for run in runs:
        parts[tuple((k, fmt_value(run.hparams.get(k))) for k in swept)].append(run)
    paths = []
    for part, members in parts.items():
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
        for ax, tag, name in zip(axes, ("val/loss", "val/acc"), ("validation loss", "validation accuracy")):
            for run in members:
                color = _color(run.variant)
                _plot(
                    ax, run.curves.get(tag, {}), "-", run.label, color=color, linewidth=1.2, **_seed_style(run, members)
                )
                _mark_restored(ax, run, tag, color)
            ax.set(xlabel="epoch", ylabel=name, title=f"{name}, all variants{_suffix(part, swept)[1]}")
        variants = sorted({r.variant for r in members}, key=variant_order)
        handles = [Line2D([], [], color=_color(v), linewidth=2, label=v) for v in variants]
        handles += [
            Line2D([], [], color="black", label=f"seed {seed}", **_seed_style(r, members))
            for seed, r in {str(r.seed): r for r in sorted(members, key=lambda r: str(r.seed))}.items()
        ]
        if any(r.restored_epoch for r in members):
            star = {"marker": "*", "markersize": 12, "markerfacecolor": "gray", "markeredgecolor": "black"}
            handles.append(Line2D([], [], linestyle="none", label="tested epoch (early stopping)", **star))
        fig.legend(handles=handles, loc="center right", bbox_to_anchor=(1.0, 0.5), fontsize=8)
        fig.tight_layout(rect=(0, 0, 0.83, 1))
        fig.savefig(out / f"val_all_variants{_suffix(part, swept)[0]}.png", dpi=80)
        plt.close(fig)
        paths.append(out / f"val_all_variants{_suffix(part, swept)[0]}.png")
    return paths


def _color(variant: str):
    index = VARIANTS.index(variant) if variant in VARIANTS else len(VARIANTS) + sum(map(ord, variant)) % 4
    return plt.get_cmap("tab10")(index % 10)


def _band(ax, xs, means, cis, color, label) -> None:
    """A mean line with its 95% CI band (where there is one: n >= 2)."""
    ax.plot(xs, means, "o-", color=color, label=label, markersize=3)
    lo = [m - c if math.isfinite(c) else math.nan for m, c in zip(means, cis)]
    hi = [m + c if math.isfinite(c) else math.nan for m, c in zip(means, cis)]
    ax.fill_between(xs, lo, hi, color=color, alpha=0.2, linewidth=0)


def _partition(groups: list[Group], swept: list[str], exclude: str | None = None) -> dict:
    """{(swept key, value) pairs but `exclude`: groups} -- one figure per combination of the other swept values."""
    parts = defaultdict(list)
    for g in groups:
        parts[tuple((k, fmt_value(g.hparams.get(k))) for k in swept if k != exclude)].append(g)
    return parts


def _suffix(part: tuple, swept: list[str]) -> tuple[str, str]:
    """(file name suffix, title suffix) of one partition."""
    text = " ".join(f"{short(k, swept)}={v}" for k, v in part)
    return ("_" + _slug(text) if text else ""), (f" ({text})" if text else "")


def plot_pooled_curves(groups: list[Group], swept: list[str], out: Path) -> list[Path]:
    """Val loss and val acc per epoch, one line per variant: mean over seeds with its 95% CI band.

    An epoch's mean is over the runs that reached it (early stopping ends some runs sooner)."""
    paths = []
    for part, members in _partition(groups, swept).items():
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, tag, name in zip(axes, ("val/loss", "val/acc"), ("validation loss", "validation accuracy")):
            for g in members:
                epochs = sorted({e for r in g.runs for e in r.curves.get(tag, {})})
                stats = [mean_ci95(r.curves[tag][e] for r in g.runs if e in r.curves.get(tag, {})) for e in epochs]
                if epochs:
                    means, color = dict(zip(epochs, (m for _, m, _ in stats))), _color(g.row["variant"])
                    label = f"{g.row['variant']} (n={g.row['n']})"
                    _band(ax, epochs, list(means.values()), [c for _, _, c in stats], color, label)
                    restored = sorted({r.restored_epoch for r in g.runs if r.restored_epoch in means})
                    if restored:  # each seed's early-stopping epoch, on the mean line
                        star = {"color": color, "markersize": 12, "markeredgecolor": "black", "zorder": 5}
                        ax.plot(restored, [means[e] for e in restored], "*", **star)
            ax.set(xlabel="epoch", ylabel=name, title=f"{name}: mean ± 95% CI over seeds{_suffix(part, swept)[1]}")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.legend(fontsize=7)
        paths.append(_save(fig, out / f"curves_pooled{_suffix(part, swept)[0]}.png"))
    return paths


def _varies(groups: list[Group], x) -> bool:
    """Whether x(hparams) takes more than one value within some variant."""
    seen = defaultdict(set)
    for g in groups:
        if x(g.hparams) is not None:
            seen[g.row["variant"]].add(x(g.hparams))
    return any(len(v) > 1 for v in seen.values())


def plot_sweep(groups: list[Group], swept: list[str], key: str, out: Path) -> list[Path]:
    """Test acc and generalization gap against `key` (data.train_size: log x; model.hidden: first layer's width,
    log2 x), one line per variant with its 95% CI band; one figure per combination of the other swept values."""
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
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, metric, ylabel in zip(axes, ("test_acc", "gap"), ("test accuracy", "gap (train acc - val acc)")):
            by_variant = defaultdict(list)
            for g in members:
                if x(g.hparams) is not None and math.isfinite(g.row[f"{metric}_mean"]):
                    by_variant[g.row["variant"]].append(g)
            for variant in sorted(by_variant, key=variant_order):
                line = sorted(by_variant[variant], key=lambda g: x(g.hparams))
                _band(
                    ax,
                    [x(g.hparams) for g in line],
                    [g.row[f"{metric}_mean"] for g in line],
                    [g.row[f"{metric}_ci95"] for g in line],
                    _color(variant),
                    variant,
                )
            ax.set_xscale("log", base=base)
            ax.set(
                xlabel=xlabel,
                ylabel=ylabel,
                title=f"{ylabel} vs {name.replace('_', ' ')}: mean ± 95% CI{_suffix(part, swept)[1]}",
            )
            ax.legend(fontsize=7)
        paths.append(_save(fig, out / f"test_acc_gap_vs_{name}{_suffix(part, swept)[0]}.png"))
    return paths

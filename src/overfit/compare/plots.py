"""The comparison's per-run figures (PNG, from `Run`s) and what every figure shares; written by
tables.write_comparison. The pooled figures: pooled_plots.py; the headline: headline.py.

Per run (train vs val, the tested epoch marked), baseline vs each variant, all variants together
(val_all_variants*.png: one colour per variant, one line style and marker per seed, the tested epoch starred where
it is not the last one).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

import matplotlib

if "matplotlib.pyplot" not in sys.modules:  # a notebook's inline backend, or the user's own choice, stays theirs
    matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from overfit.compare.labels import VARIANTS, fmt_value, short, variant_order  # noqa: E402
from overfit.compare.runs import Run  # noqa: E402

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


def _save(fig, path: Path, tight: bool = True) -> Path:
    if tight:
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
    """The notebook's per-run figure: training vs validation, loss and accuracy per epoch, the final weights on the
    training split in eval mode (as validation is measured: the gap's train acc), and the test result at the epoch
    whose weights were tested (a dotted line where early stopping restored an earlier epoch)."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "acc")):
        _plot(ax, run.curves.get(f"train/{metric}", {}), "bo-", "training")
        _plot(ax, run.curves.get(f"val/{metric}", {}), "r^-", "validation")
        if run.train_eval_epoch is not None and f"train/{metric}_eval" in run.finals:  # what the gap uses
            ax.plot(
                [run.train_eval_epoch],
                [run.finals[f"train/{metric}_eval"]],
                "bD",
                markerfacecolor="none",
                markersize=8,
                label="training, eval mode (dropout off)",
            )
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


def _suffix(part: tuple, swept: list[str]) -> tuple[str, str]:
    """(file name suffix, title suffix) of one partition."""
    text = " ".join(f"{short(k, swept)}={v}" for k, v in part)
    return ("_" + _slug(text) if text else ""), (f" ({text})" if text else "")

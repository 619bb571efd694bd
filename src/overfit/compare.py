"""Compare finished runs from their TensorBoard event files alone (no retraining): figures + a table.

    runs = load_runs("logs/multiruns/<time>")          # every dir under it holding events.out.tfevents.*
    write_comparison(runs, "logs/multiruns/<time>/comparison")

`scripts/compare.py` is the command-line entry point. A run's variant and seed come from the HPARAMS
summary that `overfit.tracking.log_hparams` writes (falling back to the run dir's name); per-epoch
curves map each scalar's step to Lightning's `epoch` scalar logged at the same step.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

from overfit.errors import OverfitError  # noqa: E402

VARIANTS = ("baseline", "small", "big", "l2", "dropout", "early_stopping")  # the notebook's order
CURVES = ("train/loss", "train/acc", "val/loss", "val/acc")
FINALS = ("test/loss", "test/acc", "time/train_s", "val/acc_best")
COLUMNS = ("run", "variant", "seed", "epochs", "best_val_acc", "best_val_epoch", "final_val_loss",
           "test_loss", "test_acc", "train_s")
logging.getLogger("tensorboard").setLevel(logging.ERROR)


@dataclass
class Run:
    path: Path                                   # the dir holding the event files
    name: str                                    # the run dir's name, e.g. 3_l2
    hparams: dict = field(default_factory=dict)  # from the HPARAMS summary
    curves: dict = field(default_factory=dict)   # tag -> {epoch (1-based): value}
    finals: dict = field(default_factory=dict)   # tag -> last value
    label: str = ""

    @property
    def variant(self) -> str:
        if self.hparams.get("model.variant"):
            return str(self.hparams["model.variant"])
        # No HPARAMS summary (a crashed run): the run dir ends with its variant, e.g. 3_l2, <time>_dropout.
        return next((v for v in sorted(VARIANTS, key=len, reverse=True) if self.name.endswith(v)), self.name)

    @property
    def seed(self):
        seed = self.hparams.get("seed")
        return int(seed) if isinstance(seed, float) and seed.is_integer() else seed

    def row(self) -> dict:
        val_acc = self.curves.get("val/acc", {})
        best_epoch = max(val_acc, key=lambda e: (val_acc[e], -e)) if val_acc else None  # first epoch of the max
        val_loss = self.curves.get("val/loss", {})
        return {"run": self.label, "variant": self.variant, "seed": self.seed,
                "epochs": len(self.curves.get("train/loss") or val_loss),
                "best_val_acc": val_acc[best_epoch] if val_acc else math.nan, "best_val_epoch": best_epoch,
                "final_val_loss": val_loss[max(val_loss)] if val_loss else math.nan,
                "test_loss": self.finals.get("test/loss", math.nan), "test_acc": self.finals.get("test/acc", math.nan),
                "train_s": self.finals.get("time/train_s", math.nan)}


def read_hparams(accumulator: EventAccumulator) -> tuple[dict, list[str]]:
    """(hyperparameters, metric tags) of the HPARAMS summary: what TensorBoard's HPARAMS tab shows."""
    try:
        content = accumulator.PluginTagToContent("hparams")
    except KeyError:  # no HPARAMS summary (e.g. a run that crashed before its end)
        content = {}
    params, metrics = {}, []
    if "_hparams_/session_start_info" in content:
        start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
        for key, value in start.session_start_info.hparams.items():
            params[key] = getattr(value, value.WhichOneof("kind")) if value.WhichOneof("kind") else None
    if "_hparams_/experiment" in content:
        experiment = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/experiment"]).experiment
        metrics = [info.name.tag for info in experiment.metric_infos]
    return params, metrics


def load_run(event_dir: Path) -> Run:
    acc = EventAccumulator(str(event_dir), size_guidance={"scalars": 0})  # 0: keep every point
    acc.Reload()
    name = event_dir.parent.name if event_dir.name == "tensorboard" else event_dir.name
    run = Run(path=event_dir, name=name)
    run.hparams, _ = read_hparams(acc)
    tags = set(acc.Tags()["scalars"])
    step_epoch = {}
    if "epoch" in tags:
        for event in acc.Scalars("epoch"):
            step_epoch.setdefault(event.step, int(event.value))  # first value: the train/val logs of that step
    for tag in CURVES:
        if tag in tags:  # a step without an epoch entry would be a foreign writer: skip it
            run.curves[tag] = {step_epoch[e.step] + 1: e.value for e in acc.Scalars(tag) if e.step in step_epoch}
    for tag in FINALS:
        if tag in tags:
            run.finals[tag] = acc.Scalars(tag)[-1].value
    return run


def load_runs(root: str | Path) -> list[Run]:
    """Every run under `root` (a run dir, a sweep dir or a whole logs dir), labelled and in the notebook's order."""
    root = Path(root)
    if not root.is_dir():
        raise OverfitError(f"{root}: no such directory; pass a sweep dir (logs/multiruns/<time>) or a logs dir")
    event_dirs = sorted({p.parent for p in root.rglob("events.out.tfevents.*") if "comparison" not in p.parts})
    runs = [run for run in map(load_run, event_dirs) if run.curves]
    if not runs:
        raise OverfitError(f"{root}: no TensorBoard runs found (no events.out.tfevents.* with train/val curves); "
                           "pass a sweep dir such as logs/multiruns/<time> or a logs dir")
    order = {v: i for i, v in enumerate(VARIANTS)}
    runs.sort(key=lambda r: (order.get(r.variant, len(order)), r.variant, str(r.seed), r.name))
    for run in runs:  # several runs of one variant (seeds, repeats): label them apart
        same = [r for r in runs if r.variant == run.variant]
        same_seed = [r for r in same if r.seed == run.seed]
        run.label = run.variant if len(same) == 1 else (f"{run.variant} seed {run.seed}" if len(same_seed) == 1
                                                       else f"{run.variant} ({run.name})")
    return runs


def _plot(ax, series: dict, style: str, label: str) -> None:
    epochs = sorted(series)
    ax.plot(epochs, [series[e] for e in epochs], style, label=label)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs, not 0.96 ... 1.04


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


def plot_run(run: Run, out: Path) -> Path:
    """The notebook's per-run figure: training vs validation, loss and accuracy per epoch."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
    for ax, metric in zip(axes, ("loss", "acc")):
        _plot(ax, run.curves.get(f"train/{metric}", {}), "bo-", "training")
        _plot(ax, run.curves.get(f"val/{metric}", {}), "r^-", "validation")
        ax.set(xlabel="epoch", ylabel="accuracy" if metric == "acc" else "loss",
               title=f"{run.label}: training and validation {'accuracy' if metric == 'acc' else 'loss'}")
        ax.legend()
    return _save(fig, out / f"curves_{_slug(run.label)}.png")


def plot_pair(runs: list[Run], reference: str, other: str, tag: str, out: Path) -> Path | None:
    """`tag` of every `reference` run against every `other` run (e.g. baseline vs dropout val loss)."""
    ref, oth = [r for r in runs if r.variant == reference], [r for r in runs if r.variant == other]
    if not ref or not oth:
        return None
    fig, ax = plt.subplots(figsize=(5.5, 3.5))
    for group, style in ((ref, "b+-"), (oth, "ro-")):
        for run in group:
            _plot(ax, run.curves.get(tag, {}), style, run.label)
    kind = "validation" if tag.startswith("val/") else "training"
    ax.set(xlabel="epoch", ylabel=f"{kind} loss", title=f"{reference} vs {other}: {kind} loss")
    ax.legend()
    return _save(fig, out / f"{tag.split('/')[0]}_loss_{reference}_vs_{other}.png")


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in text).strip("_")


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    header = ["run", "epochs", "best val acc (epoch)", "final val loss", "test loss", "test acc", "train time"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        best = f"{_fmt(r['best_val_acc'])} ({r['best_val_epoch']})" if r["best_val_epoch"] else "-"
        lines.append(f"| {r['run']} | {r['epochs']} | {best} | {_fmt(r['final_val_loss'])} | {_fmt(r['test_loss'])} "
                     f"| {_fmt(r['test_acc'])} | {_fmt(r['train_s'], 1)} s |")
    return "\n".join(lines) + "\n"


def write_comparison(runs: list[Run], out: str | Path) -> dict[str, list[Path]]:
    """Figures (PNG), comparison.md and comparison.csv into `out`; returns what it wrote."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [plot_run(run, out) for run in runs]
    figures += [plot_pair(runs, "baseline", other, "val/loss", out) for other in VARIANTS[1:]]
    figures.append(plot_pair(runs, "baseline", "big", "train/loss", out))
    rows = [run.row() for run in runs]
    (out / "comparison.md").write_text(markdown_table(rows))
    with open(out / "comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    return {"figures": [f for f in figures if f is not None], "tables": [out / "comparison.md", out / "comparison.csv"]}

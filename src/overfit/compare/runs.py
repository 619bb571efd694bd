"""Finished runs as `Run`s: curves per epoch, final metrics, HPARAMS, and what is missing or damaged.

A run is a dir holding event files (its run dir; older runs: its tensorboard/ subdir). Its variant and seed come
from the HPARAMS session that `overfit.runs.tensorboard.log_hparams` writes (falling back to the run dir's name).
Curves are train/loss, train/acc, val/loss, val/acc at step = epoch (1-based); test/acc sits at the epoch whose
weights were tested (`Run.test_epoch`: the early-stopping epoch). Runs from before 2026-12-08 name them
loss/train, acc/train, loss/val, acc/val in TensorBoard (OLD_TAGS, read as the same curves); the oldest files
(per-step train/loss ... beside Lightning's `epoch` scalar) map each step to the epoch logged at the same step.
A dir holding only a sweep's HPARAMS definition (sweeps wrote one until 2026-12-08, into the first run's dir or,
for Optuna, the study dir) is no run and is skipped.

Calibration: test/auroc, test/ece, test/brier and the temperature-scaled test/*_scaled, test/temperature are
finals; val/ece, val/auroc, val/brier curves; the reliability bins come from the run's metrics.json (train.py
writes them there), none of them required: runs from before lack them and read as '-'.

The generalization gap is train/acc_eval (the final weights on the train split in eval mode, dropout off: what the
model logs at the end of fit) minus val/acc at the same epoch: like with like. The running train/acc (the epoch's
batches, dropout on, weights still moving) is no such thing; runs from before train/acc_eval was logged fall back
to it, with a Problem saying so. A run "at chance" sat within CHANCE_BAND of 50% val accuracy (IMDB's classes are
balanced): `chance_epochs`; pooling.py says when that splits a group's seeds.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf.message import DecodeError
from tensorboard.plugins.hparams import metadata

from overfit.compare.events import Problem, read_event_dir, read_hparams
from overfit.compare.labels import SEED, VARIANT, VARIANTS, group_label, plain, sweep_order, swept_keys, variant_order
from overfit.errors import OverfitError

CURVES = ("train/loss", "train/acc", "val/loss", "val/acc")
OLD_TAGS = {"loss/train": "train/loss", "acc/train": "train/acc", "loss/val": "val/loss", "acc/val": "val/acc"}
FINALS = ("test/loss", "test/acc", "time/train_s", "val/acc_best", "train/acc_eval", "train/loss_eval")
# Calibration (models/calibration.py): runs from before it was measured lack them, and that is no problem: '-'.
CALIBRATION = ("test/auroc", "test/ece", "test/brier", "test/ece_scaled", "test/loss_scaled", "test/brier_scaled")
CALIBRATION_CURVES = ("val/ece", "val/auroc", "val/brier")  # per epoch, under these names in TensorBoard too
TESTS = ("test/loss", "test/acc")
CHANCE, CHANCE_BAND = 0.5, 0.02  # val acc within 48-52%: the model predicts (nearly) one class for every review
COLUMNS = (
    "run",
    "variant",
    "seed",
    "epochs",
    "best_val_acc",
    "best_val_epoch",
    "final_val_loss",
    "min_val_loss",
    "gap",
    "chance_epochs",
    "test_loss",
    "test_acc",
    "test_auroc",
    "test_ece",
    "test_brier",
    "test_ece_scaled",
    "test_loss_scaled",
    "temperature",
    "tested_epoch",
    "train_s",
    "problems",
)


class Runs(list):
    """`load_runs`' list of `Run`s, with what went wrong while reading them."""

    def __init__(self, runs=(), problems: list[Problem] | None = None):
        super().__init__(runs)
        self.problems = list(problems or [])

    @property
    def warnings(self) -> list[str]:
        return [str(p) for p in self.problems]


@dataclass
class Run:
    path: Path  # the dir holding the event files
    name: str  # the run dir's name, e.g. 3_l2
    hparams: dict = field(default_factory=dict)  # from the HPARAMS summary
    curves: dict = field(default_factory=dict)  # tag -> {epoch (1-based): value}
    finals: dict = field(default_factory=dict)  # tag -> last value
    label: str = ""
    problems: list = field(default_factory=list)  # Problem: damaged files, missing summary or metrics
    test_epoch: int | None = None  # the epoch (1-based) whose weights were tested, if logged
    train_eval_epoch: int | None = None  # the epoch train/acc_eval was measured at (the last one trained)
    sweep_definition: bool = False  # the dir holds only a sweep's HPARAMS definition: no run
    # metrics.json's "calibration": the temperature and the test split's reliability bins before and after it
    calibration: dict = field(default_factory=dict)

    @property
    def variant(self) -> str:
        if self.hparams.get(VARIANT):
            return str(self.hparams[VARIANT])
        # No HPARAMS summary (a crashed run): the run dir ends with its variant, e.g. 3_l2, <time>_dropout.
        return next((v for v in sorted(VARIANTS, key=len, reverse=True) if self.name.endswith(v)), self.name)

    @property
    def seed(self):
        return plain(self.hparams.get(SEED))

    @property
    def restored_epoch(self) -> int | None:
        """The tested epoch when it is not the last one trained (early stopping restored the best weights)."""
        last = max(self.curves.get("val/loss") or self.curves.get("train/loss") or {0: 0})
        return self.test_epoch if self.test_epoch is not None and 0 < self.test_epoch < last else None

    @property
    def chance_epochs(self) -> list[int]:
        """The epochs whose val accuracy was at chance (within CHANCE_BAND of 50%)."""
        return sorted(e for e, v in self.curves.get("val/acc", {}).items() if abs(v - CHANCE) <= CHANCE_BAND)

    @property
    def poolable(self) -> bool:
        """Enough to pool: an HPARAMS summary (what to group by) and the test metrics."""
        return bool(self.hparams) and all(t in self.finals for t in TESTS)

    def row(self) -> dict:
        val_acc = self.curves.get("val/acc", {})
        best_epoch = max(val_acc, key=lambda e: (val_acc[e], -e)) if val_acc else None  # first epoch of the max
        val_loss, train_acc = self.curves.get("val/loss", {}), self.curves.get("train/acc", {})
        if "train/acc_eval" in self.finals and self.train_eval_epoch in val_acc:  # like with like
            gap = self.finals["train/acc_eval"] - val_acc[self.train_eval_epoch]
        else:  # an older run: the running train acc (load_run flagged it)
            both = set(train_acc) & set(val_acc)
            gap = train_acc[max(both)] - val_acc[max(both)] if both else math.nan
        return {
            "run": self.label,
            "variant": self.variant,
            "seed": self.seed,
            "epochs": len(self.curves.get("train/loss") or val_loss),
            "best_val_acc": val_acc[best_epoch] if val_acc else math.nan,
            "best_val_epoch": best_epoch,
            "final_val_loss": val_loss[max(val_loss)] if val_loss else math.nan,
            "min_val_loss": min(val_loss.values()) if val_loss else math.nan,
            "gap": gap,
            "chance_epochs": epoch_ranges(self.chance_epochs),
            "test_loss": self.finals.get("test/loss", math.nan),
            "test_acc": self.finals.get("test/acc", math.nan),
            **{tag.replace("/", "_"): self.finals.get(tag, math.nan) for tag in CALIBRATION if "brier_" not in tag},
            "temperature": self.finals.get("test/temperature", math.nan),
            "tested_epoch": self.test_epoch,
            "train_s": self.finals.get("time/train_s", math.nan),
            "problems": "; ".join(dict.fromkeys(p.short for p in self.problems)),
        }


def epoch_ranges(epochs: list[int]) -> str:
    """[1, 2, 3, 5] -> "1-3, 5"."""
    spans: list[list[int]] = []
    for e in epochs:
        if spans and e == spans[-1][1] + 1:
            spans[-1][1] = e
        else:
            spans.append([e, e])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in spans)


def load_run(event_dir: Path) -> Run:
    """One run from the event files in `event_dir` (read in name order, as TensorBoard does)."""
    event_dir = Path(event_dir)
    name = event_dir.parent.name if event_dir.name == "tensorboard" else event_dir.name
    run = Run(path=event_dir, name=name)
    series, hparams_content, run.problems = read_event_dir(event_dir)
    try:
        run.hparams, _ = read_hparams(hparams_content)
    except DecodeError:
        run.problems.append(Problem(event_dir, "HPARAMS unreadable", "the HPARAMS summary could not be parsed"))
    step_epoch = {}
    for step, value in series.get("epoch", []):
        step_epoch.setdefault(step, int(value))  # first value: the train/val logs of that step
    # The oldest files: an `epoch` scalar beside per-step curves (the metric/split ones never were per step)
    per_step = bool(step_epoch) and not any(tag in series for tag in OLD_TAGS)
    for tag in CURVES:  # a per-step value without an epoch entry would be a foreign writer's: skipped
        split = tag.split("/")[0]
        if per_step and tag in series:
            run.curves[tag] = {step_epoch[s] + 1: v for s, v in series[tag] if s in step_epoch}
        elif series.get(f"{split}/loss") and series.get(f"{split}/acc"):  # step = epoch: a split's epoch record
            # holds both (the factorization's per-step train/loss has no accuracy beside it: no epoch curve)
            run.curves[tag] = {s: v for s, v in series[tag] if s >= 1}
    for tb_tag, tag in OLD_TAGS.items():  # step = epoch, under the tags of runs from before 2026-12-08
        if series.get(tb_tag):
            run.curves.setdefault(tag, {}).update({s: v for s, v in series[tb_tag] if s >= 1})
    for tag in CALIBRATION_CURVES:
        if series.get(tag):
            run.curves[tag] = {s: v for s, v in series[tag] if s >= 1}
    for tag in (*FINALS, *CALIBRATION, "test/temperature"):
        if series.get(tag):
            run.finals[tag] = series[tag][-1][1]
    if series.get("train/acc_eval"):
        run.train_eval_epoch = series["train/acc_eval"][-1][0]
    if series.get("test/acc") and run.curves and not per_step:  # per-step files: test/acc at an optimizer step
        run.test_epoch = series["test/acc"][-1][0]
    run.calibration = read_calibration(event_dir, run.problems)
    run.sweep_definition = (
        not series
        and metadata.EXPERIMENT_TAG in hparams_content
        and metadata.SESSION_START_INFO_TAG not in hparams_content
    )
    if run.curves:  # a dir without any curve is skipped as a whole by load_runs
        if not run.hparams:
            run.problems.append(
                Problem(
                    event_dir,
                    "no HPARAMS summary",
                    f"no HPARAMS summary (a crashed or unfinished run?): variant '{run.variant}' "
                    "guessed from the dir name, seed unknown; left out of the pooled table",
                )
            )
        missing = [t for t in TESTS if t not in run.finals]
        if missing:
            run.problems.append(
                Problem(
                    event_dir,
                    "no test metrics",
                    f"no {', '.join(missing)} (the run ended before testing?): shown as '-', "
                    "left out of the pooled table",
                )
            )
        if run.curves.get("train/acc") and run.train_eval_epoch is None and not missing:  # unfinished: said
            run.problems.append(
                Problem(
                    event_dir,
                    "gap from the running train acc",
                    "no train/acc_eval (a run from before it was logged at the end of fit): its gap is the running "
                    "train acc (the epoch's batches, dropout on) minus val acc, not like with like",
                )
            )
        for tag in CURVES:
            if not run.curves.get(tag):
                run.problems.append(Problem(event_dir, f"no {tag} curve", f"no {tag} curve"))
    return run


def read_calibration(run_dir: Path, problems: list) -> dict:
    """metrics.json's "calibration" entry ({} where there is none: an older run, or no temperature scaling)."""
    path = run_dir / "metrics.json"
    if not path.is_file():
        return {}
    try:
        found = json.loads(path.read_text()).get("calibration") or {}
        bins = found.get("bins", {})
        if bins and not all(len(bins.get(k, ())) == len(bins["count"]) for k in ("sum_p", "sum_y")):
            raise ValueError("reliability bins of unequal lengths")
        return found
    except (ValueError, AttributeError, KeyError, TypeError) as err:
        problems.append(Problem(path, "metrics.json unreadable", f"its calibration could not be read ({err})"))
        return {}


def load_runs(root: str | Path) -> Runs:
    """Every run under `root` (a run dir, a sweep dir or a whole logs dir), labelled and in the notebook's order.

    What could not be read is in `.problems` / `.warnings` (and each run's `.problems`); nothing usable at all
    is an OverfitError naming every file and what was wrong with it."""
    root = Path(root)
    if not root.is_dir():
        raise OverfitError(f"{root}: no such directory; pass a sweep dir (logs/multiruns/<time>) or a logs dir")
    event_dirs = sorted({p.parent for p in root.rglob("events.out.tfevents.*") if "comparison" not in p.parts})
    runs, problems = [], []
    for run in map(load_run, event_dirs):
        if run.sweep_definition and not run.problems:
            continue
        problems += run.problems
        if run.curves:
            runs.append(run)
        else:
            problems.append(Problem(run.path, "no curves", "no train/val curves could be read: run skipped"))
    if not runs:
        if problems:
            raise OverfitError(f"{root}: no usable runs: " + "; ".join(str(p) for p in problems))
        raise OverfitError(
            f"{root}: no TensorBoard runs found (no events.out.tfevents.* with train/val curves); "
            "pass a sweep dir such as logs/multiruns/<time> or a logs dir"
        )
    swept = swept_keys(runs)
    runs.sort(key=lambda r: (variant_order(r.variant), sweep_order(r.hparams, swept), str(r.seed), r.name))
    base = {id(r): group_label(r.variant, r.hparams, swept) if r.hparams else r.variant for r in runs}
    for run in runs:  # several runs of one group (seeds, repeats): label them apart
        same = [r for r in runs if base[id(r)] == base[id(run)]]
        same_seed = [r for r in same if r.seed == run.seed]
        run.label = (
            base[id(run)]
            if len(same) == 1
            else (
                f"{base[id(run)]} seed {run.seed}"
                if len(same_seed) == 1 and run.seed is not None
                else f"{base[id(run)]} ({run.name})"
            )
        )
    return Runs(runs, problems)

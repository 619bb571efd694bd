"""Seeds pooled: one row per group of runs that differ only in `seed`, with means, 95% CIs and paired differences.

Runs that differ only in `seed` (every other HPARAMS key equal, `data.train_size` included) form one row of the
pooled table: n, the seeds, and for each of test acc, test loss, best val acc, min val loss and the
generalization gap (and where measured: test ECE before and after temperature scaling, AUROC, Brier, T) a mean
and the half-width of its 95% t-interval (`overfit.compare.stats.mean_ci95`; n = 1: no
interval), and the seeds' own values (`<metric>_seeds`, in seed order). The gap is train acc - val acc at the last
epoch, train acc measured as val acc is (eval mode, dropout off: runs.py). Each non-baseline row also gets the
paired difference test acc(variant, seed) - test acc(baseline, same seed), over the seeds both have, against the
baseline row with the same data/trainer settings and the same swept model settings; likewise test ECE.

Seeds that split (some runs sat at chance, 50% val accuracy, for CHANCE_EPOCHS epochs in a row, others did not)
are named in `split` ("seed 0 at chance in epochs 1-8"; `diff_split`, for the paired difference, names either
side's). Over 3 seeds a mean ± t-interval of such a two-valued outcome is no summary: the tables show the seeds'
values instead. `at_chance` names such runs in every group that has one, split or not.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

from overfit.compare.labels import REFERENCE, SEED, VARIANT, group_label, plain, sweep_order, swept_keys, variant_order
from overfit.compare.runs import Run, epoch_ranges
from overfit.compare.stats import mean_ci95

POOLED = ("test_acc", "test_loss", "best_val_acc", "min_val_loss", "gap")  # per-run row keys pooled over seeds
# Pooled too, where the runs measured them (models/calibration.py; older runs: NaN, shown as '-')
CALIBRATION = ("test_ece", "test_ece_scaled", "test_auroc", "test_brier", "temperature")
PAIRED = ("test/acc", "test/ece")  # paired with the baseline seed by seed: <test_acc|test_ece>_diff_*
# A run at chance for this many epochs in a row is "stuck": on 500 reviews a seed may sit near 50% for an epoch or
# two and end like the others; the seeds that end apart (small: 8 epochs; baseline on 500: 4) sit there longer.
CHANCE_EPOCHS = 3


@dataclass
class Group:
    """One pooled row, the runs it pools and their HPARAMS but seed."""

    row: dict
    runs: list
    hparams: dict


def pool_groups(runs: list[Run], reference: str = REFERENCE, warnings: list | None = None) -> tuple[list, list]:
    """(pooled groups in table order, swept keys) of the runs that can be pooled."""
    pool = [r for r in runs if r.poolable]
    swept = swept_keys(pool)
    by_key = defaultdict(list)
    for run in pool:
        by_key[tuple(sorted((k, repr(v)) for k, v in run.hparams.items() if k != SEED))].append(run)
    groups = []
    for members in by_key.values():
        members.sort(key=lambda r: (str(r.seed), r.name))
        hparams = {k: v for k, v in members[0].hparams.items() if k != SEED}
        variant = members[0].variant
        rows = [r.row() for r in members]
        row = {"group": group_label(variant, hparams, swept), "variant": variant}
        row.update({k: plain(v) for k, v in sorted(hparams.items()) if k != VARIANT})
        seeds = [r.seed for r in members]
        row.update(n=len(members), seeds=seeds)
        for metric in (*POOLED, *CALIBRATION):
            _, row[f"{metric}_mean"], row[f"{metric}_ci95"] = mean_ci95(x[metric] for x in rows)
            row[f"{metric}_seeds"] = [x[metric] for x in rows]
        row.update(n_paired=0, paired_seeds=[], diff_split="")
        for tag in PAIRED:
            key = tag.replace("/", "_")
            row.update({f"{key}_diff_mean": math.nan, f"{key}_diff_ci95": math.nan, f"{key}_diff_seeds": []})
        stuck = [r for r in members if longest_run(r.chance_epochs) >= CHANCE_EPOCHS]
        row["at_chance"] = "; ".join(
            f"seed {r.seed} at chance in epochs {epoch_ranges(r.chance_epochs)}" for r in stuck
        )
        row["split"] = row["at_chance"] if 0 < len(stuck) < len(members) else ""
        notes = []
        repeated = sorted({str(s) for s in seeds if seeds.count(s) > 1})
        if repeated:
            notes.append(f"seed {', '.join(repeated)} more than once: not paired")
            if warnings is not None:
                warnings.append(
                    f"pooled row '{row['group']}': seed {', '.join(repeated)} more than once "
                    f"({', '.join(str(r.path) for r in members if str(r.seed) in repeated)}); "
                    "pooled, but not paired with the baseline"
                )
        damaged = [r.label for r in members if r.problems]
        if damaged:
            notes.append("pools runs with problems: " + ", ".join(damaged))
        row["runs"] = [r.label for r in members]
        row["problems"] = "; ".join(notes)
        groups.append(Group(row, members, hparams))
    groups.sort(key=lambda g: (variant_order(g.row["variant"]), sweep_order(g.hparams, swept)))

    # Paired differences: the baseline group run with the same data/trainer settings (every non-model key) and
    # the same swept model settings; model keys that only differ between variants are what the variant changes.
    keys = {k for g in groups for k in g.hparams} - {SEED, VARIANT}
    match = sorted(k for k in keys if not k.startswith("model.") or k in swept)
    signature = lambda g: tuple(repr(g.hparams.get(k)) for k in match)  # noqa: E731
    references = defaultdict(list)
    for g in groups:
        if g.row["variant"] == reference:
            references[signature(g)].append(g)
    for g in groups:
        refs = references.get(signature(g), [])
        if g.row["variant"] == reference or len(refs) != 1:
            continue
        mine, theirs = _by_seed(g.runs), _by_seed(refs[0].runs)
        seeds = sorted((s for s in mine if s in theirs and len(mine[s]) == 1 == len(theirs[s])), key=str)
        for tag in PAIRED:
            key = tag.replace("/", "_")
            diffs = [mine[s][0].finals.get(tag, math.nan) - theirs[s][0].finals.get(tag, math.nan) for s in seeds]
            n, g.row[f"{key}_diff_mean"], g.row[f"{key}_diff_ci95"] = mean_ci95(diffs)
            g.row[f"{key}_diff_seeds"] = diffs
            if tag == "test/acc":
                g.row.update(n_paired=n, paired_seeds=seeds)
        # a difference splits with either side's seeds
        g.row["diff_split"] = g.row["split"] or (refs[0].row["split"] and f"{reference}'s {refs[0].row['split']}")
    return groups, swept


def calibrated(pooled: list[dict]) -> bool:
    """Whether any pooled row has a test ECE (models/calibration.py): sweeps from before it was measured have none,
    and their tables get no calibration columns."""
    return any(math.isfinite(r.get("test_ece_mean", math.nan)) for r in pooled)


def longest_run(epochs: list[int]) -> int:
    """The most consecutive epochs in sorted `epochs`: [1, 3, 4, 5] -> 3."""
    best = streak = 0
    for i, e in enumerate(epochs):
        streak = streak + 1 if i and e == epochs[i - 1] + 1 else 1
        best = max(best, streak)
    return best


def _by_seed(runs: list[Run]) -> dict:
    out = defaultdict(list)
    for run in runs:
        out[run.seed].append(run)
    return out


def pool_runs(runs: list[Run], reference: str = REFERENCE, warnings: list | None = None) -> list[dict]:
    """The pooled table as plain dicts, one per (variant, swept values), in table order.

    Runs are pooled when every HPARAMS key but `seed` is equal (runs without an HPARAMS summary or test metrics
    are left out: load_runs warned about them). Each dict: group (label), variant, the HPARAMS values, n, seeds,
    <m>_mean and <m>_ci95 for m in POOLED (ci95: half-width of the 95% t-interval, NaN for n = 1),
    test_acc_diff_mean / test_acc_diff_ci95 / n_paired / paired_seeds (test acc minus the `reference` run of the
    same seed; NaN and 0 where no reference run matches), runs (labels) and problems (text, "" if none).
    Warnings about the pooling itself (a seed twice in a group) are appended to `warnings` if given."""
    return [g.row for g in pool_groups(runs, reference, warnings)[0]]

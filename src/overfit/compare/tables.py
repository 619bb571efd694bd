"""The comparison's tables: comparison.md/.csv (one row per run), pooled.md/.csv (seeds pooled), warnings.txt.

`write_comparison` writes them next to the figures (plots.py) and returns what it wrote.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

from overfit.compare.calibration_plots import plot_ece_curves, plot_reliability
from overfit.compare.headline import plot_remedies
from overfit.compare.labels import HIDDEN, REFERENCE, TRAIN_SIZE, VARIANTS, swept_keys
from overfit.compare.plots import plot_all_variants, plot_pair, plot_run
from overfit.compare.pooled_plots import ECE_PANELS, plot_pooled_curves, plot_sweep
from overfit.compare.pooling import POOLED, calibrated, pool_groups
from overfit.compare.runs import COLUMNS, Run, Runs
from overfit.runs import numbers

# Which way each column is written (runs/numbers.py: accuracies in %, their differences in pp, losses to 3
# significant digits, ECE to 3 decimals, T to 2); the .csv files keep the fractions.
_HOW = {
    "best_val_acc": "acc",
    "test_acc": "acc",
    "gap": "acc",
    "test_acc_diff": "acc",
    "final_val_loss": "loss",
    "test_loss": "loss",
    "min_val_loss": "loss",
    "test_ece": "score",
    "test_ece_scaled": "score",
    "test_ece_diff": "score",
    "temperature": "temperature",
}


def markdown_table(rows: list[dict]) -> str:
    """The per-run table; a `problems` column when some run has one."""
    flagged = any(r.get("problems") for r in rows)
    has_ece = any(math.isfinite(r.get("test_ece", math.nan)) for r in rows)  # runs from before: no such column
    header = ["run", "epochs", "best val acc % (epoch)", "final val loss", "test loss", "test acc % (epoch)"]
    header += ["train time"] + (["test ECE", "test ECE at T (T)"] if has_ece else [])
    header += ["problems"] if flagged else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:

        def fmt(key: str, r: dict = r) -> str:
            return numbers.cell(r.get(key), _HOW[key])

        best = f"{fmt('best_val_acc')} ({r['best_val_epoch']})" if r["best_val_epoch"] else "-"
        train_s = f"{r['train_s']:.1f} s" if math.isfinite(r["train_s"]) else "-"
        tested = f" ({r['tested_epoch']})" if r.get("tested_epoch") else ""
        lines.append(
            f"| {r['run']} | {r['epochs']} | {best} | {fmt('final_val_loss')} | {fmt('test_loss')} "
            f"| {fmt('test_acc')}{tested} | {train_s} |"
            + (f" {fmt('test_ece')} | {fmt('test_ece_scaled')} ({fmt('temperature')}) |" if has_ece else "")
            + (f" {'**' + r['problems'] + '**' if r.get('problems') else ''} |" if flagged else "")
        )
    return "\n".join(lines) + "\n"


def _pm(row: dict, metric: str, n: int, sign: str = "", split: bool = False) -> str:
    """mean ± CI of `metric` (numbers.cell_ci); where the seeds split (some stuck at chance), their own values."""
    how = _HOW[metric]
    mean = row[f"{metric}_mean"]
    if not isinstance(mean, (int, float)) or not math.isfinite(mean):
        return "-"
    if split and row.get(f"{metric}_seeds"):
        return " / ".join(numbers.cell(v, how, sign) for v in row[f"{metric}_seeds"]) + " (split)"
    ci = row[f"{metric}_ci95"]
    return (
        numbers.cell_ci(mean, ci, how, sign) if math.isfinite(ci) else f"{numbers.cell(mean, how, sign)} (n={n}, no CI)"
    )


def pooled_markdown(rows: list[dict], reference: str = REFERENCE) -> str:
    """The pooled table: mean ± 95% CI half-width over seeds."""
    flagged = any(r.get("problems") for r in rows)
    ece = calibrated(rows)
    header = [
        "group",
        "n",
        "test acc %",
        "test loss",
        "best val acc %",
        "min val loss",
        "gap (train - val acc), pp",
        f"test acc - {reference} (paired), pp",
    ]
    header += ["test ECE", "test ECE at T", f"test ECE - {reference} (paired)", "T"] if ece else []
    header += ["problems"] if flagged else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        split = bool(r.get("split") and r[f"{POOLED[0]}_seeds"])
        name = r["group"] + (f" (seeds split: {r['split']})" if r.get("split") else "")
        cells = [name, str(r["n"])] + [_pm(r, m, r["n"], split=split) for m in POOLED]
        paired = _pm(r, "test_acc_diff", r["n_paired"], "+", split=bool(r.get("diff_split")))
        cells.append(paired + (f" (n={r['n_paired']})" if r["n_paired"] > 1 else ""))
        if ece:
            cells += [_pm(r, m, r["n"], split=split) for m in ("test_ece", "test_ece_scaled")]
            cells.append(_pm(r, "test_ece_diff", r["n_paired"], "+", split=bool(r.get("diff_split"))))
            cells.append(_pm(r, "temperature", r["n"], split=split))
        cells += [f"**{r['problems']}**" if r["problems"] else ""] if flagged else []
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "mean ± half-width of the 95% t-interval over seeds (t.ppf(0.975, n-1)·s/√n; n = 1: no CI); accuracies in %, "
        "differences of accuracies in percentage points (pp; pooled.csv keeps fractions). "
        "gap = train acc - val acc at the last epoch, both of the final weights in eval mode (dropout off). "
        "(split): the seeds' own values, where some sat at chance (50% val acc) and others did not. "
        "Paired: test acc minus the "
        f"{reference} run of the same seed (same data and swept settings), over the seeds both have."
        + (
            " ECE: expected calibration error of P(positive) on the test split (15 bins, a fraction: 0 is calibrated);"
            " at T: after temperature scaling, one T fitted on the validation split (T > 1 softens)."
            if ece
            else ""
        ),
    ]
    return "\n".join(lines) + "\n"


def _csv_value(value):
    if isinstance(value, list):
        return "; ".join(map(str, value))
    if isinstance(value, float) and math.isnan(value):
        return ""
    return value


def comparison_tables(runs: list[Run], reference: str = REFERENCE, where: str = "pooled.md") -> dict:
    """What write_comparison writes, as objects: {"runs": per-run rows (COLUMNS), "pooled": one row per group
    (pool_runs), "warnings": one line each, "groups", "swept"}; `where` names the pooled table in its warning."""
    warnings = list(runs.warnings) if isinstance(runs, Runs) else [str(p) for r in runs for p in r.problems]
    groups, swept = pool_groups(runs, reference, warnings)
    if not groups:
        warnings.append(f"{where}: no run has both an HPARAMS summary and test metrics: the pooled table is empty")
    rows = [run.row() for run in runs]
    return {"runs": rows, "pooled": [g.row for g in groups], "warnings": warnings, "groups": groups, "swept": swept}


def write_comparison(runs: list[Run], out: str | Path, reference: str = REFERENCE) -> dict:
    """Figures (PNG), comparison.md/.csv (per run), pooled.md/.csv (seeds pooled) and, when anything could not
    be read, warnings.txt into `out`; returns {"figures", "tables": [paths], "warnings": [str],
    "rows": per-run dicts, "pooled": pool_runs' dicts}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    parts = comparison_tables(runs, reference, where=str(out / "pooled.md"))
    rows, pooled, warnings, groups, swept = (parts[k] for k in ("runs", "pooled", "warnings", "groups", "swept"))
    figures = [plot_run(run, out) for run in runs]
    figures += [plot_pair(runs, reference, other, "val/loss", out) for other in VARIANTS if other != reference]
    figures.append(plot_pair(runs, reference, "big", "train/loss", out))
    figures += plot_all_variants(runs, swept_keys(runs), out)
    if groups:
        figures.append(None if swept else plot_remedies(groups, reference, out))  # sweeps: plot_sweep's figures
        figures += plot_pooled_curves(groups, swept, out)
        figures += plot_sweep(groups, swept, TRAIN_SIZE, out) + plot_sweep(groups, swept, HIDDEN, out)
        figures += [plot_reliability(groups, out), *plot_ece_curves(groups, swept, out)]
        for key in (TRAIN_SIZE, HIDDEN):
            figures += plot_sweep(groups, swept, key, out, ECE_PANELS, stem="test_ece")

    note = (
        (
            "\n**Warnings** (also in warnings.txt): what could not be read; affected rows are flagged.\n\n"
            + "".join(f"- {w}\n" for w in warnings)
        )
        if warnings
        else ""
    )
    (out / "comparison.md").write_text(markdown_table(rows) + note)
    with open(out / "comparison.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    (out / "pooled.md").write_text(pooled_markdown(pooled, reference) + note)
    fields = list(dict.fromkeys(k for row in pooled for k in row)) or ["group", "variant", "n"]
    with open(out / "pooled.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows({k: _csv_value(v) for k, v in row.items()} for row in pooled)
    tables = [out / "comparison.md", out / "comparison.csv", out / "pooled.md", out / "pooled.csv"]
    if warnings:
        (out / "warnings.txt").write_text("".join(w + "\n" for w in warnings))
        tables.append(out / "warnings.txt")
    else:
        (out / "warnings.txt").unlink(missing_ok=True)  # none from an earlier, damaged read
    return {
        "figures": [f for f in figures if f is not None],
        "tables": tables,
        "warnings": warnings,
        "rows": rows,
        "pooled": pooled,
    }

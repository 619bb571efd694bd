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


def _fmt(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(rows: list[dict]) -> str:
    """The per-run table; a `problems` column when some run has one."""
    flagged = any(r.get("problems") for r in rows)
    has_ece = any(math.isfinite(r.get("test_ece", math.nan)) for r in rows)  # runs from before: no such column
    header = ["run", "epochs", "best val acc (epoch)", "final val loss", "test loss", "test acc (epoch)", "train time"]
    header += ["test ECE", "test ECE at T (T)"] if has_ece else []
    header += ["problems"] if flagged else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        best = f"{_fmt(r['best_val_acc'])} ({r['best_val_epoch']})" if r["best_val_epoch"] else "-"
        train_s = f"{r['train_s']:.1f} s" if math.isfinite(r["train_s"]) else "-"
        tested = f" ({r['tested_epoch']})" if r.get("tested_epoch") else ""
        lines.append(
            f"| {r['run']} | {r['epochs']} | {best} | {_fmt(r['final_val_loss'])} | {_fmt(r['test_loss'])} "
            f"| {_fmt(r['test_acc'])}{tested} | {train_s} |"
            + (
                f" {_fmt(r['test_ece'])} | {_fmt(r['test_ece_scaled'])} ({_fmt(r['temperature'], 2)}) |"
                if has_ece
                else ""
            )
            + (f" {'**' + r['problems'] + '**' if r.get('problems') else ''} |" if flagged else "")
        )
    return "\n".join(lines) + "\n"


def _pm(mean: float, ci: float, n: int, sign: str = "", seeds: list | None = None) -> str:
    """mean ± CI; `seeds` (where they split: some stuck at chance) their own values instead."""
    if not math.isfinite(mean):
        return "-"
    if seeds:
        return " / ".join(f"{v:{sign}.4f}" for v in seeds) + " (split)"
    return f"{mean:{sign}.4f} ± {ci:.4f}" if math.isfinite(ci) else f"{mean:{sign}.4f} (n={n}, no CI)"


def pooled_markdown(rows: list[dict], reference: str = REFERENCE) -> str:
    """The pooled table: mean ± 95% CI half-width over seeds."""
    flagged = any(r.get("problems") for r in rows)
    ece = calibrated(rows)
    header = [
        "group",
        "n",
        "test acc",
        "test loss",
        "best val acc",
        "min val loss",
        "gap (train - val acc)",
        f"test acc - {reference} (paired)",
    ]
    header += ["test ECE", "test ECE at T", f"test ECE - {reference} (paired)", "T"] if ece else []
    header += ["problems"] if flagged else []
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        split = r.get("split") and r[f"{POOLED[0]}_seeds"]
        name = r["group"] + (f" (seeds split: {r['split']})" if r.get("split") else "")
        cells = [name, str(r["n"])] + [
            _pm(r[f"{m}_mean"], r[f"{m}_ci95"], r["n"], seeds=split and r[f"{m}_seeds"]) for m in POOLED
        ]
        cells.append(
            _pm(
                r["test_acc_diff_mean"],
                r["test_acc_diff_ci95"],
                r["n_paired"],
                "+",
                seeds=r.get("diff_split") and r["test_acc_diff_seeds"],
            )
            + (f" (n={r['n_paired']})" if r["n_paired"] > 1 else "")
        )
        if ece:
            cells += [
                _pm(r[f"{m}_mean"], r[f"{m}_ci95"], r["n"], seeds=split and r[f"{m}_seeds"])
                for m in ("test_ece", "test_ece_scaled")
            ]
            diff_split = r.get("diff_split") and r["test_ece_diff_seeds"]
            cells.append(_pm(r["test_ece_diff_mean"], r["test_ece_diff_ci95"], r["n_paired"], "+", seeds=diff_split))
            cells.append(
                _pm(r["temperature_mean"], r["temperature_ci95"], r["n"], seeds=split and r["temperature_seeds"])
            )
        cells += [f"**{r['problems']}**" if r["problems"] else ""] if flagged else []
        lines.append("| " + " | ".join(cells) + " |")
    lines += [
        "",
        "mean ± half-width of the 95% t-interval over seeds (t.ppf(0.975, n-1)·s/√n; n = 1: no CI). "
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

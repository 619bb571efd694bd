"""Compare finished runs from their TensorBoard event files alone (no retraining): figures + tables.

    runs = load_runs("logs/multiruns/<time>")          # every dir under it holding events.out.tfevents.*
    runs.warnings                                       # what could not be read, one line each, naming the file
    pool_runs(runs)                                     # the pooled table (seeds pooled) as a list of dicts
    write_comparison(runs, "logs/multiruns/<time>/comparison")

`scripts/compare.py` is the command-line entry point. One concern per module:

    events.py    event files -> scalar series + HPARAMS, each record's length and CRCs checked (`Problem`s)
    runs.py      `Run` (curves per epoch, finals, HPARAMS, problems), `load_run`, `load_runs`
    labels.py    the variants' order, what a sweep varied (`swept_keys`), run and group labels
    pooling.py   seeds pooled: mean ± 95% CI, paired differences to the baseline (`pool_runs`), split seeds
    plots.py     the per-run figures; pooled_plots.py: the seeds pooled (no band over a few seeds);
    calibration_plots.py  reliability.png (seeds pooled, before and after temperature scaling), ece_vs_epoch*.png
    headline.py  remedies.png: which variant, by how much (test acc, gap, val loss; each seed drawn)
    tables.py    comparison.md/.csv, pooled.md/.csv, warnings.txt; `write_comparison` writes all of them
    stats.py     mean and 95% CI over a handful of seeds (Student's t)
    inside.py    inside one trained classifier (a checkpoint): the words with the largest weight paths to the
                 logit each way, the test reviews it gets most confidently wrong (the notebook's section 6)
    sweep_end.py `CompareWhenSweepEnds`: the Hydra callback with which a sweep ends by writing all this into
                 <sweep dir>/comparison/ and printing its pooled table (conf/hydra/default.yaml)

The three studies' pages (docs/results/, the README's block; `scripts/results.py` is their entry point):

    studies.py       finds each study's newest sweep, measures it, writes the tables and figures
    study_tables.py  the text of those pages, from what studies.py measured (`Sweep`) and pool_runs pooled

What could not be read (a truncated or corrupted event file, a missing HPARAMS summary or test metrics) is a
`Problem`, named with its file, in `runs.warnings`, in the run's `problems` (a column of both tables) and in
warnings.txt next to the tables; such runs are flagged, not silently dropped.
"""

import importlib

# What `from overfit.compare import X` gives, and the module that holds it. Loaded on first use (PEP 562): Hydra
# instantiates sweep_end's callback for every run, single ones included, and importing this package must not
# pull in matplotlib, scipy.stats and torchmetrics there (~2 s on 2 cores) for a table only a sweep's end needs.
_HOME = {
    "Problem": "events",
    "read_event_dir": "events",
    "read_events": "events",
    "read_hparams": "events",
    "read_records": "events",
    "REFERENCE": "labels",
    "VARIANTS": "labels",
    "swept_keys": "labels",
    "POOLED": "pooling",
    "pool_runs": "pooling",
    "COLUMNS": "runs",
    "CURVES": "runs",
    "Run": "runs",
    "Runs": "runs",
    "load_run": "runs",
    "load_runs": "runs",
    "comparison_tables": "tables",
    "markdown_table": "tables",
    "pooled_markdown": "tables",
    "write_comparison": "tables",
}
__all__ = sorted(_HOME)


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)
    globals()[name] = value  # once: later lookups do not come here
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_HOME))

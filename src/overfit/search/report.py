"""What a search leaves for people, in the sweep dir (logs/optuna/<study>/ by default), rewritten by each worker
at its end from the whole study:

    optimization_results.yaml   best value (and what it measures), parameters, trial, run dir and the command
                                that re-runs it (keeping the same weights: objective.py); counts
    trials.csv                  one row per trial: number, state, value, pruned_at_epoch, duration, params, run dir
    optuna_history.png, optuna_intermediate_values.png, optuna_importance.png   (hydra.sweeper.plots=true;
                                importance from hydra.sweeper.importance_min_trials complete trials on)

Workers sharing the sweep dir each rewrite these files: every one is written atomically (overfit.atomic), so
readers never see half of one. `ReportBest` (a Hydra callback of conf/hparams_search/optuna.yaml) prints the
first file at the end of the sweep.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import shlex
import sys
import warnings
from functools import partial
from pathlib import Path
from typing import Any

import yaml
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf

from overfit import atomic
from overfit.search import objective as search_objective
from overfit.search.space import as_overrides

log = logging.getLogger("overfit")
FIGURES = {
    "optuna_history.png": "plot_optimization_history",
    "optuna_intermediate_values.png": "plot_intermediate_values",
    "optuna_importance.png": "plot_param_importances",
}


def rerun_command(search: Any, params: dict) -> str:
    """A plain run (no search) of these parameters, with the search's other overrides; it keeps and tests the
    weights a trial keeps (its best epoch by val/acc), so it reproduces the trial's value and test metrics."""
    fixed = [line for line in search.fixed if not line.startswith("hparams_search=")]
    variant = OmegaConf.select(search.config, "model.variant")
    words = ["python", os.path.relpath(sys.argv[0]) if sys.argv[0] else "train.py", *fixed]
    words += search_objective.rerun_overrides(search.config, fixed)
    words += [f"model.variant={variant}"] if variant else []
    return " ".join(shlex.quote(w) for w in words + as_overrides(params))


def write_results(search: Any, study: Any) -> Path:
    from optuna.trial import TrialState

    out = Path(OmegaConf.select(search.config, "hydra.sweep.dir"))
    out.mkdir(parents=True, exist_ok=True)
    trials = study.get_trials(deepcopy=False)
    counts = {
        name: sum(t.state == state for t in trials)
        for name, state in (
            ("complete", TrialState.COMPLETE),
            ("pruned", TrialState.PRUNED),
            ("failed", TrialState.FAIL),
            ("running", TrialState.RUNNING),
        )
    }
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    best = study.best_trial if complete else None
    results = {
        "name": "optuna",
        "study": search.study_name,
        "storage": search.storage,
        "direction": study.direction.name.lower(),
        "trials": counts,
        "best_value": best.value if best else None,
        "objective": getattr(search, "objective", None),  # what best_value measures: the weights a trial tests
        "best_params": dict(best.params) if best else {},
        "best_trial": best.number if best else None,
        "best_run_dir": best.user_attrs.get("run_dir") if best else None,
        "command": rerun_command(search, best.params) if best else None,
        "epochs_saved_by_pruning": epochs_saved(search, trials),
        "figures": [],
        "figures_not_drawn": {},
    }
    write_trials_csv(out / "trials.csv", trials)
    if search.settings.get("plots") and complete:
        floor = int(search.settings.get("importance_min_trials", 10))
        results["figures"], results["figures_not_drawn"] = plot(study, out, len(complete), floor)
    atomic.write_text(out / "optimization_results.yaml", yaml.safe_dump(results, sort_keys=False, width=100_000))
    if best:
        log.info(
            f"optuna: best {best.value:.4f} (trial {best.number}) of {len(trials)} trials {counts}; "
            f"re-run it: {results['command']}"
        )
    else:
        log.info(f"optuna: no complete trial yet ({counts})")
    return out / "optimization_results.yaml"


def epochs_saved(search: Any, trials: list) -> int | None:
    """Epochs the pruned trials did not train (of trainer.max_epochs each)."""
    max_epochs = OmegaConf.select(search.config, "trainer.max_epochs")
    if not isinstance(max_epochs, int) or max_epochs < 1:
        return None
    return sum(max_epochs - t.user_attrs["pruned_at_epoch"] for t in trials if "pruned_at_epoch" in t.user_attrs)


def write_trials_csv(path: Path, trials: list) -> None:
    names = sorted({k for t in trials for k in t.params})
    rows = [["number", "state", "value", "pruned_at_epoch", "duration_s", *names, "run_dir", "error"]]
    for t in trials:
        duration = (t.datetime_complete - t.datetime_start).total_seconds() if t.datetime_complete else None
        rows.append(
            [
                t.number,
                t.state.name,
                t.value,
                t.user_attrs.get("pruned_at_epoch"),
                None if duration is None else round(duration, 1),
                *(t.params.get(n) for n in names),
                t.user_attrs.get("run_dir"),
                t.user_attrs.get("error") or t.user_attrs.get("lost"),
            ]
        )
    text = io.StringIO()  # csv's own \r\n line ends, as a file opened with newline="" gets them
    csv.writer(text).writerows(rows)
    atomic.write_text(path, text.getvalue())


def plot(study: Any, out: Path, complete: int, importance_min_trials: int) -> tuple[list[str], dict[str, str]]:
    """The figures drawn, and {figure: why not} for those that are not.

    Parameter importance (a random forest fitted to the complete trials) from a handful of trials is noise that
    looks like a finding: below `importance_min_trials` it is not drawn, and a line says so. A figure left from
    an earlier draw is removed then, so the folder never shows one the results file does not list."""
    skipped = {}
    if complete < importance_min_trials:
        name = "optuna_importance.png"
        skipped[name] = (
            f"{complete} complete trial{'s' * (complete != 1)}; parameter importance needs at least "
            f"{importance_min_trials} (hydra.sweeper.importance_min_trials)"
        )
        (out / name).unlink(missing_ok=True)
        log.info(f"optuna: {name} not drawn: {skipped[name]}")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization import matplotlib as figures

    written = []
    for name, function in FIGURES.items():
        if name in skipped:
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # Optuna's matplotlib plots are "experimental"
                ax = getattr(figures, function)(study)
            fig = (ax.flat[0] if hasattr(ax, "flat") else ax).figure
            fig.set_size_inches(9, 5)
            fig.tight_layout()
            try:
                atomic.write_with(out / name, partial(fig.savefig, format="png", dpi=100))
            finally:
                plt.close(fig)
            written.append(name)
        except (ValueError, RuntimeError, optuna.exceptions.OptunaError) as err:  # e.g. too few trials
            skipped[name] = " ".join(str(err).split())[:200]
            log.info(f"optuna: {name} skipped ({skipped[name]})")
    return written, skipped


class ReportBest(Callback):
    """Hydra callback: after an Optuna search, print <sweep dir>/optimization_results.yaml (best value, parameters,
    trial, run dir, the command that re-runs it, trial counts, figures) and its path."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        results = Path(config.hydra.sweep.dir) / "optimization_results.yaml"
        if results.is_file():
            print(f"best parameters: {results}\n{results.read_text()}", flush=True)

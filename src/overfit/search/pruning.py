"""Pruning inside a trial: the Lightning callback that reports to the run's Optuna trial.

conf/hparams_search/optuna.yaml adds it as callbacks.optuna_pruning, with `trial: ${optuna_trial}` (which study,
storage and trial number this run is; the sweeper sets them for each trial, null outside a search) and
`monitor: ${optimized_metric}`: a trial is pruned on the number it is scored by (val/acc_best, the best val/acc
so far, whose epoch the trial keeps), so its last report is its value (objective.py checks the two agree).
"""

from __future__ import annotations

import logging
from typing import Any

import lightning as L
from omegaconf import DictConfig

from overfit.errors import OverfitError
from overfit.search.space import make_pruner, open_storage, plain, trial_id

log = logging.getLogger("overfit")


def load_trial(where: DictConfig | dict, settings: Any) -> Any:
    """The running `optuna.trial.Trial` this job is, rebuilt from the storage (for report / should_prune)."""
    import optuna

    storage = open_storage(where["storage"])  # ours: its ids are public, a study's storage and ids are not
    study = optuna.load_study(
        study_name=where["study"],
        storage=storage,
        pruner=make_pruner(settings),
        sampler=optuna.samplers.RandomSampler(),
    )
    return optuna.trial.Trial(study, trial_id(storage, where["study"], int(where["number"])))


class ReportToTrial(L.Callback):
    """Reports `monitor` to this run's trial after each validation epoch; stops the run when the study's pruner
    says so (after that epoch, so the run still tests and writes metrics.json). Inert outside a search.

    DDP: rank 0 alone reads and writes the study; its decision is broadcast so every rank stops together.
    """

    def __init__(self, monitor: str = "val/acc_best", trial: Any = None):
        self.monitor = monitor
        self.where = dict(plain(trial)) if trial is not None and trial.get("number") is not None else None
        self.trial = None

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.where is not None and trainer.is_global_zero:
            from hydra.core.hydra_config import HydraConfig

            settings = HydraConfig.get().sweeper if HydraConfig.initialized() else {}
            self.trial = load_trial(self.where, settings)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if self.where is None or trainer.sanity_checking:
            return
        prune = False
        if trainer.is_global_zero and self.trial is not None:
            value = trainer.callback_metrics.get(self.monitor)
            if value is None:
                raise OverfitError(
                    f"callbacks.optuna_pruning.monitor={self.monitor}: not logged; "
                    f"choose one of {sorted(trainer.callback_metrics)}"
                )
            epoch = trainer.current_epoch
            try:
                self.trial.report(float(value), step=epoch)
                prune = self.trial.should_prune()
                if prune:
                    self.trial.set_user_attr("pruned_at_epoch", epoch + 1)
                    log.info(
                        f"optuna: trial {self.where['number']} pruned after epoch {epoch + 1} "
                        f"({self.monitor}={float(value):.4f})"
                    )
            except RuntimeError as err:  # the trial was closed meanwhile (taken for lost): train on, unreported
                log.warning(f"optuna: trial {self.where['number']}: {err}; no longer reporting")
                self.trial, prune = None, False
        if trainer.strategy.broadcast(prune, src=0):
            trainer.should_stop = True

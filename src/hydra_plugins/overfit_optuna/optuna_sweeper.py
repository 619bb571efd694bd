"""The `hydra/sweeper: overfit_optuna` plugin. Hydra imports every module under hydra_plugins at start-up,
train.py runs that are no search included, so this one stays light: Optuna is imported only by a search.

The work is done in overfit/search/sweeper.py; this file holds the config schema and the Sweeper class Hydra needs.
"""

# No `from __future__ import annotations`: Hydra's plugin scan runs this module outside sys.modules, where
# dataclasses cannot resolve string annotations.
from dataclasses import dataclass, field
from typing import Any

from hydra.core.config_store import ConfigStore
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


@dataclass
class OverfitOptunaSweeperConf:
    _target_: str = "hydra_plugins.overfit_optuna.optuna_sweeper.OverfitOptunaSweeper"
    _recursive_: bool = False  # sampler / pruner configs reach us as configs: bad ones become one-line errors
    study_name: str = "overfit"
    # A file path: Optuna's journal file storage (no server; shared filesystems work). A URL with "://": an RDB
    # (sqlite:///logs/optuna.db, postgresql://...). null: <sweep dir>/optuna.journal.
    storage: str | None = None
    direction: str = "maximize"
    n_trials: int = 20  # trials of the study in total, over all workers and re-runs
    n_jobs: int = 1  # trials launched together (a parallel launcher); independent workers are the better way
    sampler: Any = field(
        default_factory=lambda: {
            "_target_": "optuna.samplers.TPESampler",
            "seed": None,
            "n_startup_trials": 5,
            "constant_liar": True,
        }
    )
    pruner: Any = "median"  # a name from `pruners`, or {_target_: optuna.pruners.X, ...}
    pruners: Any = field(
        default_factory=lambda: {
            "median": {"n_startup_trials": 4, "n_warmup_steps": 2, "interval_steps": 1},
            "successive_halving": {"min_resource": 2, "reduction_factor": 3, "min_early_stopping_rate": 0},
            "hyperband": {"min_resource": 2, "max_resource": "auto", "reduction_factor": 3},
            "none": {},
        }
    )
    max_failure_rate: float = 0.0  # failed trials / trials this worker ran, above which the worker stops
    heartbeat_s: int = 60  # a RUNNING trial whose worker has not written for 5x this long counts as lost
    plots: bool = True  # optimization history, intermediate values, parameter importances (PNG)
    importance_min_trials: int = 10  # parameter importances only from this many complete trials on (else: noise)
    params: Any | None = None  # the search space: {key: "interval(..)" | "tag(log, interval(..))" | "choice(..)"}


ConfigStore.instance().store(
    group="hydra/sweeper", name="overfit_optuna", node=OverfitOptunaSweeperConf, provider="overfit"
)


class OverfitOptunaSweeper(Sweeper):
    def __init__(self, **settings: Any) -> None:
        self.settings = settings

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        from overfit.search.sweeper import Search

        launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.search = Search(self.settings, config, launcher)

    def sweep(self, arguments: list[str]) -> None:  # Hydra calls setup() first
        self.search.run(list(arguments))

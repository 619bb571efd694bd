"""overfit: the IMDB regularization lab, low-rank factorization and an optimization lab (see README.md).

From Python (overfit/api.py): `overfit.run("model=dropout", "seed=1")` trains as `python train.py model=dropout
seed=1` does; `overfit.compare_runs("logs/runs")` gives scripts/compare.py's tables as lists of dicts.
"""

import importlib
import importlib.abc
import importlib.util
import sys

from overfit.runs import dirs as _rundir

_rundir.register()  # ${unique_dir:...} in conf/hydra/default.yaml: a directory no other run writes into

# Loaded on first use: `import overfit.<module>` stays light (overfit.api pulls in Hydra, Lightning, torch).
_API = ("run", "compare_runs", "TrainedRun", "config_dir")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from overfit import api

        return getattr(api, name)
    raise AttributeError(f"module 'overfit' has no attribute {name!r}")


# Modules that configs name in a `_target_` and that moved into packages on 2026-12-07. A config or a checkpoint's
# recorded config written before names the old module: it is imported as the new one, so it keeps working.
MOVED = {
    "overfit.checkpoint_io": "overfit.checkpoints.io",  # AtomicFileCheckpointIO (conf/trainer)
    "overfit.progress": "overfit.runs.progress",  # progress_bar (conf/callbacks, conf/model/factorization)
    "overfit.search_pruning": "overfit.search.pruning",  # ReportToTrial (conf/hparams_search/optuna)
    "overfit.sweeps": "overfit.search.report",  # ReportBest (conf/hparams_search/optuna)
    "overfit.slurm": "overfit.runs.slurm",  # CheckPartition (conf/hydra/launcher/slurm)
}


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import overfit.checkpoint_io` gives the module overfit.checkpoints.io (the same object, not a copy)."""

    def find_spec(self, name, path=None, target=None):
        return importlib.util.spec_from_loader(name, self) if name in MOVED else None

    def create_module(self, spec):
        return importlib.import_module(MOVED[spec.name])

    def exec_module(self, module):  # the new module ran when it was imported
        pass


if not any(isinstance(finder, _Alias) for finder in sys.meta_path):
    sys.meta_path.append(_Alias())


def __dir__():
    return sorted(set(globals()) | set(_API))

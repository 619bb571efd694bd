"""overfit: the IMDB regularization lab, low-rank factorization and an optimization lab (see README.md).

From Python (overfit/api.py): `overfit.run("model=dropout", "seed=1")` trains as `python train.py model=dropout
seed=1` does; `overfit.compare_runs("logs/runs")` gives scripts/compare.py's tables as lists of dicts.
"""

from overfit import rundir as _rundir

_rundir.register()  # ${unique_dir:...} in conf/hydra/default.yaml: a directory no other run writes into

# Loaded on first use: `import overfit.<module>` stays light (overfit.api pulls in Hydra, Lightning, torch).
_API = ("run", "compare_runs", "TrainedRun", "config_dir")
__all__ = list(_API)


def __getattr__(name: str):
    if name in _API:
        from overfit import api

        return getattr(api, name)
    raise AttributeError(f"module 'overfit' has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(_API))

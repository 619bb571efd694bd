"""overfit: the IMDB regularization lab, low-rank factorization and an optimization lab (see README.md)."""

from overfit import rundir as _rundir

_rundir.register()  # ${unique_dir:...} in conf/hydra/default.yaml: a directory no other run writes into

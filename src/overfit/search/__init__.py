"""Hyperparameter search: `python train.py -m hparams_search=optuna`, Optuna behind Hydra's sweeper interface.

Each command is a worker on one study in Optuna's own storage: it asks a trial, runs it as a Hydra job, tells the
study how it ended (study.ask / study.tell), until the study holds n_trials. src/hydra_plugins/overfit_optuna/ is
the thin plugin that Hydra discovers (the settings' schema); it builds a `Search` and calls it.

    sweeper.py      `Search`: the worker's loop (check the settings, open the study, ask, launch, tell)
    space.py        the settings -> Optuna's search space, sampler, pruner and storage (one line per error)
    objective.py    what a trial is scored by, and that the weights it tests are the weights that scored
    workers.py      several workers on one study: one ask at a time, heartbeats, trials lost with their worker
    pruning.py      `ReportToTrial`: the Lightning callback in each trial that reports each epoch and prunes
    report.py       optimization_results.yaml, trials.csv and the figures; `ReportBest` prints them at the end

See docs/search.md (also why not hydra-optuna-sweeper or optuna-integration's pruning callback).
"""

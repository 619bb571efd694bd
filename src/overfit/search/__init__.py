"""Hyperparameter search: `python train.py -m hparams_search=optuna`, Optuna behind Hydra's sweeper interface.

    sweeper.py      `Search`: the loop one worker runs (ask a trial, run it as a Hydra job, tell its value);
                    src/hydra_plugins/overfit_optuna/ is the thin plugin that Hydra discovers and that calls it
    space.py        the search settings -> Optuna's search space, sampler, pruner and storage (one line per error)
    objective.py    what a trial is scored by, and that the weights it tests are the weights that scored
    pruning.py      `ReportToTrial`: the Lightning callback that reports each epoch to the trial and prunes
    workers.py      several workers on one study: heartbeats, trials lost with their worker, one ask at a time
    report.py       optimization_results.yaml, trials.csv and the figures; `ReportBest` prints them at the end

See docs/search.md.
"""

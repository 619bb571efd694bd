"""Hydra sweeper `overfit_optuna`: an Optuna (>= 5) search over a shared study (see overfit/search/sweeper.py)."""

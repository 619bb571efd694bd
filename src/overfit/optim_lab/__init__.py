"""Optimization lab: toy surfaces, from-scratch optimizers, convergence theory and autodiff (no Lightning).

    from overfit.optim_lab import Beale, Adam, run
    result = run(Beale(), Adam(lr=0.1), start=(0.7, 1.4), max_steps=10_000, tol=1e-7)

CLI: `python scripts/optim_lab.py surface=beale optimizer=adam optimizer.lr=0.1 start=[0.7,1.4]`.
"""

from overfit.optim_lab.errors import OptimLabError
from overfit.optim_lab.optimizers import GD, OPTIMIZERS, Adam, Momentum, Nesterov, Optimizer, RMSprop
from overfit.optim_lab.runner import RunResult, run
from overfit.optim_lab.surfaces import Beale, Quadratic, Rosenbrock, Surface

__all__ = [
    "Adam",
    "Beale",
    "GD",
    "Momentum",
    "Nesterov",
    "OPTIMIZERS",
    "OptimLabError",
    "Optimizer",
    "Quadratic",
    "RMSprop",
    "Rosenbrock",
    "RunResult",
    "Surface",
    "run",
]

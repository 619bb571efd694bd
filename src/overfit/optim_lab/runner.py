"""Run an optimizer on a surface and record the path.

    from overfit.optim_lab import Beale, Adam, run
    r = run(Beale(), Adam(lr=0.1), start=(0.7, 1.4), max_steps=10_000, tol=1e-7)
    r.points[-1], r.values[-1], r.steps, r.reason      # -> (2.9958, 0.4990), ..., 408, "converged"

Stopping rules, checked after every step k = 1, 2, ...:
- "diverged":  the new point or value is inf/nan, or |f| > blowup (float64 needs thousands of steps of a mildly
               unstable iteration to overflow, so a large finite bound reports the divergence much earlier);
- "converged": |f(x_k) - f(x_{k-1})| < tol;
- "max_steps": k == max_steps.
"""

import math
from dataclasses import dataclass

import torch

from overfit.optim_lab.errors import OptimLabError
from overfit.optim_lab.surfaces import Surface


@dataclass
class RunResult:
    points: torch.Tensor  # (steps + 1, d): start first; a diverged run keeps its last (non-finite) point
    values: torch.Tensor  # (steps + 1,)
    steps: int
    reason: str  # "converged" | "max_steps" | "diverged"
    surface: str = ""
    optimizer: str = ""

    @property
    def final(self) -> torch.Tensor:
        return self.points[-1]

    @property
    def final_value(self) -> float:
        return float(self.values[-1])

    def distance_to(self, point) -> float:
        return float(torch.linalg.vector_norm(self.final - torch.as_tensor(point, dtype=self.final.dtype)))


def check_start(surface: Surface, start) -> torch.Tensor:
    """The start as a float64 vector of the surface's dimension, or a one-line OptimLabError."""
    try:
        x = torch.as_tensor(start, dtype=torch.float64).reshape(-1)
    except (TypeError, ValueError, RuntimeError):
        raise OptimLabError(f"start={start!r} is not a list of numbers; use e.g. start=[0.7,1.4]") from None
    if x.numel() != surface.dim:
        raise OptimLabError(f"start={list(map(float, x))} has {x.numel()} coordinates; {surface.name} needs {surface.dim}")
    if not bool(torch.isfinite(x).all()):
        raise OptimLabError(f"start={x.tolist()} must be finite")
    return x


def run(surface: Surface, optimizer, start, max_steps: int = 10_000, tol: float = 1e-7, blowup: float = 1e50) -> RunResult:
    """Iterate x <- optimizer.step(x, surface.grad(x)) from `start` until one of the stopping rules fires."""
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise OptimLabError(f"max_steps={max_steps} must be an integer >= 1")
    if not (tol >= 0):
        raise OptimLabError(f"tol={tol} must be >= 0")
    x = check_start(surface, start)
    optimizer.reset()
    points, values = [x], [float(surface.value(x))]
    reason = "max_steps"
    for _ in range(max_steps):
        # a step that overflows only produces inf/nan (and maybe warnings); we detect it just below
        x = optimizer.step(x, surface.grad(x))
        f = float(surface.value(x))
        points.append(x)
        values.append(f)
        if not (bool(torch.isfinite(x).all()) and math.isfinite(f)) or abs(f) > blowup:
            reason = "diverged"
            break
        if abs(f - values[-2]) < tol:
            reason = "converged"
            break
    return RunResult(
        points=torch.stack(points),
        values=torch.tensor(values, dtype=torch.float64),
        steps=len(points) - 1,
        reason=reason,
        surface=surface.name,
        optimizer=getattr(optimizer, "name", type(optimizer).__name__),
    )

"""Run an optimizer on a surface and record the path.

    from overfit.optim_lab import Beale, Adam, run
    r = run(Beale(), Adam(lr=0.1), start=(0.7, 1.4), max_steps=10_000, tol=1e-7)
    r.points[-1], r.values[-1], r.steps, r.reason      # -> (2.9958, 0.4990), ..., 408, "converged"

Stopping rules, checked after every step k = 1, 2, ... (x_0 = start, f_k = f(x_k), g_k = grad f(x_k), |.| the
Euclidean norm), in this order:
- "diverged":  x_k or f_k is inf/nan; or the run has been far off for `patience` (100) consecutive steps, where step
               k is far off when  f_k > f_0 + blowup (|f_0| + 1)  or  |x_k - x_0| > sqrt(blowup) (|x_0| + 1)
               (blowup = 1e10; on a bowl, f ~ |x|^2, the two bounds agree; the iterate bound catches surfaces that
               stay flat or fall far away).  Only a sustained excursion counts: Adam and RMSprop at a huge lr jump
               to f ~ 1e30 on their first step, and RMSprop (lr 1e3, Beale) comes back to f < f_0, while Adam at lr
               1e6 stays at f ~ 1e38..1e48 on Beale for good (reported at step 100; it never overflows, so the old
               rule "inf/nan or |f| > 1e50" ran it to max_steps).  A mildly unstable iteration needs thousands of
               steps to overflow float64; the bound reports it far earlier (GD on a bowl with factor -2 per step:
               at step 116).  blowup = inf: only inf/nan is divergence.
- "converged": all three of
                 |f_k - f_{k-1}| < tol                  f has stopped changing (the user's precision);
                 |g_k| <= gtol max(1, |g_0|)            x_k is stationary, relative to the scale of the start;
                 |x_k - x_{k-1}| <= xtol (1 + |x_k|)    x has stopped moving.
               |Delta f| alone is fooled whenever f stalls while x is not at a stationary point: GD at exactly
               lr = 2 / lambda_max flips the stiff coordinate y -> -y forever with f constant and |g_k| ~ |g_0|; Adam
               at lr 10 on Beale crawls along a valley with |Delta f| < 1e-7 and |g| ~ 1e-3 |g_0| (its second-moment
               memory shrinks the steps); an iterate bouncing across the bottom of a flat bowl repeats f with a
               tiny gradient but a large step.  With gtol = xtol = 1e-4 the |Delta f| test is the one that binds
               on the runs quoted in the README (their gradient and step tests already hold when |Delta f| first
               drops below tol), so those step counts are unchanged.  tol = 0: never converged (exactly max_steps);
               tol = inf: gradient and step tests alone.
- "max_steps": k == max_steps, e.g. GD exactly at the stability boundary, which never settles.
"""

import math
from dataclasses import dataclass

import torch

from overfit.optim_lab.errors import OptimLabError
from overfit.optim_lab.surfaces import Surface


@dataclass
class RunResult:
    points: torch.Tensor  # (steps + 1, d): start first; a diverged run keeps its last (non-finite or far-off) point
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
        raise OptimLabError(
            f"start={list(map(float, x))} has {x.numel()} coordinates; {surface.name} needs {surface.dim}"
        )
    if not bool(torch.isfinite(x).all()):
        raise OptimLabError(f"start={x.tolist()} must be finite")
    return x


PATIENCE = 100  # consecutive far-off steps that make a run "diverged"


def run(
    surface: Surface,
    optimizer,
    start,
    max_steps: int = 10_000,
    tol: float = 1e-7,
    blowup: float = 1e10,
    *,
    gtol: float = 1e-4,
    xtol: float = 1e-4,
    patience: int = PATIENCE,
) -> RunResult:
    """Iterate x <- optimizer.step(x, surface.grad(x)) from `start` until one of the stopping rules fires.

    blowup = math.inf disables the far-off test (only inf/nan is divergence then)."""
    if not (isinstance(max_steps, int) and max_steps >= 1):
        raise OptimLabError(f"max_steps={max_steps} must be an integer >= 1")
    for key, value in (("tol", tol), ("gtol", gtol), ("xtol", xtol)):
        if not (value >= 0):
            raise OptimLabError(f"{key}={value} must be >= 0")
    if not (blowup > 0):
        raise OptimLabError(f"blowup={blowup} must be > 0 (math.inf: report only inf/nan as divergence)")
    if not (isinstance(patience, int) and patience >= 1):
        raise OptimLabError(f"patience={patience} must be an integer >= 1")
    x = check_start(surface, start)
    optimizer.reset()
    f0, g = float(surface.value(x)), surface.grad(x)
    if not (math.isfinite(f0) and bool(torch.isfinite(g).all())):
        raise OptimLabError(f"start={x.tolist()}: f = {f0:g}, grad = {g.tolist()} there; start where both are finite")
    x0 = x
    g_bound = gtol * max(1.0, float(torch.linalg.vector_norm(g)))
    f_bound = f0 + blowup * (abs(f0) + 1.0)
    x_bound = math.sqrt(blowup) * (float(torch.linalg.vector_norm(x0)) + 1.0)
    points, values = [x], [f0]
    reason, far_off = "max_steps", 0
    for _ in range(max_steps):
        # a step that overflows only produces inf/nan (and maybe warnings); we detect it just below
        x_prev, x = x, optimizer.step(x, g)
        f = float(surface.value(x))
        points.append(x)
        values.append(f)
        if not (bool(torch.isfinite(x).all()) and math.isfinite(f)):
            reason = "diverged"
            break
        far = f > f_bound or float(torch.linalg.vector_norm(x - x0)) > x_bound
        far_off = far_off + 1 if far else 0
        if far_off >= patience:
            reason = "diverged"
            break
        g = surface.grad(x)  # the next step's gradient, and the stationarity test's
        if (
            abs(f - values[-2]) < tol
            and float(torch.linalg.vector_norm(g)) <= g_bound
            and float(torch.linalg.vector_norm(x - x_prev)) <= xtol * (1.0 + float(torch.linalg.vector_norm(x)))
        ):
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

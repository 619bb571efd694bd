"""The runner's stopping rules under faulty or pathological surfaces: it reports, it does not crash or misreport."""

import math

import pytest
import torch

from overfit.optim_lab import GD, Adam, Beale, OptimLabError, Surface, run
from overfit.optim_lab.runner import PATIENCE


class Slope(Surface):
    """f = -x: unbounded below, constant gradient (-1, 0).  f never grows: only the iterate bound sees GD leave."""

    name = "slope"

    def value(self, p):
        return -torch.as_tensor(p, dtype=torch.float64)[..., 0]

    def grad(self, p):
        p = torch.as_tensor(p, dtype=torch.float64)
        return torch.stack([-torch.ones_like(p[..., 0]), torch.zeros_like(p[..., 1])], dim=-1)


class Faulty(Beale):
    """Beale whose value or gradient turns inf/nan once x > 1.5 (a surface bug, or an overflow)."""

    def __init__(self, bad_value=None, bad_grad=None):
        self.bad_value, self.bad_grad = bad_value, bad_grad

    def value(self, p):
        f = super().value(p)
        return torch.full_like(f, self.bad_value) if self.bad_value is not None and float(p[0]) > 1.5 else f

    def grad(self, p):
        g = super().grad(p)
        return torch.full_like(g, self.bad_grad) if self.bad_grad is not None and float(p[0]) > 1.5 else g


def test_running_off_with_a_falling_value_is_diverged_by_the_iterate_bound():
    # x_k = (1000 k, 0) exactly; |x_k - x_0| > sqrt(1e10) (|x_0| + 1) = 1e5 from k = 101, for PATIENCE steps
    r = run(Slope(), GD(lr=1000.0), (0.0, 0.0), max_steps=10_000, tol=1e-7)
    assert r.reason == "diverged" and r.steps == 100 + PATIENCE
    assert bool(torch.isfinite(r.values).all()) and r.values[-1] == -1000.0 * r.steps  # f fell, never grew
    assert run(Slope(), GD(lr=1000.0), (0.0, 0.0), max_steps=500, blowup=math.inf).reason == "max_steps"


def test_adam_on_a_slope_is_not_converged_however_small_the_step_in_f():
    # Adam's step is lr whatever the gradient: with lr = 1e-9 the change in f per step (1e-9) is below tol = 1e-7,
    # the old rule called that converged at step 1; the gradient (|g| = 1 = |g_0|) says it is not stationary
    r = run(Slope(), Adam(lr=1e-9), (0.0, 0.0), max_steps=200, tol=1e-7)
    assert r.reason == "max_steps" and abs(r.values[1] - r.values[0]) < 1e-7


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_a_non_finite_value_is_diverged_at_once(bad):
    r = run(Faulty(bad_value=bad), Adam(lr=0.1), (0.7, 1.4), max_steps=10_000, tol=1e-7)
    assert r.reason == "diverged" and not math.isfinite(r.final_value) and r.final[0] > 1.5
    assert bool(torch.isfinite(r.values[:-1]).all())  # the first bad value stops the run


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_a_non_finite_gradient_is_diverged_at_the_next_step(bad):
    r = run(Faulty(bad_grad=bad), Adam(lr=0.1), (0.7, 1.4), max_steps=10_000, tol=1e-7)
    assert r.reason == "diverged" and not bool(torch.isfinite(r.final).all())
    assert float(r.points[-2][0]) > 1.5 and bool(torch.isfinite(r.points[:-1]).all())


@pytest.mark.parametrize("start", [(1e100, 1e100), (3.0, 1e60)])
def test_a_start_where_the_surface_overflows_is_a_one_line_error(start):
    with pytest.raises(OptimLabError) as e:
        run(Beale(), GD(lr=0.01), start)
    assert "\n" not in str(e.value) and "start" in str(e.value)

"""The runner's stopping rules and the seed notebook's checks."""

import math

import pytest
import torch

from overfit.optim_lab import GD, Adam, Beale, Momentum, OptimLabError, Quadratic, run


def test_seed_adam_on_beale_reaches_the_minimum():
    r = run(Beale(), Adam(lr=0.1, betas=(0.9, 0.999)), start=(0.7, 1.4), max_steps=10_000, tol=1e-7)
    assert r.reason == "converged"
    assert r.distance_to((3.0, 0.5)) < 5e-3
    # the reference implementation stops after 408 steps at (2.9958, 0.4990); the seed's buggy Beale at (2.93, 0.48)
    assert r.steps == 408
    assert torch.allclose(r.final, torch.tensor([2.9958, 0.4990], dtype=torch.float64), atol=1e-4)
    assert len(r.points) == len(r.values) == r.steps + 1
    assert abs(r.values[-1] - r.values[-2]) < 1e-7 <= abs(r.values[-2] - r.values[-3])


def test_gd_step_size_regimes_on_the_stiff_axis():
    q = Quadratic((1.0, 10.0))  # stiff axis is y, lambda_max = 10, boundary lr = 2 / 10
    boundary = run(q, GD(lr=2 / 10), (1.0, 1.0), max_steps=200, tol=0.0)
    y = boundary.points[:, 1]
    # factor 1 - 0.2 * 10 = -1: y flips sign forever, |y| stays 1 (to rounding), while x converges (factor 0.8)
    assert boundary.reason == "max_steps"
    assert torch.allclose(y.abs(), torch.ones_like(y), atol=1e-12) and y[1] == -1.0 and y[2] == 1.0
    assert abs(boundary.final[0]) < 1e-15
    above = run(q, GD(lr=0.21), (1.0, 1.0), max_steps=10_000, tol=1e-12)
    assert above.reason == "diverged"  # reported, not crashed
    below = run(q, GD(lr=0.19), (1.0, 1.0), max_steps=10_000, tol=1e-14)
    assert below.reason == "converged" and below.distance_to((0, 0)) < 1e-6


def test_momentum_beats_gd_on_an_ill_conditioned_bowl():
    q, tol = Quadratic((1.0, 30.0)), 1e-10
    gd = run(q, GD(lr=2 / 31), (1.0, 1.0), 100_000, tol)  # GD's best step 2 / (lmax + lmin)
    mom = run(q, Momentum(lr=2 / 31, momentum=0.7), (1.0, 1.0), 100_000, tol)
    assert gd.reason == mom.reason == "converged"
    assert mom.steps < gd.steps / 2, (mom.steps, gd.steps)


def test_divergence_to_inf_and_nan_is_reported():
    r = run(Beale(), GD(lr=10.0), (0.7, 1.4), max_steps=1000, tol=1e-7, blowup=math.inf)
    assert r.reason == "diverged" and not bool(torch.isfinite(r.points[-1]).all() and torch.isfinite(r.values[-1]))
    r = run(Quadratic((1.0, 10.0)), GD(lr=0.3), (1.0, 1.0), max_steps=100_000, tol=0.0)
    assert r.reason == "diverged" and r.steps < 200  # |f| > 1e50 after ~125 steps of factor -2


@pytest.mark.parametrize("start", [(1.0,), (1.0, 2.0, 3.0), "abc", (math.nan, 1.0)])
def test_bad_start_is_a_one_line_error(start):
    with pytest.raises(OptimLabError) as e:
        run(Beale(), GD(lr=0.1), start)
    assert "\n" not in str(e.value) and "start" in str(e.value)

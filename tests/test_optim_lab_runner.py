"""The runner's stopping rules and the seed notebook's checks."""

import math

import pytest
import torch

from overfit.optim_lab import GD, Adam, Beale, Momentum, OptimLabError, Quadratic, RMSprop, Rosenbrock, run
from overfit.optim_lab.runner import PATIENCE


def norms(t):
    return torch.linalg.vector_norm(t, dim=-1)


def test_seed_adam_on_beale_reaches_the_minimum():
    r = run(Beale(), Adam(lr=0.1, betas=(0.9, 0.999)), start=(0.7, 1.4), max_steps=10_000, tol=1e-7)
    assert r.reason == "converged"
    assert r.distance_to((3.0, 0.5)) < 5e-3
    # the reference implementation stops after 408 steps at (2.9958, 0.4990); the seed's buggy Beale at (2.93, 0.48)
    assert r.steps == 408
    assert torch.allclose(r.final, torch.tensor([2.9958, 0.4990], dtype=torch.float64), atol=1e-4)
    assert len(r.points) == len(r.values) == r.steps + 1
    assert abs(r.values[-1] - r.values[-2]) < 1e-7 <= abs(r.values[-2] - r.values[-3])
    # the gradient and step tests hold too (|g| = 1.3e-3 against 1e-4 * |g_0| = 5e-3): |Delta f| is what binds here
    assert norms(Beale().grad(r.final)) < 1e-4 * norms(Beale().grad(r.points[0])) / 2
    assert norms(r.points[-1] - r.points[-2]) < 1e-4


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


def test_gd_exactly_at_the_boundary_is_not_converged():
    # the case: default tol, lr = 2 / lambda_max.  x decays (factor 0.8) and y flips sign with |y| = 1, so f
    # is constant (|Delta f| = 0 < tol from step ~34 on) while |grad| = 10 |y| stays 10: not a stationary point
    q = Quadratic((1.0, 10.0))
    r = run(q, GD(lr=2 / 10), (1.0, 1.0), max_steps=2000)
    assert r.reason == "max_steps" and r.steps == 2000
    assert (r.values[1:] - r.values[:-1])[-1000:].abs().max() < 1e-7  # the old rule (|Delta f| < tol) would stop
    assert norms(q.grad(r.points)).min() > 9.99 and norms(r.points[1:] - r.points[:-1]).min() > 1.99
    # the step test alone also refuses it, and without both tests it "converges" after 34 steps (the old bug)
    assert run(q, GD(lr=2 / 10), (1.0, 1.0), max_steps=2000, gtol=math.inf).reason == "max_steps"
    assert run(q, GD(lr=2 / 10), (1.0, 1.0), max_steps=2000, gtol=math.inf, xtol=math.inf).reason == "converged"


def test_gd_just_inside_and_just_outside_the_boundary():
    q = Quadratic((1.0, 10.0))
    inside = run(q, GD(lr=0.199), (1.0, 1.0))  # factor -0.99 on y: slow but converging, with the default rules
    assert inside.reason == "converged" and inside.distance_to((0, 0)) < 1e-4 and inside.steps < 2000
    assert norms(q.grad(inside.final)) <= 1e-4 * norms(q.grad(inside.points[0]))
    outside = run(q, GD(lr=0.201), (1.0, 1.0))  # factor -1.01: f grows 2% per step, never overflows in 10000 steps
    assert outside.reason == "diverged" and outside.steps < 2000
    assert bool(torch.isfinite(outside.values).all()) and outside.values.max() < 1e50  # invisible to |f| > 1e50
    # reported once f has stayed above f_0 + 1e10 (|f_0| + 1) for PATIENCE steps, not at the first crossing
    bound = 5.5 + 1e10 * 6.5
    assert bool((outside.values[-PATIENCE:] > bound).all()) and outside.values[-PATIENCE - 1] <= bound


def test_adam_with_a_huge_lr_is_diverged_not_max_steps():
    # the case: Adam's steps are ~lr whatever the gradient, so at lr = 1e6 it wanders at |x| ~ 1e5..1e6 with
    # f ~ 1e29..1e48, all finite (the old rule ran it to max_steps at f ~ 1e38)
    for surface, start in [(Beale(), (0.7, 1.4)), (Rosenbrock(), (-1.5, 2.0))]:
        r = run(surface, Adam(lr=1e6), start, max_steps=10_000, tol=1e-7)
        f0 = float(r.values[0])
        assert r.reason == "diverged" and r.steps == PATIENCE, (surface, r.steps, r.reason)
        assert bool(torch.isfinite(r.values).all()) and r.values.max() < 1e50
        assert r.values[1:].min() > f0 + 1e10 * (abs(f0) + 1)
        # blowup=inf keeps only the inf/nan rule: then it is max_steps again
        assert run(surface, Adam(lr=1e6), start, max_steps=300, tol=1e-7, blowup=math.inf).reason == "max_steps"


def test_a_brief_excursion_is_not_divergence():
    # RMSprop's first step is lr * g / sqrt(0.01 g^2) = 10 lr per coordinate: f(step 1) ~ 1e32 on Beale; the huge
    # gradient there fills its second moment, and the next step lands back next to the start
    r = run(Beale(), RMSprop(lr=1e3), (0.7, 1.4), max_steps=300, tol=1e-7)
    assert r.values[1] > 1e30 and abs(r.values[2] - r.values[0]) < 1e-2
    assert r.reason == "max_steps" and r.steps == 300


@pytest.mark.slow
def test_a_stalled_adam_is_not_converged():
    # Adam at lr = 10 on Beale crawls along a valley: |Delta f| < 1e-7 and a step below 1e-4 (1 + |x|) on over a
    # thousand steps (its second-moment memory keeps the steps small), but |grad| >= 0.019 > 1e-4 |g_0| = 5e-3: only
    # the gradient test keeps it from "converging" (with gtol = 1e-3 it would, at step 852, |grad| = 0.05)
    s = Beale()
    r = run(s, Adam(lr=10.0), (0.7, 1.4), max_steps=2000, tol=1e-7)
    assert r.reason == "max_steps"
    df = (r.values[1:] - r.values[:-1]).abs()
    small_step = norms(r.points[1:] - r.points[:-1]) <= 1e-4 * (1 + norms(r.points[1:]))
    stalled = (df < 1e-7) & small_step
    assert int(stalled.sum()) > 1000
    assert norms(s.grad(r.points[1:]))[stalled].min() > 1e-4 * float(norms(s.grad(r.points[0])))
    assert run(s, Adam(lr=10.0), (0.7, 1.4), max_steps=2000, tol=1e-7, gtol=1e-3).reason == "converged"


def test_a_bounce_across_a_flat_bowl_is_not_converged():
    # lambda = 2^-17 and lr = 2^18: x -> -x exactly, f constant, |grad| ~ 1e-5 below the gradient test's floor
    # 1e-4 * max(1, |g_0|) = 1e-4 from the start; only the step test (|x_k - x_{k-1}| = 2.8) refuses it
    q = Quadratic((2.0**-17, 2.0**-17))
    r = run(q, GD(lr=2.0**18), (1.0, 1.0), max_steps=500)
    assert r.reason == "max_steps" and r.points[1].tolist() == [-1.0, -1.0] and r.points[2].tolist() == [1.0, 1.0]
    assert norms(q.grad(r.points)).max() < 1e-4 and bool((r.values == r.values[0]).all())
    assert run(q, GD(lr=2.0**18), (1.0, 1.0), max_steps=500, xtol=math.inf).reason == "converged"


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
    # factor -2 on y: f ~ 5 * 4^k passes f_0 + 1e10 (|f_0| + 1) at k = 17 and stays above: reported at 17 + 99
    assert r.reason == "diverged" and r.steps == 16 + PATIENCE and bool(torch.isfinite(r.values).all())


@pytest.mark.parametrize(
    "kwargs,culprit",
    [
        ({"tol": -1.0}, "tol"),
        ({"tol": math.nan}, "tol"),
        ({"gtol": -1e-4}, "gtol"),
        ({"xtol": math.nan}, "xtol"),
        ({"blowup": 0.0}, "blowup"),
        ({"patience": 0}, "patience"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_bad_stopping_parameters_are_one_line_errors(kwargs, culprit):
    with pytest.raises(OptimLabError) as e:
        run(Beale(), GD(lr=0.1), (0.7, 1.4), **kwargs)
    assert "\n" not in str(e.value) and str(e.value).startswith(culprit + "=")


@pytest.mark.parametrize("start", [(1.0,), (1.0, 2.0, 3.0), "abc", (math.nan, 1.0)])
def test_bad_start_is_a_one_line_error(start):
    with pytest.raises(OptimLabError) as e:
        run(Beale(), GD(lr=0.1), start)
    assert "\n" not in str(e.value) and "start" in str(e.value)

"""Convergence formulas of theory.py checked against runs and against the iteration matrix."""

import math
from fractions import Fraction as F

import pytest
import torch

from overfit.optim_lab import GD, Momentum, Quadratic, run
from overfit.optim_lab import theory as th


def test_closed_forms():
    assert th.max_stable_lr(10.0) == 0.2
    torch.testing.assert_close(th.gd_factors(0.15, [1.0, 10.0]), torch.tensor([0.85, -0.5], dtype=torch.float64))
    assert th.gd_rate(0.15, 1.0, 10.0) == pytest.approx(0.85)
    assert th.gd_optimal_lr(1.0, 10.0) == pytest.approx(2 / 11)
    assert th.gd_optimal_rate(1.0, 10.0) == pytest.approx(9 / 11)
    assert th.gd_rate(th.gd_optimal_lr(1.0, 30.0), 1.0, 30.0) == pytest.approx(th.gd_optimal_rate(1.0, 30.0), abs=1e-15)
    lr, mu, rate = th.momentum_optimal(1.0, 9.0)
    assert (lr, mu, rate) == (0.25, 0.25, 0.5)  # kappa = 9: eta* = 4 / (3 + 1)^2, mu* = (2 / 4)^2, rate* = 2 / 4


@pytest.mark.parametrize("lams,angle", [((1.0, 10.0), 0.0), ((1.0, 10.0), 30.0), ((0.5, 20.0), 60.0)])
@pytest.mark.parametrize("lr_frac", [0.3, 0.9, 1.1])  # as a fraction of 2 / lambda_max; 1.1 is out of the stable range
def test_gd_measured_contraction_equals_rate(lams, angle, lr_frac):
    q = Quadratic(lams, angle=angle)
    lr = lr_frac * th.max_stable_lr(q.lambda_max)
    # blowup=inf: the divergent case must run all 1000 steps (|x| ~ 1.2^1000 ~ 1e79 stays finite)
    r = run(q, GD(lr=lr), (1.0, 1.0), max_steps=1000, tol=0.0, blowup=math.inf)
    assert r.steps == 1000
    # after 900 steps the other component is gone (worst ratio of factors here, 0.8 / 0.82 at lr_frac 0.9 on
    # (1, 10), gives 0.976^900 ~ 3e-10), so the contraction over the last 100 steps is the dominant factor's modulus
    assert th.measured_contraction(r.points, 900, 1000) == pytest.approx(th.gd_rate(lr, *lams), abs=1e-6)


@pytest.mark.parametrize(
    "lams,exact",
    [
        ((1.0, 9.0), (F(1, 4), F(1, 4), F(1, 2))),
        ((1.0, 49.0), (F(1, 16), F(9, 16), F(3, 4))),
        ((1.0, 225.0), (F(1, 64), F(49, 64), F(7, 8))),
    ],
)
def test_momentum_spectral_radius_equals_formula(lams, exact):
    # kappa = 9, 49, 225 make eta*, mu*, rate* exact binary fractions, so the float64 iteration matrix IS the optimal
    # one.  The exact facts are checked in exact rational arithmetic (Fraction(float) is exact), which no BLAS or
    # LAPACK kernel touches: per eigenvalue the 2x2 block [[a, -mu], [1, 0]] has characteristic polynomial
    # z^2 - a z + mu with discriminant a^2 - 4 mu = 0, i.e. a double root a / 2 of modulus rate*.
    lr, mu, rate = th.momentum_optimal(*lams)
    assert (F(lr), F(mu), F(rate)) == exact
    M = th.momentum_iteration_matrix(torch.diag(torch.tensor(lams, dtype=torch.float64)), lr, mu)
    # reordered as (x_1, x_1', x_2, x_2') M is block diagonal, so its spectrum is the union of the blocks' roots
    P = M[[0, 2, 1, 3]][:, [0, 2, 1, 3]]
    assert P[:2, 2:].abs().max() == 0 and P[2:, :2].abs().max() == 0
    for i, lam in enumerate(lams):
        block = [[F(v) for v in row] for row in M[[i, i + 2]][:, [i, i + 2]].tolist()]
        a = block[0][0]
        assert a == 1 + exact[1] - exact[0] * F(lam) and block == [[a, -exact[1]], [1, 0]]
        assert a * a - 4 * exact[1] == 0 and abs(a / 2) == exact[2]
    # LAPACK's eigenvalue of a double root (a Jordan block) is only sqrt-accurate: a backward-stable solver returns
    # the eigenvalues of M + E with |E| ~ a few eps |M|, which moves a double root by ~ sqrt(|E|) ~ 1e-8 in any
    # direction.  Which way, and whether it is 0 for this diagonal-block M, depends on the kernel (MKL takes different
    # code paths on AVX2 and AVX-512 CPUs), so the kernel-independent bound is 1e-7, not 1e-9.
    assert th.spectral_radius(M) == pytest.approx(rate, abs=1e-7)


@pytest.mark.parametrize("lams,angle", [((1.0, 30.0), 0.0), ((1.0, 30.0), 30.0), ((0.5, 20.0), 60.0)])
def test_momentum_spectral_radius_any_kappa(lams, angle):
    # For a general kappa, eta* and mu* are rounded to float64 and the double roots at lmin / lmax split by
    # sqrt(rounding) ~ 1e-8 (a Jordan block is ill-conditioned), so float64 agrees to 1e-7; in 40-digit arithmetic
    # (mpmath, a dependency of torch via sympy) the same matrix built from the exact optimum agrees to 1e-9.
    q = Quadratic(lams, angle=angle)
    lr, mu, rate = th.momentum_optimal(*lams)
    assert th.spectral_radius(th.momentum_iteration_matrix(q.H, lr, mu)) == pytest.approx(rate, abs=1e-7)
    mpmath = pytest.importorskip("mpmath")
    with mpmath.workdps(40):
        lmin, lmax = mpmath.mpf(lams[0]), mpmath.mpf(lams[1])
        lr_mp = 4 / (mpmath.sqrt(lmax) + mpmath.sqrt(lmin)) ** 2
        mu_mp = ((mpmath.sqrt(lmax / lmin) - 1) / (mpmath.sqrt(lmax / lmin) + 1)) ** 2
        c, s = mpmath.cos(mpmath.radians(angle)), mpmath.sin(mpmath.radians(angle))
        R = mpmath.matrix([[c, -s], [s, c]])
        H = R * mpmath.diag([lmin, lmax]) * R.T
        M = mpmath.zeros(4, 4)
        for i in range(2):
            for j in range(2):
                M[i, j] = (1 + mu_mp) * (i == j) - lr_mp * H[i, j]
            M[i, i + 2], M[i + 2, i] = -mu_mp, 1
        rho = max(abs(z) for z in mpmath.eig(M, left=False, right=False))
        assert abs(float(rho) - rate) < 1e-9


def test_momentum_optimum_is_a_minimum_of_the_spectral_radius():
    lams = (1.0, 30.0)
    H = torch.diag(torch.tensor(lams, dtype=torch.float64))
    lr, mu, rate = th.momentum_optimal(*lams)
    for dlr, dmu in [(1.02, 1), (0.98, 1), (1, 1.02), (1, 0.98)]:
        assert th.spectral_radius(th.momentum_iteration_matrix(H, lr * dlr, mu * dmu)) > rate + 1e-4
    assert rate < th.gd_optimal_rate(*lams)  # sqrt(kappa) beats kappa


@pytest.mark.parametrize("lams,angle", [((1.0, 30.0), 0.0), ((1.0, 30.0), 30.0), ((1.0, 100.0), 45.0)])
def test_momentum_long_run_contraction_approaches_rate(lams, angle):
    lr, mu, rate = th.momentum_optimal(*lams)
    r = run(Quadratic(lams, angle=angle), Momentum(lr=lr, momentum=mu), (1.0, 1.0), max_steps=1000, tol=0.0)
    a, b = 500, 1000
    measured = th.measured_contraction(r.points, a, b)
    # the Jordan blocks make |x_t| ~ C t rate^t: the raw measure sits above rate by about (b / a)^(1 / (b - a)),
    # i.e. within 3e-3; dividing that polynomial factor out leaves 1e-5
    assert rate < measured < rate + 3e-3
    assert measured * (a / b) ** (1 / (b - a)) == pytest.approx(rate, abs=1e-5)

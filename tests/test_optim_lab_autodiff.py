"""Forward mode, reverse mode and central differences on the seed notebook's functions."""

import math

import torch

from overfit.optim_lab import autodiff as ad


def test_seed_g_derivative_explicit_and_autograd():
    x = torch.tensor(0.5, dtype=torch.float64)
    explicit, auto = float(ad.seed_g_prime(x)), float(ad.reverse_grad(ad.seed_g, x))
    assert abs(explicit - 555.9719) < 1e-4  # 555.97197 (the seed prints 4 decimals)
    assert abs(auto - explicit) < 1e-10 * explicit
    assert abs(float(ad.forward_grad(ad.seed_g, x)) - explicit) < 1e-10 * explicit


def test_seed_y_three_ways():
    e = math.e
    assert abs(float(ad.forward_grad(ad.seed_y, [2.0, 1.0, 1.0], index=0)) - e**3) < 1e-12 * e**3
    assert abs(float(ad.reverse_grad(ad.seed_y, [2.0, 1.0, 1.0])[1]) - 3 * e**3) < 1e-12 * 3 * e**3
    # h = sqrt(eps)(1 + 1) ~ 3e-8: round-off eps |f| / h ~ 1e-7 relative
    assert abs(float(ad.numerical_grad(ad.seed_y, [1.0, 1.0, 1.0], index=2)) - e**2) < 1e-6 * e**2
    # why the seed used differences there: sqrt(x3 sin 0) has an infinite slope in x1, x2 and autograd's d/dx3 is nan
    assert math.isnan(float(ad.reverse_grad(ad.seed_y, [1.0, 1.0, 1.0])[2]))


def test_three_methods_agree_side_by_side():
    f = lambda x: torch.sin(x[0]) * torch.exp(x[1]) + x[0] * x[1] ** 2  # noqa: E731
    c = ad.compare(f, [0.3, -0.7])
    exact = torch.tensor(
        [math.cos(0.3) * math.exp(-0.7) + 0.49, math.sin(0.3) * math.exp(-0.7) - 0.42], dtype=torch.float64
    )
    torch.testing.assert_close(c["forward"], exact, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(c["reverse"], exact, rtol=1e-14, atol=1e-14)
    torch.testing.assert_close(c["numerical"], exact, rtol=1e-6, atol=1e-7)
    table = ad.format_comparison(f, [0.3, -0.7])
    assert "forward" in table and len(table.splitlines()) == 4


def test_numerical_step_follows_the_precision():
    # float32: h = sqrt(1.2e-7)(1 + |x|) ~ 3.5e-4 * 1.5, error ~ 1e-3 relative; float64 is ~1e5 times better
    f = lambda x: torch.exp(x).sum()  # noqa: E731
    err32 = abs(float(ad.numerical_grad(f, torch.tensor([0.5]))) - math.exp(0.5))
    err64 = abs(float(ad.numerical_grad(f, torch.tensor([0.5], dtype=torch.float64))) - math.exp(0.5))
    assert err32 < 1e-2 and err64 < 1e-7 and err64 < err32 / 100


def test_step_error_curve_is_u_shaped():
    hs = torch.logspace(-14, 0, 57).tolist()
    best = {}
    for dtype in (torch.float32, torch.float64):
        err = ad.central_difference_errors(ad.seed_g, ad.seed_g_prime, 0.5, hs, dtype)
        i = int(err.argmin())
        assert (
            0 < i < len(hs) - 1 and err[0] > 100 * err[i] and err[-1] > 100 * err[i]
        )  # round-off left, truncation right
        best[dtype] = (hs[i], float(err[i]))
    # optimum near eps^(1/3) * scale: larger step and larger error in float32
    assert best[torch.float32][0] > 10 * best[torch.float64][0]
    assert best[torch.float32][1] > 1e3 * best[torch.float64][1]

"""Surfaces: values at hand-computed points, and analytic gradients / Hessians against torch autograd (float64)."""

import pytest
import torch

from overfit.optim_lab import Beale, Quadratic, Rosenbrock

SURFACES = [
    Beale(),
    Rosenbrock(),
    Quadratic((1.0, 10.0)),
    Quadratic((1.0, 30.0), angle=30.0),
    Quadratic((2.0, 3.0, 5.0)),
]


def _points(dim, n=20, seed=0):
    g = torch.Generator().manual_seed(seed)
    return 4 * torch.rand(n, dim, generator=g, dtype=torch.float64) - 2


@pytest.mark.parametrize("surface", SURFACES, ids=repr)
def test_grad_and_hessian_match_autograd(surface):
    for p in _points(surface.dim):
        g_auto = torch.func.grad(surface.value)(p)
        h_auto = torch.autograd.functional.hessian(surface.value, p)
        # analytic and autograd sum the same terms in a different order: 1e-10 relative leaves room for that only
        torch.testing.assert_close(surface.grad(p), g_auto, rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(surface.hessian(p), h_auto, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("surface", SURFACES, ids=repr)
def test_batched_shapes_agree_with_pointwise(surface):
    grid = _points(surface.dim, n=12).reshape(3, 4, surface.dim)
    assert surface.value(grid).shape == (3, 4)
    assert surface.grad(grid).shape == (3, 4, surface.dim)
    assert surface.hessian(grid).shape == (3, 4, surface.dim, surface.dim)
    # Same formula, different kernels: a batched matmul and a matrix-vector product may fuse and order the
    # multiply-adds differently (AVX-512 FMA vs AVX2), so the two agree to a few ULP, not bitwise (3.6e-15 seen on
    # an Intel Xeon for the rotated quadratic). 8 ULP of float64, relative, plus the same absolute near zero.
    eps = torch.finfo(torch.float64).eps
    torch.testing.assert_close(surface.grad(grid)[1, 2], surface.grad(grid[1, 2]), rtol=8 * eps, atol=8 * eps)
    torch.testing.assert_close(surface.value(grid)[1, 2], surface.value(grid[1, 2]), rtol=8 * eps, atol=8 * eps)


def test_beale_value_pins_every_term():
    # (1.5 - 1 + 2)^2 + (2.25 - 1 + 4)^2 + (2.625 - 1 + 8)^2 = 6.25 + 27.5625 + 92.640625; with the seed's slip
    # (y^2 in the third term) this would be 6.25 + 27.5625 + 31.640625
    assert Beale().value(torch.tensor([1.0, 2.0])) == pytest.approx(126.453125, abs=1e-12)


@pytest.mark.parametrize("surface", [Beale(), Rosenbrock(), Quadratic((1.0, 10.0), angle=45.0)], ids=repr)
def test_known_minimum(surface):
    m = torch.tensor(surface.minimum, dtype=torch.float64)
    assert float(surface.value(m)) == pytest.approx(surface.min_value, abs=1e-15)
    assert torch.linalg.vector_norm(surface.grad(m)) < 1e-12
    # a minimum: the Hessian there is positive definite
    assert bool((torch.linalg.eigvalsh(surface.hessian(m)) > 0).all())


def test_quadratic_rotation_keeps_eigenvalues():
    q = Quadratic((1.0, 10.0), angle=30.0)
    torch.testing.assert_close(torch.linalg.eigvalsh(q.H), torch.tensor([1.0, 10.0], dtype=torch.float64))
    assert abs(float(q.H[0, 1])) > 1  # really rotated: off-diagonal = (10 - 1) sin 30 cos 30 = 3.897
    assert (q.lambda_min, q.lambda_max) == (1.0, 10.0)

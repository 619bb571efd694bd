"""Convergence theory of gradient descent and heavy-ball momentum on a quadratic E = 1/2 x^T H x.

Write the error in the eigenbasis of H (eigenvalues lambda_min <= lambda_i <= lambda_max, kappa = lmax / lmin).

Gradient descent, x <- x - eta H x, multiplies the i-th eigen-component by (1 - eta lambda_i) every step, so
- it is stable iff |1 - eta lambda_i| < 1 for all i, i.e. eta < 2 / lambda_max (at eta = 2 / lambda_max the stiff
  component flips sign forever: it neither converges nor diverges);
- the asymptotic rate is rate(eta) = max_i |1 - eta lambda_i| = max(|1 - eta lmin|, |1 - eta lmax|);
- rate(eta) is smallest at eta* = 2 / (lmax + lmin), where rate* = (kappa - 1) / (kappa + 1).

Heavy-ball momentum, x_{t+1} = x_t - eta H x_t + mu (x_t - x_{t-1}) (both the seed form and torch's form, see
optimizers.py), is linear in the state (x_t, x_{t-1}) with iteration matrix
    M = [[(1 + mu) I - eta H, -mu I], [I, 0]];
per eigenvalue the 2x2 block has characteristic polynomial z^2 - (1 + mu - eta lambda) z + mu.  Choosing
    eta* = 4 / (sqrt(lmax) + sqrt(lmin))^2,   mu* = ((sqrt(kappa) - 1) / (sqrt(kappa) + 1))^2
puts every root on the circle |z| = sqrt(mu*) (double roots at lmin and lmax), so the spectral radius of M is
    rate* = (sqrt(kappa) - 1) / (sqrt(kappa) + 1),
the square root of the condition number in place of GD's kappa.  Because the blocks at lmin / lmax are Jordan
blocks, a run converges like t * rate*^t (the measured contraction approaches rate* slowly, from above), and the
numerical eigenvalues carry an O(sqrt(float eps)) error unless eta* and mu* are exact binary numbers.
"""

import math

import torch


def _lams(eigenvalues):
    lam = torch.as_tensor(eigenvalues, dtype=torch.float64).reshape(-1)
    return lam, float(lam.min()), float(lam.max())


def max_stable_lr(lambda_max: float) -> float:
    """Largest stable gradient-descent step: 2 / lambda_max (stable strictly below it)."""
    return 2.0 / lambda_max


def gd_factors(lr: float, eigenvalues) -> torch.Tensor:
    """Per-eigendirection factor (1 - eta lambda_i) that one GD step multiplies the error by."""
    lam, _, _ = _lams(eigenvalues)
    return 1.0 - lr * lam


def gd_rate(lr: float, lambda_min: float, lambda_max: float) -> float:
    """Asymptotic GD contraction per step: max(|1 - eta lambda_min|, |1 - eta lambda_max|).

    >= 1 means no convergence.
    """
    return max(abs(1.0 - lr * lambda_min), abs(1.0 - lr * lambda_max))


def gd_optimal_lr(lambda_min: float, lambda_max: float) -> float:
    """eta* = 2 / (lambda_max + lambda_min): balances the slowest and the stiffest direction."""
    return 2.0 / (lambda_max + lambda_min)


def gd_optimal_rate(lambda_min: float, lambda_max: float) -> float:
    """rate(eta*) = (kappa - 1) / (kappa + 1), kappa = lambda_max / lambda_min."""
    kappa = lambda_max / lambda_min
    return (kappa - 1.0) / (kappa + 1.0)


def momentum_optimal(lambda_min: float, lambda_max: float) -> tuple[float, float, float]:
    """(eta*, mu*, rate*) of heavy-ball momentum on a quadratic with the given extreme eigenvalues."""
    sqrt_kappa = math.sqrt(lambda_max / lambda_min)
    lr = 4.0 / (math.sqrt(lambda_max) + math.sqrt(lambda_min)) ** 2
    rate = (sqrt_kappa - 1.0) / (sqrt_kappa + 1.0)
    return lr, rate**2, rate


def momentum_iteration_matrix(H, lr: float, momentum: float) -> torch.Tensor:
    """M with (x_{t+1}, x_t) = M (x_t, x_{t-1}) for heavy ball on E = 1/2 x^T H x."""
    H = torch.as_tensor(H, dtype=torch.float64)
    eye, zero = torch.eye(len(H), dtype=torch.float64), torch.zeros_like(H)
    top = torch.cat([(1.0 + momentum) * eye - lr * H, -momentum * eye], dim=1)
    return torch.cat([top, torch.cat([eye, zero], dim=1)], dim=0)


def spectral_radius(M) -> float:
    """max |eigenvalue| of a square matrix (computed in float64)."""
    return float(torch.linalg.eigvals(torch.as_tensor(M, dtype=torch.float64)).abs().max())


def measured_contraction(points: torch.Tensor, first: int, last: int | None = None, minimum=None) -> float:
    """Geometric-mean contraction of the distance to the minimum between steps `first` and `last` of a path:
    (|x_last - x*| / |x_first - x*|) ** (1 / (last - first))."""
    last = len(points) - 1 if last is None else last
    x_star = torch.zeros_like(points[0]) if minimum is None else torch.as_tensor(minimum, dtype=points.dtype)
    e = points - x_star
    # scale by the largest coordinate first: squaring a 1e-200 coordinate would underflow to 0
    scale = e.abs().amax(dim=-1, keepdim=True)
    d = scale[..., 0] * torch.linalg.vector_norm(e / scale, dim=-1)
    return float((d[last] / d[first]) ** (1.0 / (last - first)))

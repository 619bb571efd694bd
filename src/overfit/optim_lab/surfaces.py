"""Toy loss surfaces with value, analytic gradient and analytic Hessian.

Every method takes points `p` of shape (..., d) and is batched over the leading dimensions, so a whole plotting grid
of shape (H, W, 2) is evaluated in one call:  value -> (...),  grad -> (..., d),  hessian -> (..., d, d).
Inputs that are not floating tensors become float64 (the optimizer comparisons in the tests need 1e-10).

- Beale:      f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2,  global minimum f(3, 0.5) = 0.
- Quadratic:  E(x) = 1/2 x^T H x,  H = R diag(lambda) R^T  (R a rotation by `angle` degrees, 2-D only),
  minimum E(0) = 0.
- Rosenbrock: f(x, y) = (a - x)^2 + b (y - x^2)^2,  minimum f(a, a^2) = 0.
"""

import math

import torch

from overfit.optim_lab.errors import OptimLabError


def as_points(p) -> torch.Tensor:
    """Points as a floating tensor; anything else (lists, ints) becomes float64."""
    p = torch.as_tensor(p)
    return p if p.is_floating_point() else p.to(torch.float64)


class Surface:
    """Base class: subclasses define value/grad/hessian and the facts used by the runner and the plots."""

    name = "surface"
    dim = 2
    minimum: tuple = (0.0, 0.0)  # known global minimizer (distance to it is reported)
    min_value = 0.0
    default_start: tuple = (1.0, 1.0)
    plot_range = ((-1.0, 1.0), (-1.0, 1.0))  # ((xmin, xmax), (ymin, ymax)) of the plots

    def __call__(self, p):
        return self.value(p)

    def value(self, p) -> torch.Tensor:
        raise NotImplementedError

    def grad(self, p) -> torch.Tensor:
        raise NotImplementedError

    def hessian(self, p) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"


class Beale(Surface):
    """Beale's function: sum_i t_i^2 with t_i = c_i - x + x y^i, c = (1.5, 2.25, 2.625), i = 1, 2, 3.

    grad = sum_i 2 t_i grad(t_i),  grad(t_i) = (y^i - 1, i x y^(i-1));
    hess = sum_i 2 (grad(t_i) grad(t_i)^T + t_i hess(t_i)),
    hess(t_i) = [[0, i y^(i-1)], [i y^(i-1), i(i-1) x y^(i-2)]].
    (The seed notebook had y^2 in the third term; the value at (1, 2) = 126.453125 in the tests pins y^3.)
    """

    name = "beale"
    minimum = (3.0, 0.5)
    default_start = (0.7, 1.4)
    plot_range = ((-4.5, 4.5), (-4.5, 4.5))
    C = (1.5, 2.25, 2.625)

    def _terms(self, p):
        p = as_points(p)
        x, y = p[..., 0], p[..., 1]
        out = []
        for i, c in enumerate(self.C, start=1):
            t = c - x + x * y**i
            dt = torch.stack([y**i - 1, i * x * y ** (i - 1)], dim=-1)
            # i(i-1) x y^(i-2): written out so that i = 1 never evaluates y^-1 (inf * 0 = nan at y = 0)
            d2_yy = i * (i - 1) * x * y ** (i - 2) if i >= 2 else torch.zeros_like(x)
            d2_xy = i * y ** (i - 1)
            out.append((t, dt, d2_xy, d2_yy))
        return out

    def value(self, p):
        return sum(t**2 for t, _, _, _ in self._terms(p))

    def grad(self, p):
        return sum(2 * t[..., None] * dt for t, dt, _, _ in self._terms(p))

    def hessian(self, p):
        h = 0
        for t, dt, d2_xy, d2_yy in self._terms(p):
            zero = torch.zeros_like(t)
            d2 = torch.stack([torch.stack([zero, d2_xy], -1), torch.stack([d2_xy, d2_yy], -1)], -2)
            h = h + 2 * (dt[..., :, None] * dt[..., None, :] + t[..., None, None] * d2)
        return h


class Rosenbrock(Surface):
    """Rosenbrock's banana: f = (a - x)^2 + b (y - x^2)^2, minimum (a, a^2).

    grad = (-2(a - x) - 4 b x (y - x^2),  2 b (y - x^2));  hess = [[2 - 4 b y + 12 b x^2, -4 b x], [-4 b x, 2 b]].
    """

    name = "rosenbrock"
    default_start = (-1.5, 2.0)
    plot_range = ((-2.0, 2.0), (-1.0, 3.0))

    def __init__(self, a: float = 1.0, b: float = 100.0):
        self.a, self.b = float(a), float(b)
        self.minimum = (self.a, self.a**2)

    def value(self, p):
        p = as_points(p)
        x, y = p[..., 0], p[..., 1]
        return (self.a - x) ** 2 + self.b * (y - x**2) ** 2

    def grad(self, p):
        p = as_points(p)
        x, y = p[..., 0], p[..., 1]
        return torch.stack([-2 * (self.a - x) - 4 * self.b * x * (y - x**2), 2 * self.b * (y - x**2)], dim=-1)

    def hessian(self, p):
        p = as_points(p)
        x, y = p[..., 0], p[..., 1]
        xx = 2 - 4 * self.b * y + 12 * self.b * x**2
        xy = -4 * self.b * x
        yy = torch.full_like(x, 2 * self.b)
        return torch.stack([torch.stack([xx, xy], -1), torch.stack([xy, yy], -1)], -2)

    def __repr__(self):
        return f"Rosenbrock(a={self.a}, b={self.b})"


class Quadratic(Surface):
    """The quadratic bowl E(x) = 1/2 x^T H x with H = R diag(eigenvalues) R^T; grad = H x, hessian = H.

    `angle` (degrees) rotates the eigenvectors away from the axes (2-D only); angle = 0 is the axis-aligned bowl,
    where eigenvalue i belongs to coordinate i (so with eigenvalues (1, 10) the stiff axis is y).
    """

    name = "quadratic"
    default_start = (1.0, 1.0)

    def __init__(self, eigenvalues=(1.0, 10.0), angle: float = 0.0):
        lam = torch.as_tensor(list(eigenvalues), dtype=torch.float64)
        if lam.ndim != 1 or len(lam) < 1 or not bool((lam > 0).all()):
            raise OptimLabError(f"quadratic eigenvalues={list(eigenvalues)}: give a list of positive numbers")
        if angle and len(lam) != 2:
            raise OptimLabError(f"quadratic angle={angle} needs exactly 2 eigenvalues, got {len(lam)}")
        self.eigenvalues, self.angle, self.dim = lam, float(angle), len(lam)
        c, s = math.cos(math.radians(angle)), math.sin(math.radians(angle))
        self.rotation = (
            torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
            if len(lam) == 2
            else torch.eye(len(lam), dtype=torch.float64)
        )
        self.H = self.rotation @ torch.diag(lam) @ self.rotation.T
        self.minimum = tuple([0.0] * self.dim)
        self.default_start = tuple([1.0] * self.dim)
        r = 1.5
        self.plot_range = ((-r, r), (-r, r))

    @property
    def lambda_min(self) -> float:
        return float(self.eigenvalues.min())

    @property
    def lambda_max(self) -> float:
        return float(self.eigenvalues.max())

    def value(self, p):
        p = as_points(p)
        return 0.5 * torch.einsum("...i,ij,...j->...", p, self.H.to(p.dtype), p)

    def grad(self, p):
        p = as_points(p)
        return p @ self.H.to(p.dtype).T

    def hessian(self, p):
        p = as_points(p)
        return self.H.to(p.dtype).expand(*p.shape[:-1], self.dim, self.dim)

    def __repr__(self):
        return f"Quadratic(eigenvalues={self.eigenvalues.tolist()}, angle={self.angle})"


SURFACES = {cls.name: cls for cls in (Beale, Rosenbrock, Quadratic)}


def make_surface(name: str, **params) -> Surface:
    """Surface by name ("beale", "rosenbrock", "quadratic") with its constructor parameters."""
    if name not in SURFACES:
        raise OptimLabError(f"unknown surface {name!r}; choose one of {sorted(SURFACES)}")
    return SURFACES[name](**params)

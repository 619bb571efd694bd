"""Three ways to differentiate a scalar function f: R^n -> R, side by side.

- forward mode:  one Jacobian-vector product per input direction, torch.func.jvp(f, (x,), (e_i,)) -> df/dx_i;
- reverse mode:  one backward pass gives the whole gradient (torch.autograd.grad);
- numerical:     central differences  (f(x + h e_i) - f(x - h e_i)) / (2 h),  h = sqrt(eps) (1 + |x_i|),
                 eps = torch.finfo(x.dtype).eps: the step scales with |x_i| so that x_i + h differs from x_i.
                 Truncation error is O(h^2) and round-off O(eps |f| / h); `central_difference_errors` sweeps h to
                 show the U-shaped sum (minimum near eps^(1/3)).

The seed's examples are here too (`seed_g`, `seed_y`), with the explicit derivative of seed_g.
"""

import math

import torch


def _as_input(x, dtype=torch.float64) -> torch.Tensor:
    # plain Python numbers and lists become float64 (torch's default float32 would cost 8 digits)
    x = torch.as_tensor(x) if isinstance(x, torch.Tensor) else torch.as_tensor(x, dtype=dtype)
    return (x if x.is_floating_point() else x.to(dtype)).detach().clone()


def forward_grad(f, x, index: int | None = None) -> torch.Tensor:
    """Gradient of f at x by forward mode (one jvp per coordinate), or only df/dx_index when index is given."""
    x = _as_input(x)
    flat = x.reshape(-1)
    idx = range(flat.numel()) if index is None else [index]
    out = []
    for i in idx:
        tangent = torch.zeros_like(flat)
        tangent[i] = 1.0
        _, d = torch.func.jvp(f, (x,), (tangent.reshape(x.shape),))
        out.append(d)
    return torch.stack(out).reshape(x.shape) if index is None else out[0]


def reverse_grad(f, x) -> torch.Tensor:
    """Gradient of f at x by reverse mode (autograd)."""
    x = _as_input(x).requires_grad_(True)
    (g,) = torch.autograd.grad(f(x), x)
    return g


def numerical_grad(f, x, h: float | None = None, index: int | None = None) -> torch.Tensor:
    """Central-difference gradient; h defaults per coordinate to sqrt(eps) (1 + |x_i|) in x's precision."""
    x = _as_input(x)
    flat = x.reshape(-1)
    eps = torch.finfo(x.dtype).eps
    idx = range(flat.numel()) if index is None else [index]
    out = []
    for i in idx:
        step = math.sqrt(eps) * (1.0 + abs(float(flat[i]))) if h is None else h
        e = torch.zeros_like(flat)
        e[i] = step
        e = e.reshape(x.shape)
        # divide by the step that was actually taken: (x + h) - (x - h) is not exactly 2h in floating point
        taken = (flat[i] + step) - (flat[i] - step)
        out.append((f(x + e) - f(x - e)) / taken)
    return torch.stack(out).reshape(x.shape) if index is None else out[0]


def compare(f, x) -> dict[str, torch.Tensor]:
    """The gradient of f at x by all three methods: {"forward": ..., "reverse": ..., "numerical": ...}."""
    return {"forward": forward_grad(f, x), "reverse": reverse_grad(f, x), "numerical": numerical_grad(f, x)}


def format_comparison(f, x, name: str = "f") -> str:
    """A small text table of `compare` (one row per coordinate)."""
    c = compare(f, x)
    lines = [
        f"gradient of {name} at {[round(float(v), 6) for v in torch.as_tensor(x).reshape(-1)]}",
        f"{'i':>3} {'forward':>22} {'reverse':>22} {'numerical':>22} {'|num - rev|':>12}",
    ]
    for i, (a, b, n) in enumerate(zip(*(c[k].reshape(-1).tolist() for k in ("forward", "reverse", "numerical")))):
        lines.append(f"{i:>3} {a:>22.15g} {b:>22.15g} {n:>22.15g} {abs(n - b):>12.2e}")
    return "\n".join(lines)


def central_difference_errors(f, df, x: float, steps, dtype=torch.float32) -> torch.Tensor:
    """|central difference - exact derivative| of a 1-D f at x for each step h, computed in `dtype`.

    The exact value df(x) is taken in float64, so the error is that of the `dtype` computation alone. We divide by
    the nominal 2h: below the resolution of x (x + h == x) the estimate is 0 and the error is |f'(x)|, the flat
    left end of the curve.
    """
    exact = float(df(torch.tensor(x, dtype=torch.float64)))
    errs = []
    for h in steps:
        xd, hd = torch.tensor(x, dtype=dtype), torch.tensor(h, dtype=dtype)
        approx = (f(xd + hd) - f(xd - hd)) / (2 * hd)
        errs.append(abs(float(approx) - exact))
    return torch.tensor(errs, dtype=torch.float64)


# --- the seed notebook's examples -------------------------------------------------------------------------------


def seed_g(x):
    """g(x) = exp(e^x + e^{2x}) + sin(e^x + e^{2x})."""
    u = torch.exp(x) + torch.exp(2 * x)
    return torch.exp(u) + torch.sin(u)


def seed_g_prime(x):
    """g'(x) = (e^x + 2 e^{2x}) (exp(u) + cos(u)),  u = e^x + e^{2x}  (555.9719 at x = 0.5)."""
    u = torch.exp(x) + torch.exp(2 * x)
    return (torch.exp(x) + 2 * torch.exp(2 * x)) * (torch.exp(u) + torch.cos(u))


def seed_y(x):
    """y(x1, x2, x3) = exp(x1 + x2^3) x3 + sqrt(x3 sin(pi/2 (x1 - x2))).

    dy/dx1(2, 1, 1) = e^3, dy/dx2(2, 1, 1) = 3 e^3 (cos(pi/2) = 0 kills the root's share); at (1, 1, 1) the root's
    argument is 0, so autograd's dy/dx3 is 0 * inf = nan while central differences give the true e^2.
    """
    x1, x2, x3 = x[..., 0], x[..., 1], x[..., 2]
    return torch.exp(x1 + x2**3) * x3 + torch.sqrt(x3 * torch.sin(math.pi / 2 * (x1 - x2)))

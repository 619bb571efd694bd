"""First-order optimizers written from scratch: `new_x = opt.step(x, grad)`.

Each class keeps its own state (velocity, moment estimates, step count); `reset()` clears it (the runner calls it
before every run). The update rules are written in the same form and operation order as `torch.optim`, so the
trajectories agree with torch's to ~1e-15 in float64 (the tests require 1e-10). Conventions (g = gradient at x):

- GD:        x <- x - lr g
- Momentum:  b <- mu b + g;  x <- x - lr b                       (torch.optim.SGD, momentum=mu, dampening=0)
             The seed notebook writes heavy ball as  v <- mu v - lr g;  x <- x + v.  With a constant lr that is the
             same iteration: v = -lr b (the tests check both forms give the same path).
- Nesterov:  b <- mu b + g;  x <- x - lr (g + mu b)              (torch.optim.SGD, nesterov=True)
             The "look-ahead" form  v <- mu v - lr grad(x + mu v);  x <- x + v  is the same method written in the
             shifted variable x + mu v; torch's (Sutskever/Bengio) form needs only the gradient at x.
- Adam:      m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1
             x <- x - lr m_hat / (sqrt(v_hat) + eps),  m_hat = m / (1 - b1^t),  v_hat = v / (1 - b2^t),  eps = 1e-8
- RMSprop:   v <- alpha v + (1 - alpha) g^2;  x <- x - lr g / (sqrt(v) + eps)   (torch.optim.RMSprop defaults:
             alpha = 0.99, eps = 1e-8 outside the square root, no centering, no momentum)
"""

import math

import torch

from overfit.optim_lab.errors import OptimLabError


class Optimizer:
    name = "optimizer"

    def __init__(self, lr: float):
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise OptimLabError(f"{self.name}: lr={lr} must be a finite number > 0, e.g. optimizer.lr=0.01")
        self.lr = float(lr)
        self.reset()

    def reset(self):
        """Forget the state of the previous run."""

    def step(self, x: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({args})"


def _check_unit(name, key, value, closed=False):
    ok = 0 <= value <= 1 if closed else 0 <= value < 1
    if not ok:
        raise OptimLabError(f"{name}: {key}={value} must be in [0, 1{']' if closed else ')'}")


class GD(Optimizer):
    """Plain gradient descent: x <- x - lr g."""

    name = "gd"

    def step(self, x, grad):
        return x - self.lr * grad


class Momentum(Optimizer):
    """Heavy-ball momentum (Polyak), torch form: b <- mu b + g; x <- x - lr b (seed form: v = -lr b)."""

    name = "momentum"
    nesterov = False

    def __init__(self, lr: float, momentum: float = 0.9):
        _check_unit(self.name, "momentum", momentum)
        self.momentum = float(momentum)
        super().__init__(lr)

    def reset(self):
        self._buf = None

    def step(self, x, grad):
        # torch starts the buffer at g itself (= mu * 0 + g with dampening 0)
        self._buf = grad.clone() if self._buf is None else self.momentum * self._buf + grad
        direction = grad + self.momentum * self._buf if self.nesterov else self._buf
        return x - self.lr * direction


class Nesterov(Momentum):
    """Nesterov momentum, torch form: b <- mu b + g; x <- x - lr (g + mu b)."""

    name = "nesterov"
    nesterov = True


class Adam(Optimizer):
    """Adam with bias correction; the denominator is sqrt(v)/sqrt(1 - b2^t) + eps, exactly as torch computes it."""

    name = "adam"

    def __init__(self, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8):
        b1, b2 = (float(b) for b in betas)
        _check_unit(self.name, "betas[0]", b1)
        _check_unit(self.name, "betas[1]", b2)
        self.betas, self.eps = (b1, b2), float(eps)
        super().__init__(lr)

    def reset(self):
        self._m = self._v = None
        self._t = 0

    def step(self, x, grad):
        b1, b2 = self.betas
        if self._m is None:
            self._m, self._v = torch.zeros_like(x), torch.zeros_like(x)
        self._t += 1
        self._m = b1 * self._m + (1 - b1) * grad
        self._v = b2 * self._v + (1 - b2) * grad * grad
        bias1, bias2 = 1 - b1**self._t, 1 - b2**self._t
        denom = self._v.sqrt() / math.sqrt(bias2) + self.eps
        return x - (self.lr / bias1) * self._m / denom


class RMSprop(Optimizer):
    """RMSprop (Hinton): v <- alpha v + (1 - alpha) g^2; x <- x - lr g / (sqrt(v) + eps)."""

    name = "rmsprop"

    def __init__(self, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8):
        _check_unit(self.name, "alpha", alpha)
        self.alpha, self.eps = float(alpha), float(eps)
        super().__init__(lr)

    def reset(self):
        self._v = None

    def step(self, x, grad):
        if self._v is None:
            self._v = torch.zeros_like(x)
        self._v = self.alpha * self._v + (1 - self.alpha) * grad * grad
        return x - self.lr * grad / (self._v.sqrt() + self.eps)


OPTIMIZERS = {cls.name: cls for cls in (GD, Momentum, Nesterov, Adam, RMSprop)}


def make_optimizer(name: str, **params) -> Optimizer:
    """Optimizer by name ("gd", "momentum", "nesterov", "adam", "rmsprop") with its hyperparameters."""
    if name not in OPTIMIZERS:
        raise OptimLabError(f"unknown optimizer {name!r}; choose one of {sorted(OPTIMIZERS)}")
    try:
        return OPTIMIZERS[name](**params)
    except TypeError as e:  # an unknown keyword, e.g. optimizer.momentum for adam
        raise OptimLabError(f"{name}: {e}; see conf/optim_lab/optimizer/{name}.yaml for its parameters") from None

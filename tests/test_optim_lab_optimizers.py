"""From-scratch optimizers reproduce torch.optim trajectories (float64, 1e-10) and the seed's momentum form."""

import pytest
import torch

from overfit.optim_lab import GD, Adam, Beale, Momentum, Nesterov, OptimLabError, Quadratic, RMSprop, Rosenbrock, run

# (ours, torch's) as functions of the SGD-family step size, which each surface sets below (Rosenbrock's curvature
# ~ 2000 at the start needs lr ~ 1e-4); Adam and RMSprop take steps of size ~lr whatever the curvature.
CASES = [
    (lambda lr: GD(lr=lr), lambda p, lr: torch.optim.SGD(p, lr=lr)),
    (lambda lr: Momentum(lr=lr, momentum=0.9), lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9)),
    (lambda lr: Nesterov(lr=lr, momentum=0.9), lambda p, lr: torch.optim.SGD(p, lr=lr, momentum=0.9, nesterov=True)),
    (
        lambda lr: Adam(lr=0.1, betas=(0.9, 0.999)),
        lambda p, lr: torch.optim.Adam(p, lr=0.1, betas=(0.9, 0.999), eps=1e-8),
    ),
    (lambda lr: RMSprop(lr=0.01), lambda p, lr: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8)),
]
NAMES = ["gd", "momentum", "nesterov", "adam", "rmsprop"]
SURFACES = [
    (Beale(), (0.7, 1.4), 0.01),
    (Rosenbrock(), (-1.5, 2.0), 1e-4),
    (Quadratic((1.0, 10.0), angle=30.0), (1.0, 1.0), 0.05),
]


def torch_path(surface, make_opt, start, steps):
    p = torch.tensor(start, dtype=torch.float64, requires_grad=True)
    opt = make_opt([p])
    path = [p.detach().clone()]
    for _ in range(steps):
        opt.zero_grad()
        surface.value(p).backward()  # autograd's gradient, not ours: the comparison also covers surface.grad
        opt.step()
        path.append(p.detach().clone())
    return torch.stack(path)


@pytest.mark.parametrize("surface,start,lr", SURFACES, ids=[s[0].name for s in SURFACES])
@pytest.mark.parametrize("ours,make_theirs", CASES, ids=NAMES)
def test_matches_torch_optim(ours, make_theirs, surface, start, lr):
    steps = 300
    mine = run(surface, ours(lr), start, max_steps=steps, tol=0.0)
    assert mine.steps == steps and mine.reason == "max_steps"
    theirs = torch_path(surface, lambda p: make_theirs(p, lr), start, steps)
    assert torch.isfinite(theirs).all()
    assert (mine.points - theirs).abs().max() < 1e-10


def test_state_is_reset_between_runs():
    opt, s = Adam(lr=0.1), Beale()
    a, b = run(s, opt, (0.7, 1.4), 50, 0.0), run(s, opt, (0.7, 1.4), 50, 0.0)
    assert torch.equal(a.points, b.points)


def test_seed_momentum_form_is_the_same_iteration():
    # seed: v <- mu v - lr g; x <- x + v.  ours (torch's): b <- mu b + g; x <- x - lr b.  Same path (v = -lr b).
    s, lr, mu = Beale(), 0.01, 0.9
    x, v, path = torch.tensor([0.7, 1.4], dtype=torch.float64), torch.zeros(2, dtype=torch.float64), []
    for _ in range(300):
        v = mu * v - lr * s.grad(x)
        x = x + v
        path.append(x)
    ours = run(s, Momentum(lr=lr, momentum=mu), (0.7, 1.4), 300, 0.0).points[1:]
    assert (torch.stack(path) - ours).abs().max() < 1e-10


@pytest.mark.parametrize(
    "make",
    [
        lambda: GD(lr=0.0),
        lambda: Adam(lr=-1.0),
        lambda: Momentum(lr=float("nan")),
        lambda: Momentum(lr=0.1, momentum=1.0),
        lambda: Adam(lr=0.1, betas=(0.9, 1.5)),
    ],
)
def test_bad_hyperparameters_are_one_line_errors(make):
    with pytest.raises(OptimLabError) as e:
        make()
    assert "\n" not in str(e.value) and isinstance(e.value, ValueError)

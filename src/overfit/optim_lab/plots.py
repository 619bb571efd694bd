"""Matplotlib figures (Agg backend: files only, no display needed): 3-D surface, contours with paths, the three
step-size regimes of a quadratic bowl, and the error of central differences against the step size.

Every function returns a Figure; `save(fig, path)` writes a small PNG and closes it.  Surface values span many
orders of magnitude (Beale: 0 to 1e5), hence log colours and log-spaced contour levels of f - f_min.
"""

import matplotlib

matplotlib.use("Agg")  # before pyplot: headless machines and test runs

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import LogNorm  # noqa: E402

from overfit.optim_lab.optimizers import GD  # noqa: E402
from overfit.optim_lab.runner import RunResult, run  # noqa: E402
from overfit.optim_lab.surfaces import Quadratic, Surface  # noqa: E402

COLORS = plt.rcParams["axes.prop_cycle"].by_key()["color"]


def save(fig, path, dpi: int = 80):
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return path


def _window(surface: Surface, results=()):
    """The surface's plot range, widened to show every finite path of a run that did not diverge."""
    (x0, x1), (y0, y1) = surface.plot_range
    for r in results:
        if r.reason == "diverged":
            continue
        p = r.points[torch.isfinite(r.points).all(dim=1)]
        (x0, y0), (x1, y1) = (
            np.minimum((x0, y0), p.min(0).values.numpy()),
            np.maximum((x1, y1), p.max(0).values.numpy()),
        )
    return (x0, x1), (y0, y1)


def _grid(surface: Surface, window, n: int = 200):
    (x0, x1), (y0, y1) = window
    X, Y = np.meshgrid(np.linspace(x0, x1, n), np.linspace(y0, y1, n))
    Z = surface.value(torch.from_numpy(np.stack([X, Y], axis=-1))).numpy() - surface.min_value
    # log scales need positive values: floor at a tiny fraction of the range (the minimum itself is exactly 0)
    return X, Y, np.maximum(Z, Z.max() * 1e-12 + 1e-300)


def plot_surface_3d(surface: Surface, n: int = 120):
    """f over the plot window, coloured by log(f - f_min), with the known minimum marked by a red star."""
    X, Y, Z = _grid(surface, surface.plot_range, n)
    fig = plt.figure(figsize=(6, 4.5))
    ax = fig.add_subplot(projection="3d")
    ax.plot_surface(
        X,
        Y,
        Z,
        cmap="viridis",
        norm=LogNorm(vmin=max(Z.min(), Z.max() * 1e-8), vmax=Z.max()),
        rstride=2,
        cstride=2,
        linewidth=0,
        antialiased=False,
        alpha=0.9,
    )
    m = surface.minimum
    ax.scatter([m[0]], [m[1]], [0.0], color="red", marker="*", s=150, label=f"minimum {tuple(round(v, 3) for v in m)}")
    ax.set(xlabel="x", ylabel="y", zlabel="f - f_min", title=repr(surface))
    ax.view_init(elev=35, azim=-130)
    ax.legend(loc="upper left")
    return fig


def _contours(ax, surface: Surface, window, levels: int = 30):
    X, Y, Z = _grid(surface, window)
    lv = np.logspace(np.log10(max(Z.min(), Z.max() * 1e-10)), np.log10(Z.max()), levels)
    ax.contour(X, Y, Z, levels=lv, norm=LogNorm(), cmap="viridis", linewidths=0.7)
    ax.plot(*surface.minimum[:2], "r*", ms=14, zorder=5)
    ax.set(xlim=window[0], ylim=window[1], xlabel="x", ylabel="y")


def _path(ax, r: RunResult, color, label):
    p = r.points[torch.isfinite(r.points).all(dim=1)].numpy()
    ax.plot(p[:, 0], p[:, 1], "-", color=color, lw=1.5, label=label)
    ax.plot(p[:, 0], p[:, 1], ".", color=color, ms=3, markevery=max(1, len(p) // 40))
    ax.plot(p[0, 0], p[0, 1], "o", color=color, mfc="none")


def plot_contours(surface: Surface, results: dict[str, RunResult], title: str | None = None):
    """Log-spaced contour levels of f - f_min, the minimum (red star) and one path per entry of `results`."""
    fig, ax = plt.subplots(figsize=(6, 5))
    _contours(ax, surface, _window(surface, results.values()))
    for i, (label, r) in enumerate(results.items()):
        _path(ax, r, COLORS[i % len(COLORS)], f"{label}: {r.steps} steps, {r.reason}")
    ax.set_title(title or repr(surface))
    ax.legend(loc="upper left", fontsize=8)
    return fig


def plot_step_regimes(q: Quadratic, start=(1.0, 1.0), steps: int = 25, fractions=(0.9, 1.0, 1.1)):
    """GD on a quadratic bowl at lr = fraction * 2 / lambda_max: stable (< 1), boundary (= 1), divergent (> 1)."""
    fig, axes = plt.subplots(1, len(fractions), figsize=(4 * len(fractions), 3.8), sharey=True)
    names = {f: "stable" if f < 1 else "boundary" if f == 1 else "divergent" for f in fractions}
    for ax, frac, color in zip(axes, fractions, COLORS):
        lr = frac * 2.0 / q.lambda_max
        r = run(q, GD(lr=lr), start, max_steps=steps, tol=0.0)
        _contours(ax, q, q.plot_range, levels=15)
        _path(ax, r, color, f"f: {r.values[0]:.3g} -> {r.values[-1]:.3g} in {r.steps} steps")
        ax.set_title(f"{names[frac]}: lr = {frac:g} x 2/lambda_max = {lr:.3g}", fontsize=9)
        ax.legend(loc="lower left", fontsize=8)
    fig.suptitle(f"gradient descent on {q!r}", fontsize=10)
    return fig


def plot_step_error(steps, errors: dict[str, torch.Tensor], title: str):
    """log-log error of central differences against the step size h, one curve per precision."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for (label, err), color in zip(errors.items(), COLORS):
        ax.loglog(steps, err.numpy(), ".-", color=color, label=label)
        eps = float(torch.finfo(getattr(torch, label)).eps) if hasattr(torch, label) else None
        if eps:
            ax.axvline(eps ** (1 / 3), color=color, ls=":", lw=1)
    ax.set(xlabel="step h", ylabel="|central difference - exact|", title=title)
    ax.legend(title="dotted: eps^(1/3)")
    ax.grid(True, which="major", alpha=0.3)
    return fig

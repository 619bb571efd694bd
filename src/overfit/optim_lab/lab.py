"""What `scripts/optim_lab.py` does with its composed config, callable without Hydra (the tests do).

    cfg = {"surface": {"name": "beale"}, "optimizer": {"name": "adam", "lr": 0.1}, "start": [0.7, 1.4], ...}
    results = run_lab(cfg, out_dir="some/dir")     # prints the table, writes the PNGs, returns {label: RunResult}

Config keys (conf/optim_lab/config.yaml): surface, optimizer (one group entry each), start (null: the surface's
default), max_steps, tol, gtol, xtol (the stopping rules of runner.run), optimizers (a list overlaying several
optimizers on one contour plot: group names, or dicts {name: ..., <overrides>}, each loaded from
conf/optim_lab/optimizer/<name>.yaml), plots, autodiff.
"""

from pathlib import Path

import torch
from omegaconf import DictConfig, OmegaConf

from overfit.optim_lab import autodiff as ad
from overfit.optim_lab.errors import OptimLabError
from overfit.optim_lab.optimizers import make_optimizer
from overfit.optim_lab.runner import RunResult, check_start, run
from overfit.optim_lab.surfaces import Quadratic, make_surface

CONF_DIR = Path(__file__).resolve().parents[3] / "conf" / "optim_lab"


def _plain(x):
    return OmegaConf.to_container(x, resolve=True) if isinstance(x, DictConfig) or OmegaConf.is_list(x) else x


def optimizer_configs(cfg: dict, conf_dir: Path = CONF_DIR) -> list[dict]:
    """The optimizer(s) to run: `cfg["optimizers"]` when given (names or {name, overrides}), else `cfg["optimizer"]`."""
    entries = cfg.get("optimizers") or []
    if not entries:
        return [dict(cfg["optimizer"])]
    out = []
    for entry in entries:
        entry = {"name": entry} if isinstance(entry, str) else dict(entry)
        path = Path(conf_dir) / "optimizer" / f"{entry.get('name')}.yaml"
        if not path.is_file():
            known = sorted(p.stem for p in (Path(conf_dir) / "optimizer").glob("*.yaml"))
            raise OptimLabError(f"optimizers: unknown optimizer {entry.get('name')!r}; choose from {known}")
        out.append({**OmegaConf.to_container(OmegaConf.load(path)), **entry})
    return out


def format_table(surface, results: dict[str, RunResult]) -> str:
    head = f"{'optimizer':<22} {'final point':<26} {'f':>11} {'steps':>6} {'stop':<10} {'|x - x*|':>10}"
    lines = [f"surface: {surface!r}, known minimum {tuple(surface.minimum)}", head, "-" * len(head)]
    for label, r in results.items():
        point = "(" + ", ".join(f"{v:.4f}" for v in r.final.tolist()) + ")"
        lines.append(
            f"{label:<22} {point:<26} {r.final_value:>11.4g} {r.steps:>6} {r.reason:<10} "
            f"{r.distance_to(surface.minimum):>10.4g}"
        )
    return "\n".join(lines)


def run_lab(cfg, out_dir, conf_dir: Path = CONF_DIR, verbose: bool = True) -> dict[str, RunResult]:
    cfg = _plain(cfg)
    surface_cfg = dict(cfg["surface"])
    surface = make_surface(surface_cfg.pop("name"), **surface_cfg)
    start = check_start(surface, surface.default_start if cfg.get("start") is None else cfg["start"])
    opts = [make_optimizer(**dict(c)) for c in optimizer_configs(cfg, conf_dir)]  # validate all before running any
    results = {}
    for opt in opts:
        r = run(
            surface,
            opt,
            start,
            max_steps=int(cfg.get("max_steps", 10_000)),
            tol=float(cfg.get("tol", 1e-7)),
            gtol=float(cfg.get("gtol", 1e-4)),
            xtol=float(cfg.get("xtol", 1e-4)),
        )
        results[f"{opt.name} (lr={opt.lr:g})"] = r
    if verbose:
        print(format_table(surface, results))

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    if cfg.get("plots", True):
        from overfit.optim_lab import plots  # matplotlib only when drawing

        written.append(plots.save(plots.plot_surface_3d(surface), out_dir / "surface_3d.png"))
        written.append(plots.save(plots.plot_contours(surface, results), out_dir / "contour.png"))
        if isinstance(surface, Quadratic) and surface.dim == 2:
            written.append(plots.save(plots.plot_step_regimes(surface, start), out_dir / "step_regimes.png"))
    if cfg.get("autodiff", False):
        x = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64)
        print(ad.format_comparison(ad.seed_y, x, "y = exp(x1 + x2^3) x3 + sqrt(x3 sin(pi/2 (x1 - x2)))"))
        if cfg.get("plots", True):
            written.append(plots.save(step_error_figure(), out_dir / "autodiff_step_error.png"))
    if verbose and written:
        print("wrote " + ", ".join(str(p) for p in written))
    return results


def step_error_figure():
    from overfit.optim_lab import plots

    steps = torch.logspace(-14, 0, 57).tolist()
    errors = {
        str(dt).removeprefix("torch."): ad.central_difference_errors(ad.seed_g, ad.seed_g_prime, 0.5, steps, dt)
        for dt in (torch.float32, torch.float64)
    }
    return plots.plot_step_error(steps, errors, "central differences of g(x) = exp(e^x + e^2x) + sin(...) at x = 0.5")

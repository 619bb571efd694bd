"""Optimization lab: run from-scratch optimizers on toy surfaces, print a table and draw the paths.

    python scripts/optim_lab.py surface=beale optimizer=adam optimizer.lr=0.1 start=[0.7,1.4]
    python scripts/optim_lab.py optimizers=[gd,momentum,nesterov,adam]      # several paths on one contour plot
    python scripts/optim_lab.py -m optimizer=gd,momentum,nesterov,adam      # one run dir (and plot) per optimizer
    python scripts/optim_lab.py surface=quadratic optimizer=gd optimizer.lr=0.19   # + stable/boundary/divergent
    python scripts/optim_lab.py autodiff=true                               # + forward/reverse/numerical gradients

PNGs go to the Hydra run dir (logs/optim_lab/runs/<time>_<surface>_<optimizer>/). Bad input exits with one line.
"""

import os
import sys
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from overfit.cli import ROOT_ENV, project_root
from overfit.optim_lab.errors import OverfitError
from overfit.optim_lab.lab import run_lab


@hydra.main(config_path="../conf/optim_lab", config_name="config", version_base="1.3")
def main(cfg: DictConfig) -> None:
    try:
        run_lab(cfg, HydraConfig.get().runtime.output_dir)
    except OverfitError as e:  # one line, no traceback: the message names the culprit and the fix
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    # logs/optim_lab/ is the project's, wherever this is launched from (conf/optim_lab/config.yaml)
    os.environ.setdefault(ROOT_ENV, project_root(Path(__file__).resolve().parents[1] / "conf"))
    main()

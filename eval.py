"""Test a trained checkpoint on the IMDB test set.

python eval.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from overfit.cli import accept_null_groups, run_hydra_main, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    from overfit.eval import evaluate  # torch and Lightning: only once the config composed (a typo answers at once)

    return run_task(evaluate, cfg, script=__file__)


if __name__ == "__main__":
    sys.argv = accept_null_groups(sys.argv, Path(__file__).parent / "conf")
    run_hydra_main(main, Path(__file__).parent / "conf", "eval")

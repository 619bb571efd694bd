"""Test a trained checkpoint on the IMDB test set.

    python eval.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt
"""

import hydra
from omegaconf import DictConfig

from overfit.cli import run_task
from overfit.evaluate import evaluate


@hydra.main(version_base="1.3", config_path="conf", config_name="eval")
def main(cfg: DictConfig) -> float | None:
    return run_task(evaluate, cfg, script=__file__)


if __name__ == "__main__":
    main()

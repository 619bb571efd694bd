"""Train one IMDB model, or sweep several.

    python train.py model=dropout                    # baseline | small | big | l2 | dropout | early_stopping
    python train.py model=big trainer.max_epochs=5 seed=1
    python train.py -m model=baseline,small,big      # one run each, into logs/multiruns/<time>/
    python train.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt   # resume an interrupted run
    tensorboard --logdir logs

Offline: point at a local copy of the archive once, e.g. export OVERFIT_IMDB_ARCHIVE=/path/aclImdb_v1.tar.gz
"""

import sys
from pathlib import Path

import hydra
from omegaconf import DictConfig

from overfit.cli import accept_null_groups, run_hydra_main, run_task


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float | None:
    from overfit.train import train  # torch and Lightning: only once the config composed (a typo answers at once)

    return run_task(train, cfg, script=__file__)


if __name__ == "__main__":
    sys.argv = accept_null_groups(sys.argv, Path(__file__).parent / "conf")
    run_hydra_main(main, Path(__file__).parent / "conf", "train")

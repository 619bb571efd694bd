"""Test a trained IMDB checkpoint on the 25k test reviews (the root `eval.py` calls this).

The data settings that shape the features (vocabulary size, preprocessing) are taken from the
checkpoint, so the test set is encoded exactly as the model was trained. The checkpoint is read and
checked first (overfit.checkpoints.classifier.load_checkpoint: a bad file is refused in one line), before the
archive is read.
"""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from overfit import shown
from overfit.checkpoints.classifier import load_classifier
from overfit.errors import OverfitError
from overfit.runs.checks import check_devices
from overfit.runs.console import quiet_lightning

quiet_lightning()  # no cloud tips, no warnings about Lightning's own internals


def evaluate(cfg: DictConfig) -> float:
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise OverfitError(
            "missing ckpt_path=<path to a .ckpt written by train.py>, "
            "e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt"
        )
    check_devices(cfg.trainer)  # trainer=gpu without a GPU, too many devices: one line, as in train.py
    model, state = load_classifier(cfg.ckpt_path)  # before any data work
    with open_dict(cfg):
        cfg.data.vocab_size = len(state["vocabulary"])
        cfg.data.update(state["preprocessing"])
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    datamodule.load_state_dict(state)  # raises if the archive gives another vocabulary
    trainer = instantiate(cfg.trainer, logger=False)
    (metrics,) = trainer.test(model, datamodule=datamodule, verbose=False)
    shown.show(
        f"== {model.hparams.variant}: {cfg.ckpt_path} ==\n"
        f"test     loss {metrics['test/loss']:.4f}  acc {metrics['test/acc']:.4f}  "
        f"({len(datamodule.datasets['test']):,} reviews)"
    )
    return metrics["test/acc"]

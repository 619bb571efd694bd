"""Test a trained IMDB checkpoint on the 25k test reviews (the root `eval.py` calls this).

The data settings that shape the features (vocabulary size, preprocessing) are taken from the
checkpoint, so the test set is encoded exactly as the model was trained.
"""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, open_dict

from overfit.checkpoints import classifier_from_checkpoint, data_state, load_checkpoint


def evaluate(cfg: DictConfig) -> float:
    checkpoint = load_checkpoint(cfg.ckpt_path)
    state = data_state(checkpoint)
    with open_dict(cfg):
        cfg.data.vocab_size = len(state["vocabulary"])
        cfg.data.update(state["preprocessing"])
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("test")
    datamodule.load_state_dict(state)  # raises if the archive gives another vocabulary
    model = classifier_from_checkpoint(checkpoint)
    trainer = instantiate(cfg.trainer, logger=False)
    (metrics,) = trainer.test(model, datamodule=datamodule, verbose=False)
    print(f"== {model.hparams.variant}: {cfg.ckpt_path} ==\n"
          f"test     loss {metrics['test/loss']:.4f}  acc {metrics['test/acc']:.4f}  "
          f"({len(datamodule.datasets['test']):,} reviews)")
    return metrics["test/acc"]

"""Test a trained IMDB checkpoint on the 25k test reviews, and how far to trust its confidence (the root `eval.py`).

    python eval.py ckpt_path=logs/runs/<run>/checkpoints/last.ckpt

Prints the test loss, accuracy and AUROC, then the calibration as trained and after temperature scaling: one T
fitted on the validation split (models/calibration.py), the test split's ECE, log loss and Brier score at T.
The data settings that shape the features (vocabulary size, preprocessing) come from the checkpoint, so the test
set is encoded exactly as the model was trained; the validation split (data.val_size, data.split_seed) from the
run's record in the checkpoint, so T is never fitted on reviews the model trained on. The checkpoint is read and
checked first (overfit.checkpoints.classifier.load_checkpoint: a bad file is refused in one line), before the
archive is read.
"""

from __future__ import annotations

from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf, open_dict

from overfit import shown
from overfit.checkpoints.classifier import classifier_from_checkpoint, data_state, load_checkpoint
from overfit.checkpoints.run_config import recorded
from overfit.errors import OverfitError
from overfit.models import calibration
from overfit.runs import numbers
from overfit.runs.checks import check_devices
from overfit.runs.console import quiet_lightning
from overfit.runs.progress import progress_bar

quiet_lightning()  # no cloud tips, no warnings about Lightning's own internals

VAL_SPLIT = ("val_size", "split_seed")  # what picks the validation rows out of the archive's train split


def evaluate(cfg: DictConfig) -> float:
    if OmegaConf.is_missing(cfg, "ckpt_path") or not cfg.ckpt_path:
        raise OverfitError(
            "missing ckpt_path=<path to a .ckpt written by train.py>, "
            "e.g. ckpt_path=logs/runs/<run>/checkpoints/last.ckpt"
        )
    check_devices(cfg.trainer)  # trainer=gpu without a GPU, too many devices: one line, as in train.py
    checkpoint = load_checkpoint(cfg.ckpt_path)  # before any data work
    model, state = classifier_from_checkpoint(checkpoint), data_state(checkpoint)
    split_from = validation_split(cfg, checkpoint)
    with open_dict(cfg):
        cfg.data.vocab_size = len(state["vocabulary"])
        cfg.data.update(state["preprocessing"])
    datamodule = instantiate(cfg.data)
    datamodule.prepare_data()
    datamodule.setup("fit" if cfg.get("temperature_scaling") else "test")
    datamodule.load_state_dict(state)  # raises if the archive gives another vocabulary
    # train.py's bar (its test bar leaves the screen once done; Lightning's default stays above the table below)
    trainer = instantiate(cfg.trainer, logger=False, callbacks=[progress_bar(cfg.trainer.get("enable_progress_bar"))])
    (metrics,) = trainer.test(model, datamodule=datamodule, verbose=False)
    # runs/numbers.py's way, as the run summary writes them: accuracy in %, losses to 3 significant digits, ECE,
    # Brier and AUROC to 3 decimals, T to 2
    lines = [
        f"== {model.hparams.variant}: {cfg.ckpt_path} ==",
        f"test     loss {numbers.sig(metrics['test/loss'])}  acc {numbers.pct(metrics['test/acc'])}  "
        f"AUROC {numbers.dec(metrics['test/auroc'])}  ({len(datamodule.datasets['test']):,} reviews)",
    ]
    if cfg.get("temperature_scaling"):
        found = calibration.calibrate(
            model, datamodule.whole_split_dataloader("val"), datamodule.whole_split_dataloader("test")
        )

        def row(label: str, at: dict) -> str:
            return (
                f"  {label:<14}  {numbers.dec(at['ece']):<5}  {numbers.sig(at['loss']):<8}  {numbers.dec(at['brier'])}"
            )

        lines += [
            f"{'calibration':<16}  {'ECE':<5}  {'log loss':<8}  Brier",
            row("as trained", found["before"]),
            row(f"T = {numbers.dec(found['temperature'], 2)}", found["after"]) + "   (accuracy and AUROC unchanged)",
            f"  T fitted on the validation split: {len(datamodule.datasets['val']):,} reviews, {split_from}",
        ]
    shown.show("\n".join(lines))
    return metrics["test/acc"]


def validation_split(cfg: DictConfig, checkpoint: dict) -> str:
    """Set cfg.data's val_size and split_seed to the run's own (its record in the checkpoint); say where from."""
    record = recorded(checkpoint)
    run_data = OmegaConf.create(record["config"]).get("data", {}) if record else {}
    settings = "  ".join(f"data.{k}={run_data.get(k, cfg.data.get(k))}" for k in VAL_SPLIT)
    if not record or not all(k in run_data for k in VAL_SPLIT):
        return f"{settings} (this config's: the checkpoint does not record the run's; pass them if it used others)"
    with open_dict(cfg):
        for key in VAL_SPLIT:
            cfg.data[key] = run_data[key]
    return f"{settings} (the run's own, from the checkpoint)"

"""What a run leaves behind for people: the HPARAMS entry in TensorBoard, metrics.json and the
one-screen summary printed at the end."""

from __future__ import annotations

import json
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import TensorBoardLogger
from omegaconf import DictConfig, OmegaConf
from torch.utils.tensorboard.summary import hparams

# Hyperparameters shown as columns in TensorBoard's HPARAMS tab (missing ones are skipped).
HPARAM_KEYS = ("model.variant", "model.hidden", "model.dropout", "model.optimizer._target_", "model.optimizer.lr",
               "model.optimizer.weight_decay", "model.rank", "data.batch_size", "data.vocab_size",
               "trainer.max_epochs", "trainer.max_steps", "seed")


def flat_hparams(cfg: DictConfig) -> dict:
    """TensorBoard takes only scalars and strings: lists become strings, optimizer classes their name."""
    params = {}
    for key in HPARAM_KEYS:
        value = OmegaConf.select(cfg, key)
        if value is None:
            continue
        if key.endswith("_target_"):
            key, value = key.removesuffix("._target_"), str(value).rsplit(".", 1)[-1]
        elif not isinstance(value, (int, float, str, bool)):
            value = str(OmegaConf.to_container(value) if OmegaConf.is_config(value) else value)
        params[key] = value
    return params


def log_hparams(loggers: list, cfg: DictConfig, metrics: dict[str, float]) -> None:
    """Write the run's hyperparameters with its final metrics, once, at the end of the run.

    Lightning's own `log_hyperparams(params, metrics)` would also re-log every metric at step 0,
    which draws a spurious line back to the origin in every curve; the HPARAMS tab only needs the
    summary plus the scalars already logged under the same tags.
    """
    for logger in loggers:
        if isinstance(logger, TensorBoardLogger):
            logger.log_metrics({"time/train_s": metrics["time/train_s"]}, step=0)
            writer = logger.experiment._get_file_writer()
            for summary in hparams(flat_hparams(cfg), {k: v for k, v in metrics.items() if "/" in k}):
                writer.add_summary(summary)
            logger.experiment.flush()


def fit_record(cfg: DictConfig, trainer: L.Trainer, model: L.LightningModule) -> dict:
    """What fit did, read right after it (a later test of the best checkpoint restores older state)."""
    stopper = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    return {
        "variant": OmegaConf.select(cfg, "model.variant"),
        "seed": cfg.seed,
        "epochs_run": trainer.current_epoch,
        "early_stopped": bool(stopper and stopper.stopped_epoch),
        "best_val_acc": getattr(model, "best_val_acc", None),
        "best_val_epoch": getattr(model, "best_val_epoch", None),
    }


def print_summary(cfg: DictConfig, out_dir: Path, record: dict, checkpoint: ModelCheckpoint | None) -> None:
    """Write <run dir>/metrics.json and print the one-screen summary."""
    (out_dir / "metrics.json").write_text(json.dumps(record, indent=2))
    metrics, tested_ckpt, wall_seconds = record["metrics"], record["tested_checkpoint"], record["wall_s"]

    def fmt(key: str) -> str:
        return f"{metrics[key]:.4f}" if key in metrics else "-"

    lines = [f"== overfit: {record['variant']} (seed {cfg.seed}) =="]
    if "test/acc" in metrics:
        tested = f"best checkpoint {Path(tested_ckpt).name}" if tested_ckpt else "final weights"
        lines.append(f"test     loss {fmt('test/loss')}  acc {fmt('test/acc')}  ({tested})")
    if record["best_val_epoch"] is not None and record["best_val_epoch"] >= 0:
        lines.append(f"val      best acc {record['best_val_acc']:.4f} at epoch {record['best_val_epoch'] + 1}"
                     f"  (last: loss {fmt('val/loss')}, acc {fmt('val/acc')})")
    other = {k: v for k, v in metrics.items() if k.split("/")[0] not in ("test", "val", "time")}
    if other:
        lines.append("train    " + "  ".join(f"{k.split('/', 1)[-1]} {v:.6g}" for k, v in sorted(other.items())))
    lines.append(f"epochs   {record['epochs_run']}{' (early stopped)' if record['early_stopped'] else ''}"
                 f"   wall {wall_seconds:.1f} s (fit {metrics['time/train_s']:.1f} s)")
    lines.append(f"logs     {out_dir / 'tensorboard'}   (tensorboard --logdir {Path(cfg.paths.log_dir)})")
    if checkpoint is not None and checkpoint.dirpath:
        lines.append(f"ckpts    {checkpoint.dirpath}  (resume: ckpt_path={Path(checkpoint.dirpath) / 'last.ckpt'})")
    print("\n".join(lines), flush=True)

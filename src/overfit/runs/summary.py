"""The end of a run for people: <run dir>/metrics.json and the one-screen summary (train.py calls both).

metrics.json is read while other runs go on (train.py and resume.py: a finished run's result; results.py,
overfit.api, the benchmarks), so it is written atomically (overfit.atomic).
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path

import lightning as L
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from overfit import atomic, shown
from overfit.runs import numbers


def fit_record(cfg: DictConfig, trainer: L.Trainer, model: L.LightningModule) -> dict:
    """What fit did, read right after it (a later test of the best checkpoint restores older state)."""
    stopper = next((c for c in trainer.callbacks if isinstance(c, EarlyStopping)), None)
    return {
        "variant": OmegaConf.select(cfg, "model.variant"),
        "seed": cfg.seed,
        "epochs_run": trainer.current_epoch,
        "early_stopped": bool(stopper and stopper.stopped_epoch),
        "best_val_acc": getattr(model, "best_val_acc", None),
        # 1-based, as everywhere users see epochs (the model keeps Lightning's 0-based index)
        "best_val_epoch": None if getattr(model, "best_val_epoch", None) is None else model.best_val_epoch + 1,
    }


def print_summary(cfg: DictConfig, out_dir: Path, record: dict, checkpoint: ModelCheckpoint | None) -> None:
    """Write <run dir>/metrics.json and print the one-screen summary (kept in train.log too). Epochs count from 1,
    as in the checkpoint names (best_epoch_004.ckpt: the weights after the 4th epoch), TensorBoard and compare.py.
    Numbers as runs/numbers.py writes them for people (accuracies in %, losses to 3 significant digits, ECE and
    AUROC to 3 decimals, T to 2); metrics.json keeps them whole."""
    # a kill mid-write never leaves a torn metrics.json (resume.py, results.py read it)
    atomic.write_text(out_dir / "metrics.json", json.dumps(record, indent=2))
    metrics, tested_ckpt, wall_seconds = record["metrics"], record["tested_checkpoint"], record["wall_s"]

    def fmt(key: str) -> str:
        return numbers.metric(key, metrics[key]) if key in metrics else numbers.MISSING

    lines = [f"== overfit: {record['variant']} (seed {cfg.seed}) =="]
    if "test/acc" in metrics:
        epoch = re.search(r"epoch_(\d+)", Path(tested_ckpt).name) if tested_ckpt else None
        tested = (
            f"best checkpoint {Path(tested_ckpt).name}" + (f": epoch {int(epoch.group(1))}" if epoch else "")
            if tested_ckpt
            else f"final weights: epoch {record['epochs_run']}"
        )
        calibration = f"  ECE {fmt('test/ece')}  AUROC {fmt('test/auroc')}" if "test/ece" in metrics else ""
        lines.append(f"test     loss {fmt('test/loss')}  acc {fmt('test/acc')}{calibration}  ({tested})")
        if "test/temperature" in metrics:  # train.temperature_scale
            lines.append(
                f"scaled   loss {fmt('test/loss_scaled')}  ECE {fmt('test/ece_scaled')}  "
                f"(temperature T = {fmt('test/temperature')}, fitted on the validation split)"
            )
    if record["best_val_epoch"] is not None and record["best_val_epoch"] >= 1:
        lines.append(
            f"val      best acc {numbers.pct(record['best_val_acc'])} at epoch {record['best_val_epoch']}"
            f"  (last: loss {fmt('val/loss')}, acc {fmt('val/acc')})"
        )
    other = {k: v for k, v in metrics.items() if k.split("/")[0] not in ("test", "val", "time", "epoch")}
    if other:
        lines.append("train    " + "  ".join(f"{k.split('/', 1)[-1]} {fmt(k)}" for k in sorted(other)))
    lines.append(
        f"epochs   {record['epochs_run']}{' (early stopped)' if record['early_stopped'] else ''}"
        f"   wall {wall_seconds:.1f} s (fit {metrics['time/train_s']:.1f} s)"
    )
    board = out_dir.parent if (out_dir.parent / "multirun.yaml").is_file() else Path(cfg.paths.log_dir)
    if not out_dir.resolve().is_relative_to(board.resolve()):  # hydra.run.dir elsewhere (a resume of a run there)
        board = out_dir
    logged = any(out_dir.glob("events.out.tfevents.*"))
    curves = "(curves: metrics.csv)" if (out_dir / "metrics.csv").is_file() else "(no logger: no curves)"  # logger=csv
    lines.append(f"logs     {out_dir}   " + (f"(tensorboard --logdir {board})" if logged else curves))
    if checkpoint is not None and checkpoint.dirpath:
        # continue in this same dir (its curves stay one run); the checkpoints record the run's settings
        resume = f"{train_command()} ckpt_path=last hydra.run.dir={out_dir}"
        lines.append(f"ckpts    {checkpoint.dirpath}  (resume: {resume})")
    shown.show("\n".join(lines))  # printed, and kept in the run's train.log


def train_command() -> str:
    """`python train.py` as it works from where the command was launched: the script as a path relative to here, or
    absolute where that would climb out ("python /path/to/train.py" for a run started in another directory)."""
    script = sys.argv[0] if sys.argv and sys.argv[0].endswith("train.py") else "train.py"
    relative = os.path.relpath(script)
    return f"python {os.path.abspath(script) if relative.startswith('..') else relative}"

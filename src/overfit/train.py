"""Fit, test and summarize one run from a composed Hydra config (the root `train.py` calls this).

    train(cfg) -> float   # the metric named by cfg.optimized_metric, for sweepers

Order matters: cheap config checks first, then the data (download, verify, tokenize: the long
part), then the model, then the Trainer. Anything the user got wrong fails before the long work.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import lightning as L
import torch
from hydra.utils import get_class, instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from overfit.errors import OverfitError
from overfit.sweeps import resolve_last_checkpoint
from overfit.tracking import fit_record, log_hparams, print_summary

log = logging.getLogger(__name__)

# torch's own thread count (one per core), read before any run changes it.
TORCH_DEFAULT_THREADS = torch.get_num_threads()
# cpu_threads=auto: models below this size run on one thread. Their ops are too small to gain from more
# (baseline: 3.0 s on one thread, 2.7 s on two), while each extra thread that finds its core busy makes
# every step wait (baseline 2.6 s -> 9.7 s with one core taken by another job). `big` (5.4M) gains 25-30%.
SMALL_MODEL_PARAMETERS = 1_000_000


def check_config(cfg: DictConfig) -> None:
    """One-line errors for settings that would otherwise fail deep inside (or silently)."""

    def positive(key: str, value, minimum=1, example="") -> None:
        if value is not None and not value >= minimum:
            raise OverfitError(f"{key}={value}: must be >= {minimum}{example}")

    lr = OmegaConf.select(cfg, "model.optimizer.lr")
    if lr is not None and not lr > 0:
        raise OverfitError(f"model.optimizer.lr={lr}: the learning rate must be > 0, e.g. model.optimizer.lr=1e-3")
    positive("data.batch_size", OmegaConf.select(cfg, "data.batch_size"), example=", e.g. data.batch_size=512")
    max_epochs, max_steps = cfg.trainer.get("max_epochs"), cfg.trainer.get("max_steps", -1)
    if not (max_epochs == -1 and max_steps and max_steps > 0):  # -1 = unlimited when max_steps bounds the run
        positive("trainer.max_epochs", max_epochs, example=", e.g. trainer.max_epochs=20")
    threads = cfg.get("cpu_threads")
    if threads is not None and threads != "auto" and not (isinstance(threads, int) and threads >= 1):
        raise OverfitError(f"cpu_threads={threads}: must be auto, null (torch's default) or an integer >= 1")
    if cfg.get("ckpt_path") and not Path(cfg.ckpt_path).is_file():
        raise OverfitError(f"ckpt_path={cfg.ckpt_path}: no such file; pass a run's checkpoints/last.ckpt")
    # Model-specific checks (hidden sizes, dropout, ...) live with the model.
    model_cls = get_class(cfg.model._target_)
    if hasattr(model_cls, "check_config"):
        model_cls.check_config(cfg.model)


def instantiate_all(group: DictConfig | None) -> list:
    """Callbacks and loggers are dicts of configs; a null entry switches one off."""
    return [instantiate(c) for c in (group or {}).values() if c is not None and "_target_" in c]


def torch_threads(setting: int | str | None, model: torch.nn.Module) -> int:
    """The intra-op thread count for `cpu_threads`: an integer, null (torch's default) or auto (see above)."""
    if setting == "auto":
        small = sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMETERS
        return 1 if small else TORCH_DEFAULT_THREADS
    return TORCH_DEFAULT_THREADS if setting is None else int(setting)


def train(cfg: DictConfig) -> float:
    """Fit, test, summarize; returns cfg.optimized_metric. torch's global settings are restored afterwards."""
    threads_before, fill_before = torch.get_num_threads(), torch.utils.deterministic.fill_uninitialized_memory
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads_before)
        torch.utils.deterministic.fill_uninitialized_memory = fill_before


def _train(cfg: DictConfig) -> float:
    resolve_last_checkpoint(cfg)  # ckpt_path=last: this run dir's last.ckpt if any (requeued cluster jobs)
    check_config(cfg)
    L.seed_everything(cfg.seed, workers=True)
    start = time.perf_counter()

    datamodule: L.LightningDataModule = instantiate(cfg.data)
    # Idempotent and cached; done here (not inside fit) because the model's input width
    # comes from the data. Under DDP every rank does it; cache writes are atomic.
    datamodule.prepare_data()
    datamodule.setup("fit")
    if cfg.get("ckpt_path"):
        # Fail now, in one line, if the checkpoint was trained on other features (vocabulary),
        # instead of on a tensor shape mismatch deep inside Lightning's restore.
        saved = torch.load(cfg.ckpt_path, map_location="cpu", weights_only=True).get(type(datamodule).__qualname__)
        if saved:
            datamodule.load_state_dict(saved)
    model: L.LightningModule = instantiate(cfg.model, **datamodule.model_kwargs)
    torch.set_num_threads(torch_threads(cfg.get("cpu_threads"), model))

    callbacks = instantiate_all(cfg.get("callbacks"))
    loggers = instantiate_all(cfg.get("logger"))
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    # trainer.deterministic also makes torch NaN-fill every new tensor, a debugging aid against reads of
    # uninitialized memory. No op here reads any, and the fill was ~10% of a `big` epoch (its 20 MB
    # gradient, every step). The choice of deterministic kernels, which is what makes runs repeat, stays.
    torch.utils.deterministic.fill_uninitialized_memory = False

    fit_start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_seconds = time.perf_counter() - fit_start
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
    # Read now: testing a best checkpoint restores that epoch's model and callback state.
    record = fit_record(cfg, trainer, model)

    checkpoint = next((c for c in callbacks if isinstance(c, ModelCheckpoint)), None)
    tested_ckpt = None
    if cfg.get("test") and _has_test_set(datamodule):
        # With a monitored checkpoint (early stopping) we test the best weights; otherwise the
        # final ones: the overfitting variants are meant to show what training ended with.
        if checkpoint is not None and checkpoint.monitor and checkpoint.best_model_path:
            tested_ckpt = checkpoint.best_model_path
        trainer.test(model, datamodule=datamodule, ckpt_path=tested_ckpt)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})

    metrics["time/train_s"] = fit_seconds
    if trainer.is_global_zero:
        log_hparams(trainer.loggers, cfg, metrics)
        record.update(tested_checkpoint=tested_ckpt, wall_s=time.perf_counter() - start, metrics=metrics)
        print_summary(cfg, Path(trainer.default_root_dir), record, checkpoint)

    key = cfg.get("optimized_metric")
    if key and key not in metrics:
        raise OverfitError(f"optimized_metric={key}: not logged by this run; choose one of {sorted(metrics)}")
    return metrics[key] if key else float("nan")


def _has_test_set(datamodule: L.LightningDataModule) -> bool:
    # LightningDataModule defines a stub test_dataloader that raises; a real one is overridden.
    return type(datamodule).test_dataloader is not L.LightningDataModule.test_dataloader


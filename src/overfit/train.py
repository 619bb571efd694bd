"""Fit, test and summarize one run from a composed Hydra config (the root `train.py` calls this).

    train(cfg) -> float   # the metric named by cfg.optimized_metric, for sweepers

Order matters: cheap config checks first, then the data (download, verify, tokenize: the long
part), then the model, then the Trainer. Anything the user got wrong fails before the long work.
"""

from __future__ import annotations

import logging
import signal
import time
from contextlib import contextmanager
from pathlib import Path

import lightning as L
import torch
from hydra.utils import instantiate
from lightning.pytorch.callbacks import ModelCheckpoint
from omegaconf import DictConfig, OmegaConf

from overfit import shown
from overfit.checkpoints import resume, run_config
from overfit.errors import OverfitError, RunInterrupted
from overfit.models import calibration
from overfit.runs import dirs as rundir
from overfit.runs.checks import check_config
from overfit.runs.console import quiet_lightning
from overfit.runs.summary import fit_record, print_summary, train_command
from overfit.runs.tensorboard import keep_hparams, log_hparams
from overfit.runs.threads import torch_threads

log = logging.getLogger(__name__)

quiet_lightning()  # no cloud tips, no warnings about Lightning's own internals


def instantiate_all(group: DictConfig | None) -> list:
    """Callbacks and loggers are dicts of configs; a null entry switches one off."""
    return [instantiate(c) for c in (group or {}).values() if c is not None and "_target_" in c]


def train(cfg: DictConfig) -> float:
    """Fit, test, summarize; returns cfg.optimized_metric. torch's global settings are restored afterwards."""
    threads_before, fill_before = torch.get_num_threads(), torch.utils.deterministic.fill_uninitialized_memory
    try:
        return _train(cfg)
    finally:
        torch.set_num_threads(threads_before)
        torch.utils.deterministic.fill_uninitialized_memory = fill_before


def _train(cfg: DictConfig) -> float:
    # ckpt_path=last (requeued jobs) or a path: the newest intact checkpoint, never a silent fresh start
    resumed_from = resume.resolve(cfg)
    run_record = None
    if resumed_from is not None:  # the run's own settings (seed, model, ...), not this command's defaults
        run_record = run_config.restore(cfg, resumed_from.run, resumed_from.path)
    check_config(cfg)
    finished = resume.finished_message(cfg, resumed_from)
    if finished:
        shown.show(finished)
        rundir.discard_if_nothing_run(cfg.paths.output_dir)  # a fresh run dir for it would hold only Hydra's files
        return resume.previous_result(resumed_from.path, cfg.get("optimized_metric"))
    resume_ckpt = resume.check_fits(cfg) if cfg.get("ckpt_path") else resume.refuse_to_overwrite(cfg)
    if resumed_from is not None:
        log.info(f"resuming from {resumed_from.path} ({resumed_from.epochs_done} epochs done)")
    L.seed_everything(cfg.seed, workers=True)
    start = time.perf_counter()

    datamodule: L.LightningDataModule = instantiate(cfg.data)
    # Idempotent and cached; done here (not inside fit) because the model's input width
    # comes from the data. Under DDP every rank does it; cache writes are atomic.
    datamodule.prepare_data()
    datamodule.setup("fit")
    if resume_ckpt is not None and resume_ckpt.get(type(datamodule).__qualname__):
        # Fail now, in one line, if the checkpoint was trained on other features (vocabulary),
        # instead of on a tensor shape mismatch deep inside Lightning's restore.
        datamodule.load_state_dict(resume_ckpt[type(datamodule).__qualname__])
    model: L.LightningModule = instantiate(cfg.model, **datamodule.model_kwargs)
    torch.set_num_threads(torch_threads(cfg.get("cpu_threads"), model))

    # The run's configuration goes into each checkpoint: a resume continues this run, whatever it is given.
    callbacks = [*instantiate_all(cfg.get("callbacks")), run_config.Recorder(run_record or run_config.record_of(cfg))]
    loggers = instantiate_all(cfg.get("logger"))
    keep_hparams(loggers, cfg)  # hparams.yaml, written by Lightning when fit starts: an interrupted run has it too
    trainer: L.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False)
    # trainer.deterministic also makes torch NaN-fill every new tensor, a debugging aid against reads of
    # uninitialized memory. No op here reads any, and the fill was ~10% of a `big` epoch (its 20 MB
    # gradient, every step). The choice of deterministic kernels, which is what makes runs repeat, stays.
    torch.utils.deterministic.fill_uninitialized_memory = False

    fit_start = time.perf_counter()
    with _report_interrupts(trainer, cfg, "training"):
        trainer.fit(model, datamodule=datamodule, ckpt_path=cfg.get("ckpt_path"))
    fit_seconds = time.perf_counter() - fit_start
    # "step": the loggers' x-axis (the epoch, models/mlp.py), not a metric
    metrics = {k: float(v) for k, v in trainer.callback_metrics.items() if k != "step"}
    # Read now: testing a best checkpoint restores that epoch's model and callback state.
    record = fit_record(cfg, trainer, model)

    checkpoints = [c for c in callbacks if isinstance(c, ModelCheckpoint)]
    checkpoint = next((c for c in checkpoints if not c.monitor), checkpoints[0] if checkpoints else None)
    best = next((c for c in checkpoints if c.monitor and c.best_model_path), None)
    tested_ckpt = None
    if cfg.get("test") and _has_test_set(datamodule):
        # With a monitored checkpoint (early stopping) we test the best weights; otherwise the
        # final ones: the overfitting variants are meant to show what training ended with.
        tested_ckpt = best.best_model_path if best is not None else None
        with _report_interrupts(trainer, cfg, "testing"):
            # verbose=False: Lightning's table of full-precision test metrics repeats what the summary prints
            trainer.test(model, datamodule=datamodule, ckpt_path=tested_ckpt, verbose=False)
        metrics.update({k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("test/")})
        if cfg.get("temperature_scaling") and hasattr(datamodule, "whole_split_dataloader"):
            record["calibration"] = temperature_scale(trainer, model, datamodule, metrics)

    metrics["time/train_s"] = fit_seconds
    if trainer.is_global_zero:
        log_hparams(trainer.loggers, cfg, metrics)
        record.update(tested_checkpoint=tested_ckpt, wall_s=time.perf_counter() - start, metrics=metrics)
        print_summary(cfg, Path(trainer.default_root_dir), record, checkpoint)

    key = cfg.get("optimized_metric")
    if key and key not in metrics:
        raise OverfitError(f"optimized_metric={key}: not logged by this run; choose one of {sorted(metrics)}")
    return metrics[key] if key else float("nan")


def temperature_scale(trainer: L.Trainer, model: L.LightningModule, datamodule, metrics: dict) -> dict:
    """Fit T on the validation split to the tested weights; add the test split's metrics at T to `metrics`
    (test/temperature, test/loss_scaled, test/ece_scaled, test/brier_scaled) and log them where test/* sits.
    Returns the reliability bins before and after, for metrics.json. Every DDP rank computes the same (whole
    splits, deterministic), so an optimized_metric among them is there on each."""
    found = calibration.calibrate(
        model, datamodule.whole_split_dataloader("val"), datamodule.whole_split_dataloader("test")
    )
    scaled = {f"test/{k}_scaled": found["after"][k] for k in ("loss", "ece", "brier")}
    scaled["test/temperature"] = found["temperature"]
    metrics.update(scaled)
    for logger in trainer.loggers:  # at the tested epoch, as test/acc ("step": models/mlp.py)
        logger.log_metrics(scaled, step=int(trainer.callback_metrics.get("step", trainer.current_epoch)))
    return {"temperature": found["temperature"], "bins": found["bins"], "bins_scaled": found["bins_scaled"]}


@contextmanager
def _report_interrupts(trainer: L.Trainer, cfg: DictConfig, doing: str):
    """SIGTERM / Ctrl-C inside Lightning: a RunInterrupted naming the checkpoint to resume from, not exit 0.

    Lightning turns SIGTERM into `SIGTERMException`, a SystemExit with no code (exit status 0: a scheduler or
    `&&` would take the run for finished), and Ctrl-C into sys.exit(1) after its own message.
    """
    try:
        yield
    except (SystemExit, KeyboardInterrupt):
        signum = signal.SIGTERM if trainer.received_sigterm else signal.SIGINT
        ckpt_dir = resume.checkpoint_dir(cfg)
        found, _ = resume.newest_intact(ckpt_dir) if ckpt_dir else (None, {})
        out_dir = OmegaConf.select(cfg, "paths.output_dir")
        # The checkpoint records the run's settings: the command needs none of them (run_config.restore).
        where = (
            f"resume from {found.path.name} ({found.epochs_done} epochs done) with: "
            f"{train_command()} ckpt_path=last hydra.run.dir={out_dir}"
            if found
            else "no epoch had finished, so there is nothing to resume"
        )
        raise RunInterrupted(
            f"{signal.Signals(signum).name} during {doing} at step {trainer.global_step}: {where}", signum
        ) from None


def _has_test_set(datamodule: L.LightningDataModule) -> bool:
    # LightningDataModule defines a stub test_dataloader that raises; a real one is overridden.
    return type(datamodule).test_dataloader is not L.LightningDataModule.test_dataloader

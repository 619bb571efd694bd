"""Shared by the root entry points: turn a user error into one line instead of a traceback."""

from __future__ import annotations

import logging
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.types import RunMode
from omegaconf import DictConfig

from overfit.errors import OverfitError, RunInterrupted
from overfit.sweeps import ddp_ranks_run_this_job

log = logging.getLogger("overfit")


def run_task(task: Callable[[DictConfig], float | None], cfg: DictConfig, script: str) -> float | None:
    """Run `task(cfg)`; an OverfitError ends a single run with `error: <one line>` and exit code 2.

    In a multirun the error is re-raised instead, so the launcher or sweeper records the failed
    job (Optuna marks the trial failed) rather than the whole sweep exiting.
    `script` is the @hydra.main file (train.py): DDP ranks of a multirun job re-run it for that
    job alone (see overfit/sweeps.py).
    """
    try:
        with ddp_ranks_run_this_job(script):
            return call_task(task, cfg)
    except OverfitError as err:
        if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
            raise
        print(f"error: {err}", file=sys.stderr, flush=True)
        drop_empty_run_dir()
        sys.exit(2)
    except RunInterrupted as stop:  # a signal ends a sweep too: schedulers and `&&` must see the failure
        print(f"interrupted: {stop}", file=sys.stderr, flush=True)
        sys.exit(stop.exit_code)
    except KeyboardInterrupt:  # Ctrl-C before or after Lightning's own handling (data preparation, summaries)
        print(
            "interrupted: Ctrl-C before training started or after it ended; nothing to resume",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(128 + signal.SIGINT)


def call_task(task: Callable[[DictConfig], float | None], cfg: DictConfig) -> float | None:
    """`task(cfg)`, with an OverfitError raised in a constructor (Hydra wraps it) raised as itself.

    Shared by run_task (train.py, eval.py) and overfit.run (overfit/api.py)."""
    try:
        return task(cfg)
    except InstantiationException as wrapped:  # Hydra wraps errors raised in constructors
        if isinstance(wrapped.__cause__, OverfitError):
            raise wrapped.__cause__ from None
        raise


def drop_empty_run_dir() -> None:
    """A run refused before it did anything leaves no directory behind (only Hydra's .hydra/ and an empty log)."""
    if not HydraConfig.initialized():
        return
    out = Path(HydraConfig.get().runtime.output_dir)
    entries = list(out.iterdir()) if out.is_dir() else []
    logs = [p for p in entries if p.suffix == ".log"]
    if entries and all(p.name == ".hydra" or p in logs for p in entries) and all(p.stat().st_size == 0 for p in logs):
        shutil.rmtree(out, ignore_errors=True)


def accept_null_groups(argv: list[str], conf_dir: str | Path) -> list[str]:
    """`logger=null` (how users switch a config group off) -> Hydra's `~logger`, which is what Hydra accepts."""
    groups = {p.name for p in Path(conf_dir).iterdir() if p.is_dir()}
    out = []
    for arg in argv:
        key, sep, value = arg.partition("=")
        plain = key.lstrip("+~")
        out.append(f"~{plain}" if sep and plain in groups and value.lower() in ("null", "none") else arg)
    return out

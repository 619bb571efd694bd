"""Shared by the root entry points: turn a user error into one line instead of a traceback."""

from __future__ import annotations

import difflib
import logging
import os
import re
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from hydra.types import RunMode
from omegaconf import DictConfig

from overfit.errors import OverfitError, RunInterrupted
from overfit.rundir import remove_refused_sweep_dirs
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


def run_hydra_main(main: Callable[[], object], conf_dir: str | Path) -> None:
    """Call a @hydra.main function; a misspelt setting or group option ends in one line (exit 2), as every other
    config error does, instead of Hydra's multi-line report (exit 1).

    Hydra raises its errors only when HYDRA_FULL_ERROR is set (else it prints them and exits): we set it, unless
    the user did (then Hydra's own report stays). Other errors keep their full traceback."""
    if "HYDRA_FULL_ERROR" in os.environ:
        return main()
    os.environ["HYDRA_FULL_ERROR"] = "1"
    try:
        main()
    except (ConfigCompositionException, OverrideParseException) as err:
        print(f"error: {explain_config_error(err, Path(conf_dir))}", file=sys.stderr, flush=True)
        remove_refused_sweep_dirs()
        sys.exit(2)


def explain_config_error(err: Exception, conf_dir: Path) -> str:
    """Hydra's message for a bad override, as one line naming the override and the fix (a close match if any)."""
    if isinstance(err, MissingConfigException) and err.missing_cfg_file and "/" in err.missing_cfg_file:
        group, _, name = err.missing_cfg_file.rpartition("/")
        if not name:
            return f"{group}= needs a value: choose one of {', '.join(sorted(err.options or []))}"
        options = sorted(p.stem for p in (conf_dir / group).glob("*.yaml")) or list(err.options or [])
        close = difflib.get_close_matches(name, options, n=1)
        hint = f"did you mean {group}={close[0]}? " if close else ""
        return f"{group}={name}: there is no conf/{group}/{name}.yaml; {hint}choose one of {', '.join(options)}"
    key = re.search(r"Could not override '([^']+)'", str(err))
    if key:
        *parents, leaf = key.group(1).split(".")
        close = difflib.get_close_matches(leaf, known_keys(conf_dir, parents), n=1)
        hint = f"did you mean {'.'.join([*parents, close[0]])}? " if close else ""
        return f"{key.group(1)} is not a setting of this config: {hint}to add a new key, prefix it: +{key.group(1)}=..."
    return " ".join(str(err).split())  # anything else Hydra refuses: its own words, on one line


def known_keys(conf_dir: Path, parents: list[str]) -> list[str]:
    """The keys a config group's files (conf/<parent>/*.yaml) or the primary config define at that level."""
    files = list((conf_dir / parents[0]).glob("*.yaml")) if parents else list(conf_dir.glob("*.yaml"))
    keys = set() if parents else {d.name for d in conf_dir.iterdir() if d.is_dir()}  # the groups: model, data, ...
    for path in files:
        keys |= set(re.findall(r"^ {" + str(2 * max(len(parents) - 1, 0)) + r"}(\w+):", path.read_text(), re.M))
    return sorted(keys)

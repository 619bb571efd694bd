"""Run directories that are never shared: the `unique_dir` resolver used by conf/hydra/default.yaml.

    hydra.run.dir: ${unique_dir:${paths.log_dir}/runs/${now:%Y-%m-%d_%H-%M-%S}_${model.variant}}

Hydra names a run after the second it starts, so two runs launched in the same second (parallel shells, a
job array, a joblib sweep) got the same directory and wrote their checkpoints and event files into each other's.
`unique_dir` claims the name with an exclusive mkdir, atomic on local and network filesystems, and takes the
next free `-1`, `-2`, ... suffix when another process got there first. Hydra caches the resolved value and
copies the cache into every job of a multirun, so all jobs of a sweep share the one sweep dir it claimed.

A claimed directory that is still empty when the process exits is removed: OmegaConf resolves an interpolation
whenever a later config overrides it in a merge (hparams_search=optuna replaces hydra.sweep.dir), which claimed
a logs/multiruns/<time> that no run ever used. rmdir removes only an empty directory, so nothing written is lost.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
from pathlib import Path

from omegaconf import OmegaConf

_CLAIMED: dict[str, str] = {}  # requested name -> the directory this process claimed for it
_EVER_CLAIMED: list[str] = []  # every directory claimed by this process, for the exit's clean-up
_NOTHING_RUN: list[Path] = []  # claimed run dirs of runs that did nothing (discard_if_nothing_run)
_HYDRA_ONLY = {".hydra", "train.log"}  # what Hydra writes into a run dir before the task starts


def unique_dir(path: str) -> str:
    # Once per process and name: Hydra and the search code resolve copies of the config that lack the resolver
    # cache, and each fresh resolution must not claim (and leave behind) another empty directory.
    if path in _CLAIMED:
        return _CLAIMED[path]
    _CLAIMED[path] = _claim(path)
    return _CLAIMED[path]


def forget_claims() -> None:
    """A new run in this process (overfit.run) claims directories of its own: the previous run is over."""
    _CLAIMED.clear()


def _claim(path: str) -> str:
    base = Path(path)
    for n in range(10_000):
        candidate = base if n == 0 else base.with_name(f"{base.name}-{n}")
        try:
            candidate.mkdir(parents=True, exist_ok=False)
            _EVER_CLAIMED.append(str(candidate))
            return str(candidate)
        except FileExistsError:
            continue
        except OSError as err:
            # Raised inside Hydra's config resolution, an exception would become a multi-line report.
            print(
                f"error: cannot create the run directory {candidate} ({err.strerror}): "
                "set paths.log_dir=<a writable directory>",
                file=sys.stderr,
                flush=True,
            )
            sys.exit(2)
    raise RuntimeError(f"{base}: 10,000 runs with this name already")  # pragma: no cover


def discard_if_nothing_run(run_dir: str | Path) -> None:
    """The run in `run_dir` did nothing (a resume of a run that had already finished): at exit, remove the dir if
    this process claimed it and it still holds only what Hydra wrote before the run (.hydra/, train.log)."""
    if Path(run_dir).resolve() in {Path(c).resolve() for c in _EVER_CLAIMED}:  # claimed relative, given absolute
        _NOTHING_RUN.append(Path(run_dir))


@atexit.register
def remove_unused_claims() -> None:
    """Remove the directories this process claimed and never wrote into (empty ones only)."""
    for run_dir in _NOTHING_RUN:
        if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= _HYDRA_ONLY:
            shutil.rmtree(run_dir, ignore_errors=True)
    for claimed in reversed(_EVER_CLAIMED):
        try:
            os.rmdir(claimed)
        except OSError:  # not empty (used), or already gone
            pass


def remove_refused_sweep_dirs() -> None:
    """A sweep refused before its first job (a misspelt override) leaves only Hydra's multirun.yaml: remove it."""
    for claimed in _EVER_CLAIMED:
        entries = list(Path(claimed).iterdir()) if Path(claimed).is_dir() else []
        if [e.name for e in entries] == ["multirun.yaml"]:
            entries[0].unlink()  # the directory itself goes at exit (remove_unused_claims)


def run_name(default: str, ckpt_path: str | None) -> str:
    """`<variant>_s<seed>` of the run a checkpoint comes from (the `run_name` resolver of conf/hydra/default.yaml): a
    run resumed from a checkpoint alone is named after that run, not after this command's defaults (baseline_s0)."""
    if not ckpt_path or ckpt_path == "last":
        return default
    try:
        from overfit.checkpoints.resume import inspect, newest_intact  # torch: only when resuming from a file

        found = inspect(Path(ckpt_path))
        if isinstance(found, str):
            found, _ = newest_intact(Path(ckpt_path).parent)
        run = OmegaConf.create(found.run["config"])
        return f"{run.model.variant}_s{run.seed}"
    except Exception:  # noqa: BLE001  (only a name: train.py reports a bad checkpoint in one line later)
        return default


def register() -> None:
    if not OmegaConf.has_resolver("unique_dir"):
        OmegaConf.register_new_resolver("unique_dir", unique_dir, use_cache=True)
    if not OmegaConf.has_resolver("run_name"):
        OmegaConf.register_new_resolver("run_name", run_name, use_cache=True)

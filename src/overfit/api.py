"""The lab from Python (notebooks, scripts): one training exactly as `python train.py` runs it, and the tables of
`scripts/compare.py` as plain objects.

    import overfit
    run = overfit.run("model=dropout", "seed=1")      # = python train.py model=dropout seed=1
    run.dir                                            # logs/runs/<time>_dropout_s1 (absolute)
    run.metrics["test/acc"], run.result                # metrics.json's metrics; val/acc_best (optimized_metric)
    tables = overfit.compare_runs("logs/runs")         # {"runs": [...], "pooled": [...], "warnings": [...]}

How `run` mirrors `train.py` (@hydra.main -> overfit.cli.run_task -> overfit.train.train):
- config: Hydra's compose API on the repo's conf/ (found from the package: src/overfit -> ../../conf), primary
  config `train`, the same override syntax, `logger=null` included (cli.accept_null_groups), hydra.mode=RUN.
- job: hydra.core.utils.run_job, what @hydra.main runs a single job with: hydra.runtime.output_dir from
  hydra.run.dir (conf/hydra/default.yaml's `${unique_dir:...}` claim, so the same logs/runs/<time>_<variant>_s<seed>
  name), .hydra/{config,hydra,overrides}.yaml, Hydra's job logging (console + train.log) and callbacks, and
  HydraConfig set while the task runs (`${hydra:...}`, paths.output_dir). The task is train() itself, so the
  metrics.json, checkpoints and TensorBoard event files are the CLI's.
- errors: what train.py prints as `error: <one line>` (exit code 2) is raised here as that OverfitError, after
  dropping the run dir of a refused run (cli.call_task, cli.drop_empty_run_dir); Hydra's own errors (a mistyped
  key or group option, an unparsable override) become a one-line OverfitError too. Other exceptions propagate.
- per call: a fresh GlobalHydra (any other initialization is cleared), fresh run dir claims (rundir memoizes a
  claim per process: without the reset, two calls in the same second would get the same directory), the root
  logger's handlers and level restored afterwards (Hydra's job logging would keep writing into the last run's
  train.log), the working directory unchanged (hydra.job.chdir=false), torch's global settings restored (train).

Not supported here: sweeps (-m, experiment=regularization, hparams_search=...: one call per job instead, or
`python train.py -m ...`) and multi-process DDP, which starts its extra ranks by re-running the script.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from overfit.errors import OverfitError

__all__ = ["TrainedRun", "compare_runs", "config_dir", "run"]

CONFIG_NAME = "train"  # train.py's @hydra.main config_name; also Hydra's job name there (train.log)
_HYDRA_NOISE = ("full_key:", "object_type=", "reference_type=", "Set the environment variable HYDRA_FULL_ERROR")


@dataclass(frozen=True)
class TrainedRun:
    """What one `overfit.run(...)` left behind: its directory and what metrics.json says."""

    dir: Path  # the run directory (absolute): metrics.json, checkpoints/, events.out.tfevents.*, .hydra/, train.log
    metrics: dict  # metrics.json["metrics"]: train/*, val/*, test/*, time/train_s
    result: float  # what train() returned: cfg.optimized_metric (val/acc_best), what a sweeper optimizes
    record: dict = field(repr=False)  # the whole metrics.json (variant, seed, epochs_run, best_val_epoch, ...)
    config: DictConfig = field(repr=False)  # the run's config, resolved (.hydra/config.yaml holds it as composed)
    overrides: tuple[str, ...] = ()  # as passed to Hydra (.hydra/overrides.yaml)

    @property
    def variant(self) -> str:
        return self.record.get("variant", self.config.model.get("variant"))

    @property
    def seed(self) -> int:
        return self.record.get("seed", self.config.get("seed"))


def config_dir(path: str | Path | None = None) -> Path:
    """The Hydra config dir: `path`, else the checkout's conf/ (two levels above this package: src/overfit)."""
    conf = Path(path) if path is not None else Path(__file__).resolve().parents[2] / "conf"
    if not (conf / f"{CONFIG_NAME}.yaml").is_file():
        raise OverfitError(
            f"no {CONFIG_NAME}.yaml in {conf}: overfit.run() needs the repository's conf/ dir, found next to the "
            "package in a checkout (pip install -e .); elsewhere pass config_dir=<checkout>/conf"
        )
    return conf.resolve()


_find_config_dir = config_dir  # run()'s keyword argument has the same name


def run(*overrides: str, config_dir: str | Path | None = None) -> TrainedRun:
    """Train one model as `python train.py <overrides>` would; returns its directory and metrics.

    `overfit.run("model=big", "trainer.max_epochs=5", "seed=1")`. As with the CLI, logs/ and data/ are the
    project's (the directory holding conf/, unless OVERFIT_ROOT says otherwise) and paths in overrides are
    relative to the current directory. Raises OverfitError with the CLI's one-line message for anything
    the user can fix."""
    conf = _find_config_dir(config_dir)
    with _project_root(conf):
        return _run(conf, overrides)


@contextmanager
def _project_root(conf: Path):
    """OVERFIT_ROOT (paths.root_dir) = the directory holding conf/, as train.py sets it, for this call only."""
    from overfit.cli import ROOT_ENV, project_root

    if ROOT_ENV in os.environ:
        yield
        return
    os.environ[ROOT_ENV] = project_root(conf)
    try:
        yield
    finally:
        os.environ.pop(ROOT_ENV, None)


def _run(conf: Path, overrides: tuple[str, ...]) -> TrainedRun:
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    from overfit.cli import accept_null_groups
    from overfit.runs import dirs as rundir

    for flag in ("-m", "--multirun"):
        if flag in overrides:
            raise OverfitError(f"{flag}: overfit.run() runs one job; call it once per job or use python train.py -m")
    overrides = tuple(accept_null_groups([str(o) for o in overrides], conf))
    # rundir claims a directory once per process and name (the name has the second the run started); the previous
    # run of this process is over, so this one claims its own (`<name>-1` within the same second).
    rundir.forget_claims()
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(conf), job_name=CONFIG_NAME, version_base="1.3"):
        try:
            cfg = compose(config_name=CONFIG_NAME, overrides=list(overrides), return_hydra_config=True)
        except Exception as err:  # noqa: BLE001 (Hydra's and OmegaConf's composition errors, several lines each)
            if isinstance(err, OverfitError):
                raise
            raise OverfitError(_one_line(err)) from None
        _check_single_run(cfg)
        return _run_job(cfg, overrides)


def _one_line(err: BaseException) -> str:
    """Hydra's message on one line, without the key dumps, the search path and the HYDRA_FULL_ERROR hint."""
    text = str(err).split("Config search path:")[0]
    lines = [line.strip() for line in text.splitlines()]
    return " ".join(line for line in lines if line and not line.startswith(_HYDRA_NOISE)) or type(err).__name__


def _check_single_run(cfg: DictConfig) -> None:
    from hydra.types import RunMode
    from omegaconf import OmegaConf, open_dict, read_write

    if cfg.hydra.mode is None:  # what @hydra.main does without -m: it adds the override hydra.mode=RUN
        with read_write(cfg.hydra), open_dict(cfg.hydra):
            cfg.hydra.mode = RunMode.RUN
            cfg.hydra.overrides.hydra.append("hydra.mode=RUN")
    if cfg.hydra.mode != RunMode.RUN:
        chosen = {k: v for k, v in cfg.hydra.runtime.choices.items() if k in ("experiment", "hparams_search") and v}
        what = " ".join(f"{k}={v}" for k, v in chosen.items()) or "hydra.mode=MULTIRUN"
        raise OverfitError(
            f"{what} is a sweep: overfit.run() runs one job; use python train.py {what}, or call overfit.run() "
            "once per job with that job's overrides"
        )
    strategy = str(OmegaConf.select(cfg, "trainer.strategy", default="auto"))
    devices = OmegaConf.select(cfg, "trainer.devices", default=1)
    if (strategy == "ddp" or strategy.startswith("ddp_find_unused")) and devices not in (1, "1"):
        raise OverfitError(
            f"trainer.strategy={strategy} trainer.devices={devices}: DDP starts its extra ranks by re-running the "
            "script, which a notebook or another script cannot stand in for; use python train.py trainer=ddp ..."
        )


def _run_job(cfg: DictConfig, overrides: tuple[str, ...]) -> TrainedRun:
    import json

    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.utils import JobStatus, run_job
    from hydra.types import HydraContext
    from omegaconf import OmegaConf

    from overfit.cli import call_task, drop_empty_run_dir
    from overfit.compat.hydra import job_callbacks
    from overfit.train import train

    try:  # the unique_dir claim, now (run_job reads the cached value): its one failure is a sys.exit(2)
        OmegaConf.select(cfg, "hydra.run.dir")
    except SystemExit:
        raise OverfitError(
            f"cannot create a run directory under {OmegaConf.select(cfg, 'paths.log_dir')}: "
            "set paths.log_dir=<a writable directory>"
        ) from None
    seen: dict = {}

    def task(task_cfg: DictConfig) -> float | None:
        try:
            value = call_task(train, task_cfg)
            seen["dir"] = Path(OmegaConf.select(task_cfg, "paths.output_dir")).absolute()
            seen["config"] = OmegaConf.create(OmegaConf.to_container(task_cfg, resolve=True))
            return value
        except Exception as err:  # run_job keeps it in the JobReturn, whose return_value prints Hydra's notice too
            seen["error"] = err
            if isinstance(err, OverfitError):
                drop_empty_run_dir()  # needs HydraConfig, which run_job unsets when the task returns
            raise

    callbacks = job_callbacks(cfg)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        callbacks.on_run_start(config=cfg, config_name=CONFIG_NAME)
        ret = run_job(
            hydra_context=HydraContext(config_loader=GlobalHydra.instance().config_loader(), callbacks=callbacks),
            task_function=task,
            config=cfg,
            job_dir_key="hydra.run.dir",
            job_subdir_key=None,
            configure_logging=True,
        )
        callbacks.on_run_end(config=cfg, config_name=CONFIG_NAME, job_return=ret)
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:], root.level = handlers, level
    if ret.status == JobStatus.FAILED:
        raise seen["error"]  # the task's own exception
    metrics_file = seen["dir"] / "metrics.json"
    record = json.loads(metrics_file.read_text()) if metrics_file.is_file() else {}
    value = ret.return_value
    return TrainedRun(
        dir=seen["dir"],
        metrics=record.get("metrics", {}),
        result=math.nan if value is None else float(value),
        record=record,
        config=seen["config"],
        overrides=overrides,
    )


def compare_runs(root: str | Path, reference: str = "baseline") -> dict:
    """The tables of `python scripts/compare.py <root>` as plain Python, without writing anything.

    {"runs": one dict per run (overfit.compare.COLUMNS, the rows of comparison.csv), "pooled": one dict per
    (variant, swept values), seeds pooled (overfit.compare.pool_runs, the rows of pooled.csv; lists stay lists,
    NaN stays NaN), "warnings": what could not be read, one line each (warnings.txt)}. `root`: a run dir, a sweep
    dir or a logs dir; nothing usable under it is an OverfitError, as with the script."""
    from overfit.compare import comparison_tables, load_runs

    tables = comparison_tables(load_runs(root), reference, where=str(root))
    return {key: tables[key] for key in ("runs", "pooled", "warnings")}

"""The Hydra callback that writes a sweep's TensorBoard HPARAMS definition once, at the sweep's start.

conf/logger/tensorboard.yaml registers `SweepHParams` under hydra.callbacks. Without the definition TensorBoard
derives one from the runs' sessions; with it the HPARAMS tab names what the sweep varies and shows the metric
columns in overfit.runs.tensorboard's order (test acc, test loss first). What a definition holds: tensorboard.py.
"""

from __future__ import annotations

import ast
import itertools
import logging
import time
from collections import defaultdict
from pathlib import Path

from hydra.errors import ConfigCompositionException
from hydra.experimental.callback import Callback
from omegaconf import DictConfig, OmegaConf, open_dict
from tensorboard.compat.proto.summary_pb2 import Summary

from overfit.runs.tensorboard import experiment_summary, flat_hparams, short_key

log = logging.getLogger("overfit")
SWEEP_DEFINITION = ".hparams"  # the end of its event file's name (cli.drop_empty_run_dir tells it from a run's files)


class SweepHParams(Callback):
    """Hydra callback (conf/logger/tensorboard.yaml): a sweep's HPARAMS definition, written once, at its start.

    The jobs' configs are composed the way the sweeper will (grid sweeps: every combination; a continuous range,
    as Optuna's, is its interval), which tells which hyperparameters differ and their values. Never stops a sweep:
    on any problem TensorBoard derives the definition from the runs."""

    def on_multirun_start(self, config: DictConfig, **kwargs) -> None:
        t0 = time.perf_counter()
        try:
            found = sweep_experiment(config)
            if found is not None:
                from torch.utils.tensorboard.writer import FileWriter

                summary, where = found
                writer = FileWriter(str(where), filename_suffix=SWEEP_DEFINITION)
                writer.add_summary(summary)
                writer.close()
                log.info("TensorBoard HPARAMS definition of this sweep: %s (%.1f s)", where, time.perf_counter() - t0)
        except ConfigCompositionException:  # a misspelt override: the sweeper refuses the same job next, in one line
            pass
        except Exception as err:  # noqa: BLE001
            log.warning(
                "no HPARAMS definition for this sweep (%s: %s): TensorBoard derives one from the runs",
                type(err).__name__,
                " ".join(str(err).split()),
            )


def _as_logged(value):
    """A list given as a string (Optuna's choice("[16,16]")) as a run logs the list itself: "[16, 16]"."""
    if isinstance(value, str) and value.startswith("["):
        try:
            return str(ast.literal_eval(value))
        except (ValueError, SyntaxError):
            pass
    return value


def _first_run_dir(loader, config: DictConfig, job: list[str]) -> Path:
    """Where the definition goes: the first job's run dir (in the sweep dir itself it would be a TensorBoard run of
    its own, "."), or the sweep dir when that name is not known before the job runs (Optuna's trial number)."""
    sweep_dir = Path(config.hydra.sweep.dir)
    try:
        cfg = loader.load_sweep_config(config, list(job))
        with open_dict(cfg):
            cfg.hydra.job.num, cfg.hydra.job.id = 0, "0"
        subdir = str(cfg.hydra.sweep.subdir)
        return sweep_dir / subdir if subdir and "None" not in subdir else sweep_dir
    except Exception:  # noqa: BLE001
        return sweep_dir


def grid_jobs(overrides: list) -> list[list[str]]:
    """The jobs of a grid sweep, as Hydra's basic sweeper lists them: every combination of the discrete sweeps'
    values, in order, the last override of a key replacing an earlier one in its place. (The basic sweeper's own
    split_arguments is private; Override's sweep_string_iterator and get_value_element_as_str are public.)"""
    choices: dict[str, list[str]] = {}
    for o in overrides:
        key = o.get_key_element()
        values = o.sweep_string_iterator() if o.is_sweep_override() else [o.get_value_element_as_str()]
        choices[key] = [f"{key}={value}" for value in values]
    return [list(job) for job in itertools.product(*choices.values())]


def sweep_experiment(config: DictConfig) -> tuple[Summary, Path] | None:
    """The HPARAMS experiment of the sweep `config` (the multirun's config) describes, and where to write it;
    None for other models than BagOfWordsMLP."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.override_parser.overrides_parser import OverridesParser

    loader = GlobalHydra.instance().config_loader()
    params = config.hydra.sweeper.get("params")
    params = OmegaConf.to_container(params, resolve=True) if params else {}
    parsed = OverridesParser.create(config_loader=loader).parse_overrides(
        [f"{k}={v}" for k, v in params.items()] + list(config.hydra.overrides.task)
    )
    intervals = {
        short_key(o.get_key_element()): (float(o.value().start), float(o.value().end))
        for o in parsed
        if o.is_sweep_override() and not o.is_discrete_sweep()
    }
    grid = [o for o in parsed if not o.is_sweep_override() or o.is_discrete_sweep()]
    values, composed = defaultdict(list), {}
    jobs = grid_jobs(grid)
    for job in jobs:
        rest = tuple(o for o in job if not o.startswith("seed="))  # the seed changes no other hyperparameter
        if rest not in composed:
            cfg = loader.load_sweep_config(config, list(rest))
            if not str(OmegaConf.select(cfg, "model._target_")).endswith("BagOfWordsMLP"):
                return None
            composed[rest] = flat_hparams(cfg)
        run = dict(composed[rest])
        seed = next((o.split("=", 1)[1] for o in job if o.startswith("seed=")), None)
        if seed is not None:
            run["seed"] = int(seed) if seed.lstrip("-").isdigit() else seed
        for key, value in run.items():
            if key not in intervals:
                values[key].append(_as_logged(value))
    return experiment_summary(values, intervals), _first_run_dir(loader, config, jobs[0])

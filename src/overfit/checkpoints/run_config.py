"""A run's own configuration: recorded in every checkpoint, restored when the run resumes.

    python train.py model=big seed=3                                    # killed in epoch 3
    python train.py ckpt_path=last hydra.run.dir=logs/runs/<its dir>    # resumes model=big seed=3, in its dir
    python train.py ckpt_path=logs/runs/<its dir>/checkpoints/last.ckpt # the same, into a new dir <time>_big_s3
    python train.py ckpt_path=last hydra.run.dir=... trainer.max_epochs=40   # extends it (recorded as such)

Guarantee: a resumed run computes what the run that was started would have computed. Its settings come from the
checkpoint (`Recorder` writes the composed config, the command-line overrides and the config-group choices into
each one, as Lightning callback state: a few kB). Without it, a resume that did not repeat `seed=3` trained on
with seed 0 and recorded seed 0, while Hydra overwrote the run's `.hydra/overrides.yaml` with the new command.

On resume (`restore`), each setting falls into one of three kinds:
- ENVIRONMENT (where and how the process runs: paths, the archive's location, threads, the progress bar): always
  this command's values; they do not change what is computed.
- MAY_CHANGE (extend the run, move it to other hardware, log elsewhere): the run's own values unless the command
  line sets them; then the new value is used and written into the run's `.hydra/overrides.yaml`.
- everything else: the run's own values. A command line that sets one to another value is refused in one line
  naming both, never applied.
`.hydra/config.yaml` and `.hydra/overrides.yaml` are rewritten with what the resumed run uses, so the run's record
never loses what it was started with. Checkpoints written before this record existed resume as before, with the
command line's settings (train.py still refuses another model for them).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from lightning.pytorch.callbacks import Callback
from omegaconf import DictConfig, OmegaConf, open_dict

from overfit import atomic
from overfit.errors import OverfitError

log = logging.getLogger("overfit")

STATE_KEY = "RunConfig"  # the key of the record in a checkpoint's "callbacks" dict

# What a resume may set on its command line: where and how the process runs (paths, the archive's location,
# threads, the progress bar: none changes what is computed), and how long the run goes on, on which hardware, with
# which loggers. Anything else comes from the checkpoint, and a command line that sets it otherwise is refused.
MAY_CHANGE = (
    "paths",
    "ckpt_path",
    "cpu_threads",
    "seeds",
    "data.archive",
    "data.data_dir",
    "data.url",
    "data.num_workers",
    "data.device_batches",  # bit for bit the host path's batches (tests/test_gpu_path.py)
    "trainer.default_root_dir",
    "trainer.enable_progress_bar",
    "trainer.enable_model_summary",
    "trainer.profiler",
    "trainer.max_epochs",
    "trainer.max_steps",
    "trainer.accelerator",
    "trainer.devices",
    "trainer.num_nodes",
    "trainer.strategy",
    "trainer.log_every_n_steps",
    "logger",
    "test",
    "temperature_scaling",  # measured after training: changes no weight
    "optimized_metric",
)


def _key(override: str) -> str:
    """The setting an override names: `+trainer.profiler=simple` -> trainer.profiler, `model=big` -> model."""
    return override.split("=", 1)[0].lstrip("+~")


def _under(key: str, prefixes: tuple[str, ...] | list[str] | set[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


def record_of(cfg: DictConfig) -> dict:
    """A fresh run's record: its config as composed (interpolations kept, as in .hydra/config.yaml), the
    command-line overrides and the config-group choices."""
    overrides, choices = _hydra_overrides_and_choices()
    return {"config": OmegaConf.to_yaml(cfg), "overrides": overrides or [], "choices": choices}


class Recorder(Callback):
    """Writes the run's record (`record_of`, or what `restore` returned) into every checkpoint it saves."""

    def __init__(self, record: dict):
        self.record = record

    @property
    def state_key(self) -> str:
        return STATE_KEY

    def state_dict(self) -> dict[str, Any]:
        return self.record

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        pass  # the resumed run's record was settled by `restore` before the Trainer was built


def recorded(checkpoint: dict) -> dict | None:
    """The record `Recorder` left in a checkpoint (torch.load'ed), or None for older checkpoints."""
    found = checkpoint.get("callbacks", {}).get(STATE_KEY) if isinstance(checkpoint, dict) else None
    return found if isinstance(found, dict) and isinstance(found.get("config"), str) else None


def restore(cfg: DictConfig, record: dict | None, ckpt_path: str | Path) -> dict | None:
    """Turn `cfg` (this command's config) into the resumed run's own, in place; rewrite its .hydra/ record.

    Returns the record the resumed run writes into its checkpoints (None: an older checkpoint, nothing done)."""
    if record is None:
        log.info(
            f"{Path(ckpt_path).name} records no configuration (written by an older version): resuming with "
            "this command's settings"
        )
        return None
    run_cfg = OmegaConf.create(record["config"])
    run = OmegaConf.to_container(run_cfg, resolve=False)
    with open_dict(run_cfg):  # interpolations into paths resolve where this process runs
        run_cfg.paths = cfg.paths
    current = OmegaConf.to_container(cfg, resolve=False)
    overrides, choices = _hydra_overrides_and_choices()
    given = [_key(o) for o in overrides] if overrides is not None else None
    restored, changed, conflicts = [], [], []
    for key in sorted(set(_leaf_keys(current)) | set(_leaf_keys(run))):
        was, now = _resolved(run_cfg, key), _resolved(cfg, key)
        if was == now:
            continue
        if given is not None and not _under(key, given):  # not on the command line: the run's own value stands
            if was != _ABSENT:
                restored.append(key)
        elif _under(key, MAY_CHANGE):
            changed.append(key)
        else:
            conflicts.append((key, was, now))
    if conflicts:
        _rewrite_hydra_record(record)  # Hydra already wrote the refused command into .hydra/
        raise OverfitError(
            _conflict_line(
                conflicts, record, choices if given is None else {g: choices.get(g) for g in given}, ckpt_path
            )
        )
    with open_dict(cfg):
        for key in restored:
            OmegaConf.update(cfg, key, _get(run, key), merge=False, force_add=True)
    kept = [o for o in record["overrides"] if not _under(_key(o), changed)]
    kept += [o for o in overrides or [] if _under(_key(o), changed)]
    new_record = {"config": OmegaConf.to_yaml(cfg), "overrides": kept, "choices": record.get("choices", {})}
    _rewrite_hydra_record(new_record)
    if changed:
        log.info("resumed with " + ", ".join(f"{k}={_resolved(cfg, k)}" for k in changed))
    return new_record


def _hydra_overrides_and_choices() -> tuple[list[str] | None, dict]:
    """This command's task overrides and group choices; (None, {}) outside Hydra (a config composed in Python,
    where every setting counts as given)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return None, {}
    hydra = HydraConfig.get()
    choices = {k: v for k, v in OmegaConf.to_container(hydra.runtime.choices).items() if not k.startswith("hydra/")}
    return list(hydra.overrides.task), choices


def _leaf_keys(node: Any, prefix: str = "") -> list[str]:
    """Dotted keys of the leaves of a plain container; a list is one leaf."""
    if isinstance(node, dict):
        if not node and prefix:
            return [prefix[:-1]]
        return [k for key, v in node.items() for k in _leaf_keys(v, f"{prefix}{key}.")]
    return [prefix[:-1]]


def _get(container: dict, key: str) -> Any:
    for part in key.split("."):
        container = container[part]
    return container


_ABSENT = "<absent>"


def _resolved(cfg: DictConfig, key: str) -> Any:
    value = OmegaConf.select(cfg, key, default=_ABSENT, throw_on_resolution_failure=False)
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def _conflict_line(conflicts: list, record: dict, choices: dict, ckpt_path: str | Path) -> str:
    """The first conflict, named by its config group when the command line chose another option of it."""
    key, was, now = conflicts[0]
    group = key.split(".")[0]
    run_choice = record.get("choices", {}).get(group)
    if run_choice is not None and choices.get(group) not in (None, run_choice):
        what = f"{group}={choices[group]}: the run was started with {group}={run_choice}"
    else:
        what = f"{key}={now}: the run was started with {key}={was}"
    more = f" (and {len(conflicts) - 1} more setting(s))" if len(conflicts) > 1 else ""
    return (
        f"{what}{more} ({ckpt_path}); a resume continues the run as it was started: drop that override (its "
        "settings come from the checkpoint), or start a new run without ckpt_path"
    )


def _rewrite_hydra_record(record: dict) -> None:
    """Hydra wrote this command's config and overrides into .hydra/ before the task started; put the run's back."""
    import os

    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized() or int(os.environ.get("LOCAL_RANK", 0) or 0) > 0:
        return
    hydra = HydraConfig.get()
    if not hydra.output_subdir:
        return
    out = Path(hydra.runtime.output_dir) / hydra.output_subdir
    if out.is_dir():
        atomic.write_text(out / "config.yaml", record["config"])
        atomic.write_text(out / "overrides.yaml", OmegaConf.to_yaml(OmegaConf.create(record["overrides"])))

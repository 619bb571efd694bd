"""Config checks that run before any data work: each bad setting is one line naming it and the fix.

check_setting_types(cfg)   # overfit.cli.call_task calls this before the task: a value of the wrong type
check_config(cfg)          # train() calls this first; model-specific checks live with the model (check_config)
"""

from __future__ import annotations

import collections.abc
import os
import tempfile
import types
import typing
from pathlib import Path

import torch
from hydra.utils import get_class, get_object
from omegaconf import DictConfig, OmegaConf

from overfit.data.batches import check_global_batch
from overfit.errors import OverfitError


def check_config(cfg: DictConfig) -> None:
    """One-line errors for settings that would otherwise fail deep inside (or silently)."""

    def positive(key: str, value, minimum=1, example="") -> None:
        if value is not None and not value >= minimum:
            raise OverfitError(f"{key}={value}: must be >= {minimum}{example}")

    seed = cfg.get("seed")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        # Lightning would warn and pick a random seed instead: a run that is not the one asked for
        raise OverfitError(f"seed={seed}: must be an integer in [0, 2**32), e.g. seed=0")
    weight_decay = OmegaConf.select(cfg, "model.optimizer.weight_decay")
    if weight_decay is not None and not (isinstance(weight_decay, (int, float)) and 0 <= weight_decay < 1):
        raise OverfitError(f"model.optimizer.weight_decay={weight_decay}: must be in [0, 1), e.g. 1e-3 (0: none)")
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
    check_devices(cfg.trainer)
    check_ddp_batch(cfg)
    for key in ("paths.output_dir", "callbacks.model_checkpoint.dirpath"):
        check_writable(key, OmegaConf.select(cfg, key))
    check_model_fits_data(cfg)
    # Model-specific checks (hidden sizes, dropout, ...) live with the model.
    model_cls = get_class(cfg.model._target_)
    if hasattr(model_cls, "check_config"):
        model_cls.check_config(cfg.model)


# Which datamodule each model trains on, and how to ask for it.
MODEL_DATA = {
    "BagOfWordsMLP": ("IMDBDataModule", "data=imdb (the default)"),
    "LowRankFactorization": ("MatrixDataModule", "experiment=factorization, or data=iris"),
}


def check_model_fits_data(cfg: DictConfig) -> None:
    """model=factorization on the IMDB reviews (or an MLP on a matrix) would fail deep in the model's constructor."""
    model = str(OmegaConf.select(cfg, "model._target_", default="")).rsplit(".", 1)[-1]
    data = str(OmegaConf.select(cfg, "data._target_", default="")).rsplit(".", 1)[-1]
    if model in MODEL_DATA and data and data != MODEL_DATA[model][0]:
        variant = OmegaConf.select(cfg, "model.variant", default=model)
        raise OverfitError(
            f"model={variant} needs {MODEL_DATA[model][0]} data, not this config's {data}: use {MODEL_DATA[model][1]}"
        )


def check_ddp_batch(cfg: DictConfig) -> None:
    """data.batch_size is DDP's global batch: it must split over the ranks (checked again, per rank, by the data)."""
    devices, nodes = cfg.trainer.get("devices"), cfg.trainer.get("num_nodes", 1)
    batch = OmegaConf.select(cfg, "data.batch_size")
    if "ddp" not in str(cfg.trainer.get("strategy", "")) or not isinstance(batch, int) or isinstance(devices, bool):
        return
    ranks = devices * (nodes if isinstance(nodes, int) else 1) if isinstance(devices, int) else 0
    if ranks > 1:
        check_global_batch(batch, ranks)


def check_devices(trainer: DictConfig) -> None:
    """A device that is asked for and missing, or too few of them: one line before the data work.

    (Lightning would fail only when the Trainer is built, after the data, in a multi-line Hydra report.)
    """
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    devices = trainer.get("devices", "auto")
    gpus = torch.cuda.device_count()
    if accelerator in ("gpu", "cuda") and gpus == 0:
        raise OverfitError(
            f"trainer.accelerator={accelerator}: this machine has no CUDA GPU (torch "
            f"{torch.__version__}, built for CUDA {torch.version.cuda or 'none: a CPU-only build'}); "
            "drop trainer=gpu (accelerator auto uses a GPU where there is one) or use trainer=cpu"
        )
    on_gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus > 0)
    if on_gpu or accelerator in ("cpu", "auto"):
        have, kind = (gpus, "GPU(s)") if on_gpu else (os.cpu_count() or 1, "CPU cores")
        if isinstance(devices, int) and not isinstance(devices, bool) and devices > 0:
            asked = devices
        elif isinstance(devices, str) and devices not in ("auto", "-1"):
            asked = len([d for d in devices.split(",") if d.strip()])
        elif OmegaConf.is_list(devices) or isinstance(devices, (list, tuple)):
            asked = len(devices)
        else:
            asked = 0  # auto / -1: whatever there is
        if asked > have:
            raise OverfitError(
                f"trainer.devices={devices}: asks for {asked} devices, this machine has {have} {kind}; "
                f"use trainer.devices={have} or fewer"
            )


def check_writable(key: str, directory: str | None) -> None:
    """One line now if `directory` cannot hold files, rather than a traceback at the first checkpoint.

    Nothing is created: the nearest existing ancestor must be a directory we can write a file into.
    """
    if not directory or "://" in str(directory):
        return
    path = Path(directory).absolute()
    existing = next(p for p in (path, *path.parents) if p.exists())
    try:
        if not existing.is_dir():
            raise NotADirectoryError(20, f"{existing} is a file")
        with tempfile.NamedTemporaryFile(dir=existing, prefix=".overfit-write-test-"):
            pass
    except OSError as err:
        raise OverfitError(
            f"{key}={directory}: not a writable directory ({err.strerror}); "
            "point it (or paths.log_dir) somewhere writable"
        ) from None


# What a setting's default admits (by its kind); a str or null default admits anything (a name or a path may be
# spelt like a number: paths.log_dir=2024), so does a null given for a setting that declares no type.
ADMITS = {"int": {"int"}, "float": {"int", "float"}, "bool": {"bool"}, "list": {"list"}, "dict": {"dict"}}
EXPECTED = {"int": "an integer", "float": "a number", "bool": "true or false", "list": "a list", "dict": "a mapping"}
_defaults: dict[tuple, DictConfig] = {}  # (config name, group choices) -> the composed defaults, per process


def kind(value) -> str:
    """null, bool, int, float, str, list, dict or other: a value as a setting's type sees it (bool before int)."""
    for name, types_ in (("bool", bool), ("int", int), ("float", float), ("str", str)):
        if isinstance(value, types_):
            return name
    if value is None:
        return "null"
    if OmegaConf.is_list(value) or isinstance(value, (list, tuple)):
        return "list"
    return "dict" if OmegaConf.is_dict(value) or isinstance(value, dict) else "other"


def check_setting_types(cfg: DictConfig) -> None:
    """`trainer.max_epochs=abc` and the like: one line naming the setting, the value and the type its default has,
    instead of a TypeError deep inside (or a silent wrong run). Checks each override of this job (the command line's,
    a sweep's) against the config composed with the same group choices and no values; a type that the setting's
    `_target_` declares for it is admitted too (trainer.devices=auto, data.sha256=<one checksum>)."""
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():  # train(cfg) called directly: no command line
        return
    hc = HydraConfig.get()
    groups, values = [], {}
    for override in hc.overrides.task:
        key, sep, text = override.partition("=")
        plain = key.lstrip("+~")
        if plain in hc.runtime.choices:
            groups.append(override)
        elif sep and not key.startswith("~") and (key.startswith("++") or not key.startswith("+")):
            values[plain] = text  # the last one given wins, as in Hydra; +key=...: a new key, no default to compare
    if not values or not GlobalHydra.instance().is_initialized():  # nothing to check, or no conf/ to compose
        return
    sources = tuple(source.path for source in hc.runtime.config_sources)
    groups = [g for g in groups if not g.lstrip("+~").startswith("hydra")]  # Hydra's own: no task setting in them
    defaults = _composed_defaults(hc.job.config_name, groups, sources)
    for key, text in values.items():
        parent, _, leaf = key.rpartition(".")
        node = OmegaConf.select(defaults, parent) if parent else defaults
        if not OmegaConf.is_dict(node) or leaf not in node or OmegaConf.is_interpolation(node, leaf):
            continue  # new (+key), or the default's type is what it resolves to (paths)
        default, given = node[leaf], OmegaConf.select(cfg, key, throw_on_resolution_failure=False)
        if kind(default) not in ADMITS or kind(given) in ADMITS[kind(default)]:
            continue
        declared = _declared_kinds(node, leaf)
        if kind(given) in declared or "any" in declared or (kind(given) == "null" and declared == {"unknown"}):
            continue
        shown = OmegaConf.to_container(default) if OmegaConf.is_config(default) else default
        shown = str(shown).lower() if isinstance(shown, bool) else shown
        raise OverfitError(f"{key}={text}: expected {EXPECTED[kind(default)]} (the default is {shown})")


def _composed_defaults(config_name: str, groups: list[str], sources: tuple) -> DictConfig:
    """The config of these group choices with no value overridden: one Hydra compose (what it costs: docs/faults.md),
    once per process for the jobs of a sweep that share them (`sources`: the config dirs it was composed from)."""
    from hydra import compose

    key = (config_name, tuple(groups), sources)
    if key not in _defaults:
        _defaults[key] = compose(config_name, overrides=groups)
    return _defaults[key]


def _declared_kinds(node: DictConfig, leaf: str) -> set[str]:
    """What the constructor or function named by the node's `_target_` declares for `leaf` ({"unknown"}: nothing)."""
    target = node.get("_target_")
    if not isinstance(target, str):
        return {"unknown"}
    try:
        found = get_object(target)
        hints = typing.get_type_hints(found.__init__ if isinstance(found, type) else found)
    except Exception:  # noqa: BLE001  (no target, or annotations that do not evaluate: only the default counts)
        return {"unknown"}
    return _annotation_kinds(hints[leaf]) if leaf in hints else {"unknown"}


def _annotation_kinds(hint) -> set[str]:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is typing.Any:
        return {"any"}
    if origin in (typing.Union, types.UnionType):
        return set().union(*map(_annotation_kinds, args))
    if origin is typing.Literal:
        return {kind(a) for a in args}
    simple = {type(None): "null", bool: "bool", int: "int", float: "float", str: "str"}
    if hint in simple:
        return {"int", "float"} if hint is float else {simple[hint]}
    base = origin or hint
    if isinstance(base, type) and issubclass(base, collections.abc.Mapping):
        return {"dict"}
    if isinstance(base, type) and issubclass(base, (collections.abc.Sequence, collections.abc.Set)):
        return {"list"}
    return set()  # a type no value on a command line can be (a tensor, a callable)

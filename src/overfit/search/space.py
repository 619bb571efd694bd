"""Search settings -> Optuna objects: the search space, the sampler, the pruner and the storage.

Every bad setting becomes a SearchError, which the worker reports as one `error:` line before any trial runs.

    model.optimizer.lr: tag(log, interval(1e-4, 1e-2))   FloatDistribution(1e-4, 1e-2, log=True)
    model.dropout: interval(0.0, 0.6)                    FloatDistribution(0.0, 0.6)
    data.batch_size: tag(log, int, interval(64, 1024))   IntDistribution(64, 1024, log=True)
    trainer.max_epochs: range(5, 25, 5)                  IntDistribution(5, 20, step=5)
    model.hidden: choice("[16,16]", "[64,64]")           CategoricalDistribution; "[64,64]" -> model.hidden=[64,64]
    model.dropout: 0.3                                   fixed: passed to every trial as it is
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from overfit.errors import OverfitError

PRUNERS = {
    "median": "MedianPruner",
    "successive_halving": "SuccessiveHalvingPruner",
    "hyperband": "HyperbandPruner",
    "none": "NopPruner",
}


class SearchError(OverfitError):
    """A bad search setting: reported as one `error:` line before any trial runs."""


def first_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300] or type(err).__name__


def plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def build(spec: Any, where: str, default_module: str) -> Any:
    """An object from `{_target_: dotted.Class, **kwargs}`, or a one-line SearchError naming `where`."""
    from hydra.utils import get_class

    spec = dict(plain(spec) or {})
    target = spec.pop("_target_", None)
    try:
        cls = get_class(target if "." in str(target) else f"{default_module}.{target}")
        return cls(**spec)
    except Exception as err:  # unknown class, bad arguments
        raise SearchError(f"{where}: {first_line(err)}") from None


def make_pruner(settings: Any) -> Any:
    choice = settings.get("pruner")
    if choice is None or OmegaConf.is_config(choice) or isinstance(choice, dict):
        return build(choice or {"_target_": "NopPruner"}, "hydra.sweeper.pruner", "optuna.pruners")
    if choice not in PRUNERS:
        raise SearchError(
            f"hydra.sweeper.pruner={choice}: choose one of {', '.join(PRUNERS)}"
            " (or a {_target_: optuna.pruners.<Class>, ...} config)"
        )
    args = dict(plain((settings.get("pruners") or {}).get(choice)) or {})
    return build({"_target_": PRUNERS[choice], **args}, f"hydra.sweeper.pruners.{choice}", "optuna.pruners")


def parse_space(lines: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Hydra override lines -> ({key: Optuna distribution} for the sweeps, {key: line} for the fixed values)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parser = OverridesParser.create()
    space: dict[str, Any] = {}
    fixed: dict[str, str] = {}
    for line in lines:
        try:
            override = parser.parse_override(line)
        except Exception as err:
            raise SearchError(f"search space {line}: {first_line(err)}") from None
        key = override.get_key_element()
        space.pop(key, None), fixed.pop(key, None)
        if override.is_sweep_override():
            space[key] = distribution(override, line)
        else:
            fixed[key] = line
    return space, fixed


def distribution(override: Any, line: str) -> Any:
    from hydra.core.override_parser.types import Glob, Transformer
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    sweep = override.value()
    if override.is_choice_sweep() and not isinstance(sweep, Glob):
        choices = list(override.sweep_iterator(transformer=Transformer.encode))  # [16,16] -> "[16,16]"
        if not choices:
            raise SearchError(f"search space {line}: choice() needs at least one value")
        return CategoricalDistribution(choices)
    if override.is_range_sweep():
        values = list(override.sweep_iterator())
        if not values:
            raise SearchError(f"search space {line}: the range is empty (its stop is exclusive)")
        if all(isinstance(v, int) for v in values) and not sweep.shuffle:
            return IntDistribution(min(values), max(values), step=abs(int(sweep.step)))
        return CategoricalDistribution(values)
    if override.is_interval_sweep():
        tags, low, high = set(sweep.tags), sweep.start, sweep.end
        if tags - {"log", "int"}:
            raise SearchError(f"search space {line}: unknown tag {sorted(tags - {'log', 'int'})}; use log and/or int")
        if not low < high:
            raise SearchError(f"search space {line}: the lower end must be below the upper end")
        if "log" in tags and low <= 0:
            raise SearchError(f"search space {line}: a log interval must start above 0")
        if "int" in tags:
            if low != int(low) or high != int(high):
                raise SearchError(f"search space {line}: an int interval needs integer ends")
            return IntDistribution(int(low), int(high), log="log" in tags)
        return FloatDistribution(low, high, log="log" in tags)
    raise SearchError(f"search space {line}: Optuna samples only interval(), range() and choice()")


def storage_url(where: str) -> str:
    """Absolute, so jobs that start elsewhere (submitit, DDP ranks) find the same study."""
    if where.startswith("sqlite:///"):
        path = Path(where[len("sqlite:///") :]).absolute()
        path.parent.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{path}"
    if "://" in where:
        return where
    path = Path(where).expanduser().absolute()
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


def open_storage(where: str) -> Any:
    """A journal file (a path) or an RDB (a URL with ://), as Optuna storage."""
    import optuna

    try:
        if "://" in where:
            engine = {"connect_args": {"timeout": 60}} if where.startswith("sqlite") else {}
            return optuna.storages.RDBStorage(where, engine_kwargs=engine)
        from optuna.storages.journal import JournalFileBackend

        return optuna.storages.JournalStorage(JournalFileBackend(where))
    except Exception as err:
        raise SearchError(f"hydra.sweeper.storage={where}: cannot open it ({first_line(err)})") from None


def trial_id(storage: Any, study_name: str, number: int) -> int:
    """The storage's id of a study's trial `number`: what a storage's trial methods and `optuna.trial.Trial` take
    (public through the storage only; a FrozenTrial's id is private)."""
    return storage.get_trial_id_from_study_id_trial_number(storage.get_study_id_from_name(study_name), number)


def as_overrides(params: dict) -> list[str]:
    """Sampled parameters as Hydra overrides; floats by repr, so the value a run gets is the value Optuna drew."""
    return [f"{k}={v!r}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()]


def quote(value: str) -> str:
    """A Hydra override value: as is when plain, else single-quoted."""
    if re.fullmatch(r"[\w./:@%+-]+", value):
        return value
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
